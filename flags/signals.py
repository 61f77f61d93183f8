"""Every change that can alter an evaluation bumps the ``"flags"`` coherence name after
commit (:mod:`cbpconfig.cache`): a flag saved or deleted, its institutions changed (from either
side), an institution created or deleted (the compiled set holds every institution code).
waffle's own per-flag cache keys are flushed after commit as well. Cache work only."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from cbpconfig import cache as coherence
from configuration.models import Institution
from flags.cache import NAME, flush_waffle
from flags.models import Flag


def _changed(flag_names: tuple[str, ...] = ()) -> None:
    coherence.bump(NAME)
    if flag_names:
        transaction.on_commit(lambda: flush_waffle(flag_names), robust=True)


def flag_changed(sender, instance: Flag, **kwargs) -> None:
    _changed((instance.name,))


def flag_institutions_changed(sender, instance, action: str, model, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    if isinstance(instance, Flag):
        names: tuple[str, ...] = (instance.name,)
    elif pk_set:  # changed from the institution's side: these flags
        names = tuple(Flag.objects.filter(pk__in=pk_set).values_list("name", flat=True))
    else:
        names = ()
    _changed(names)


def institution_changed(sender, instance: Institution, created: bool = True, **kwargs) -> None:
    # Only the set of codes matters to evaluation (a code is immutable).
    if created:
        _changed()


def connect() -> None:
    uid = "flags.signals."
    post_save.connect(flag_changed, sender=Flag, dispatch_uid=uid + "save")
    post_delete.connect(flag_changed, sender=Flag, dispatch_uid=uid + "delete")
    m2m_changed.connect(
        flag_institutions_changed, sender=Flag.institutions.through, dispatch_uid=uid + "m2m"
    )
    post_save.connect(institution_changed, sender=Institution, dispatch_uid=uid + "inst_save")
    post_delete.connect(institution_changed, sender=Institution, dispatch_uid=uid + "inst_del")
