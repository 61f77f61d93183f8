"""Every write to flags (API, admin, commands): validate, lock, version, audit, invalidate.

Cache invalidation (ours and waffle's, now and again after commit) is wired to the model's
save/delete/m2m signals in flags.apps (see flags.cache), so it also covers the side doors
(waffle's `waffle_flag` command, a shell); the services add the change metrics after commit.

Many-to-many fields (`institutions`, and waffle's `groups` and `users`) are set here in the
same transaction as the row, and their change is written into the same audit entry as the
row's change, as `{"institutions": [[old codes], [new codes]]}` — one entry per change, in
the contract's `{field: [old, new]}` shape (auditlog's own per-m2m entries are suppressed).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from typing import Any

from auditlog.context import disable_auditlog
from auditlog.signals import post_log
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction

from cbpconfig.services import create_object, delete_object, update_object
from configuration.models import Institution
from flags import metrics
from flags.models import Flag

M2M_FIELDS = ("institutions", "groups", "users")

_collector: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "flags_audit_collector", default=None
)


def _collect_log_entry(sender, log_entry=None, **kwargs) -> None:
    entries = _collector.get()
    if entries is not None and log_entry is not None and sender is Flag:
        entries.append(log_entry)


post_log.connect(_collect_log_entry, dispatch_uid="flags.services.collect_log_entry")


@contextlib.contextmanager
def _audit_entries() -> Iterator[list]:
    entries: list = []
    token = _collector.set(entries)
    try:
        yield entries
    finally:
        _collector.reset(token)


# -- many-to-many helpers ---------------------------------------------------------------------


def _institutions(values: Iterable[Institution | str]) -> list[Institution]:
    """Institutions given as objects or codes; an unknown code is a 400 on `institutions`."""
    values = list(values)
    codes = [v for v in values if isinstance(v, str)]
    found = {i.code: i for i in Institution.objects.filter(code__in=codes)} if codes else {}
    missing = sorted(set(codes) - set(found))
    if missing:
        raise ValidationError({"institutions": [f"Unknown institution: {', '.join(missing)}."]})
    return [found[v] if isinstance(v, str) else v for v in values]


def _labels(field: str, objects: Iterable[Any]) -> list[str]:
    if field == "institutions":
        return sorted(o.code for o in objects)
    if field == "groups":
        return sorted(o.name for o in objects)
    return sorted(o.get_username() for o in objects)


def _resolve_m2m(field: str, values: Iterable[Any]) -> list[Any]:
    if field == "institutions":
        return _institutions(values)
    model = Group if field == "groups" else get_user_model()
    values = list(values)
    pks = [v for v in values if not isinstance(v, model)]
    found = model._default_manager.in_bulk(pks) if pks else {}
    if len(found) != len(set(pks)):
        raise ValidationError({field: ["Unknown object."]})
    return [v if isinstance(v, model) else found[v] for v in values]


def _apply_m2m(flag: Flag, m2m: dict[str, list[Any]], *, creating: bool) -> dict[str, list]:
    """Set the m2m fields; returns {field: [old labels, new labels]} for those that changed."""
    changes: dict[str, list] = {}
    for field, objects in m2m.items():
        objects = list(dict.fromkeys(objects))  # a code given twice is one institution
        manager = getattr(flag, field)
        old = [] if creating else _labels(field, manager.all())
        new = _labels(field, objects)
        if old != new:
            # auditlog would write one extra entry per add/remove; the change goes into the
            # row's own entry instead (see the module docstring).
            with disable_auditlog():
                manager.set(objects)
            changes[field] = [old, new]
    return changes


def _merge_into_audit(entries: list, changes: dict[str, list]) -> None:
    if not changes or not entries:
        return
    entry = entries[-1]
    merged = dict(entry.changes or {}) if isinstance(entry.changes, dict) else {}
    merged.update(changes)
    entry.changes = merged
    entry.save(update_fields=["changes"])


def _split(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    fields = dict(data)
    m2m = {name: _resolve_m2m(name, fields.pop(name)) for name in M2M_FIELDS if name in fields}
    return fields, m2m


def _after_commit_metric(action: str) -> None:
    transaction.on_commit(lambda: metrics.record_change(action))


# -- services ---------------------------------------------------------------------------------


def create_flag(*, data: dict[str, Any]) -> Flag:
    """Create a flag. `data` holds model fields and optionally `institutions` (Institution
    objects or codes), `groups` and `users`. Invalid data raises ValidationError (400), a
    duplicate name IntegrityError (409). Caches are invalidated after commit."""
    fields, m2m = _split(data)
    with transaction.atomic(), _audit_entries() as entries:
        flag = create_object(Flag, data=fields)
        _merge_into_audit(entries, _apply_m2m(flag, m2m, creating=True))
        _after_commit_metric("create")
    return flag


def update_flag(*, flag: Flag, data: dict[str, Any], expected_version: int | None = None) -> Flag:
    """Change a flag (any field but the immutable `name`; m2m fields as in create_flag).
    Raises StaleVersion (412) when `expected_version` is not the stored version."""
    fields, m2m = _split({k: v for k, v in data.items() if k != "name"})
    with transaction.atomic(), _audit_entries() as entries:
        flag = update_object(flag, data=fields, expected_version=expected_version)
        _merge_into_audit(entries, _apply_m2m(flag, m2m, creating=False))
        _after_commit_metric("update")
    return flag


def set_everyone(*, flag: Flag, everyone: bool | None, expected_version: int | None = None) -> Flag:
    """The kill switch (False), full rollout (True) or back to the rules (None)."""
    return update_flag(flag=flag, data={"everyone": everyone}, expected_version=expected_version)


def delete_flag(*, flag: Flag, expected_version: int | None = None) -> None:
    """Delete a flag; StaleVersion (412) when `expected_version` is old."""
    with transaction.atomic():
        delete_object(flag, expected_version=expected_version)
        _after_commit_metric("delete")


def detach_institution(*, institution: Institution) -> None:
    """Remove an institution that is being deleted from every flag that targets it, each as
    an audited change with a new version (so the flags' ETags move with their content).

    Called from Institution's pre_delete (configuration cannot import flags), inside the
    deleting transaction: a refused or rolled-back delete leaves the flags untouched."""
    for flag in Flag.objects.filter(institutions=institution).order_by("pk"):
        remaining = [i for i in flag.institutions.all() if i.pk != institution.pk]
        update_flag(flag=flag, data={"institutions": remaining})
