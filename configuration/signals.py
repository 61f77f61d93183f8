"""Signals of the configuration app: cache coherence, and sensitive values kept out of the
audit log.

Every change of an institution, a configuration or a value bumps the ``"configuration"``
coherence name after commit (:mod:`cbpconfig.cache`), whatever path made it.

django-auditlog computes each entry's ``changes`` from the model instance; a receiver on the
entry model's ``pre_save`` replaces the value fields with ``"********"`` before the row is
written, so no path (API, admin, command, cascade delete, shell) can store them in clear.
The entry's ``additional_data`` (from the models' ``get_additional_data``) says whether the
configuration is sensitive; an entry of ours that lacks it is masked anyway (fail closed).
"""

from __future__ import annotations

from auditlog import get_logentry_model
from django.contrib.contenttypes.models import ContentType

from cbpconfig import cache as coherence
from configuration import cache
from configuration.resolution import MASK

# The field that carries a value, per model of this app.
_VALUE_FIELD = {"configuration": "default", "configurationvalue": "value"}


def _masked_pair(pair):
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return [None if side is None else MASK for side in pair]
    return [MASK, MASK]


def mask_audit_entry(sender, instance, **kwargs) -> None:
    """pre_save receiver on the audit entry model."""
    content_type_id = instance.content_type_id
    if content_type_id is None:
        return
    content_type = ContentType.objects.get_for_id(content_type_id)
    if content_type.app_label != "configuration":
        return
    field = _VALUE_FIELD.get(content_type.model)
    changes = instance.changes
    if field is None or not isinstance(changes, dict) or field not in changes:
        return
    extra = instance.additional_data if isinstance(instance.additional_data, dict) else {}
    sensitive = extra.get("sensitive", True)
    if content_type.model == "configuration" and "is_sensitive" in changes:
        # Switching sensitivity either way: one side of the default was sensitive.
        sensitive = True
    if sensitive:
        changes = dict(changes)
        changes[field] = _masked_pair(changes[field])
        instance.changes = changes


def redact_history(configuration) -> None:
    """Mask the values in the earlier audit entries of a configuration that has just been
    made sensitive (entries written while it was not)."""
    from configuration.models import Configuration, ConfigurationValue

    entry_model = get_logentry_model()
    value_ids = [
        str(pk)
        for pk in ConfigurationValue.objects.filter(configuration=configuration).values_list(
            "pk", flat=True
        )
    ]
    targets = [
        (ContentType.objects.get_for_model(Configuration), [str(configuration.pk)], "default"),
        (ContentType.objects.get_for_model(ConfigurationValue), value_ids, "value"),
    ]
    for content_type, pks, field in targets:
        if not pks:
            continue
        entries = entry_model.objects.filter(content_type=content_type, object_pk__in=pks)
        for entry in entries.iterator():
            changes = entry.changes
            if isinstance(changes, dict) and field in changes:
                changes = dict(changes)
                changes[field] = _masked_pair(changes[field])
                # Not a save(): the entry model is not audited and keeps its timestamp.
                entry_model.objects.filter(pk=entry.pk).update(changes=changes)


def changed(sender, **kwargs) -> None:
    coherence.bump(cache.NAME)


def connect() -> None:
    from django.db.models.signals import post_delete, post_save, pre_save

    from configuration.models import Configuration, ConfigurationValue, Institution

    for model in (Institution, Configuration, ConfigurationValue):
        uid = f"configuration.changed.{model._meta.model_name}"
        post_save.connect(changed, sender=model, dispatch_uid=uid + ".save")
        post_delete.connect(changed, sender=model, dispatch_uid=uid + ".delete")
    pre_save.connect(
        mask_audit_entry,
        sender=get_logentry_model(),
        dispatch_uid="configuration.mask_audit_entry",
    )
