"""Every write to institutions, configurations and configuration values.

Each write validates through the model (``full_clean``, which calls the pure rules in
``configuration.resolution``) and runs in one transaction; the rows' signals invalidate the
resolved configuration cache after commit (:mod:`configuration.signals`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from cbpconfig.dates import rfc3339
from cbpconfig.services import create_object, delete_object, update_object
from cbpconfig.versioning import lock
from configuration import metrics
from configuration.models import Configuration, ConfigurationValue, Institution
from configuration.resolution import MASK, ConfigError, reason, validate_value

__all__ = [
    "create_configuration",
    "create_institution",
    "create_value",
    "delete_configuration",
    "delete_institution",
    "delete_value",
    "update_configuration",
    "update_institution",
    "update_value",
]


def _changed(kind: str) -> None:
    """Count the write once it commits (cached answers follow from configuration.signals)."""
    if kind:
        transaction.on_commit(lambda: metrics.operation(kind))


# --------------------------------------------------------------------- institutions


def create_institution(*, data: dict[str, Any]) -> Institution:
    """Create an institution (validated by the model's rules; a duplicate code is a 409)."""
    with transaction.atomic():
        return create_object(Institution, data=data)


def update_institution(
    *, institution: Institution, data: dict[str, Any], expected_version: int | None = None
) -> Institution:
    """Change an institution; `code` is immutable. StaleVersion when `expected_version` is old."""
    data = {k: v for k, v in data.items() if k != "code"}
    with transaction.atomic():
        return update_object(institution, data=data, expected_version=expected_version)


def delete_institution(*, institution: Institution, expected_version: int | None = None) -> None:
    """Delete an institution; refused (409) while windows or values still refer to it.

    Cached resolved configuration of the institution is invalidated (it becomes a 404).
    """
    with transaction.atomic():
        delete_object(institution, expected_version=expected_version)


# ------------------------------------------------------------------- configurations

_DEFINITION_FIELDS = ("key", "description", "value_type", "schema", "default", "is_sensitive")


def create_configuration(*, data: Mapping[str, Any]) -> Configuration:
    """Create a configuration definition.

    ``data`` holds ``key``, ``value_type`` and optionally ``description``, ``schema``,
    ``default``, ``is_sensitive``. The schema must be a valid JSON Schema and the default must
    satisfy the type and schema (ValidationError naming the field); a duplicate key is an
    IntegrityError (409).
    """
    data = {k: v for k, v in data.items() if k in _DEFINITION_FIELDS}
    with transaction.atomic():
        configuration = create_object(Configuration, data=data)
        _changed("create")
    return configuration


def update_configuration(
    *,
    configuration: Configuration,
    data: Mapping[str, Any],
    expected_version: int | None = None,
) -> Configuration:
    """Change a definition; ``key`` is immutable.

    A change of ``value_type`` or ``schema`` is refused (ValidationError naming the field and
    the first offending value) when a stored value would no longer satisfy it. For a sensitive
    configuration, a ``default`` equal to the mask ``"********"`` means "keep the stored
    default" (a caller who only ever sees the mask can send the object back unchanged).
    Turning ``is_sensitive`` on also masks the configuration's earlier audit entries.
    """
    data = {k: v for k, v in data.items() if k in _DEFINITION_FIELDS and k != "key"}
    if configuration.is_sensitive and data.get("default") == MASK:
        data.pop("default")
    was_sensitive = configuration.is_sensitive
    with transaction.atomic():
        updated = update_object(
            configuration,
            data=data,
            expected_version=expected_version,
            validate=_stored_values_still_valid,
        )
        if updated.is_sensitive and not was_sensitive:
            from configuration.signals import redact_history

            redact_history(updated)
        _changed("update")
    return updated


def _stored_values_still_valid(configuration: Configuration) -> None:
    """Refuse a type or schema change that would leave a stored value invalid."""
    rows = (
        ConfigurationValue.objects.filter(configuration=configuration)
        .select_related("institution")
        .order_by("effective_from", "id")
    )
    for row in rows:
        try:
            validate_value(configuration.value_type, None, row.value)
        except ConfigError as exc:
            raise ValidationError(
                {
                    "value_type": f"{_describe(row, configuration)} is not a {configuration.value_type}: {reason(exc, sensitive=configuration.is_sensitive)}"
                }
            ) from exc
        try:
            validate_value(configuration.value_type, configuration.schema, row.value)
        except ConfigError as exc:
            raise ValidationError(
                {
                    "schema": f"{_describe(row, configuration)} does not satisfy the new schema: {reason(exc, sensitive=configuration.is_sensitive)}"
                }
            ) from exc


def _describe(row: ConfigurationValue, configuration: Configuration) -> str:
    scope = row.institution.code if row.institution is not None else "global"
    when = rfc3339(row.effective_from)
    return f"stored value id {row.pk} ({scope}, effective from {when})"


def delete_configuration(
    *, configuration: Configuration, expected_version: int | None = None
) -> None:
    """Delete a definition and, with it, all its values (each deletion is audited, with the
    value masked when the configuration is sensitive)."""
    with transaction.atomic():
        delete_object(configuration, expected_version=expected_version)
        _changed("delete")


# --------------------------------------------------------------------------- values

_VALUE_FIELDS = ("institution", "value", "effective_from")


def _lock_definition(configuration: Configuration) -> Configuration:
    # Serialises value writes with definition changes: a type/schema change checks the
    # stored values under this same row lock, so no value can slip in between.
    return lock(Configuration.objects.all(), pk=configuration.pk)


def create_value(*, configuration: Configuration, data: Mapping[str, Any]) -> ConfigurationValue:
    """Create a value of ``configuration``: ``value``, ``institution`` (an Institution or None
    for global) and ``effective_from`` (default: now). The value must satisfy the
    configuration's type and schema (ValidationError on ``value``); a second value for the
    same (institution, effective_from) is an IntegrityError (409)."""
    data = {k: v for k, v in data.items() if k in _VALUE_FIELDS}
    if data.get("effective_from") is None:
        data.pop("effective_from", None)
    with transaction.atomic():
        definition = _lock_definition(configuration)
        value = create_object(ConfigurationValue, data={**data, "configuration": definition})
        _changed("create")
    return value


def update_value(
    *,
    value: ConfigurationValue,
    data: Mapping[str, Any],
    expected_version: int | None = None,
) -> ConfigurationValue:
    """Change ``value`` and/or ``effective_from`` of a stored value (its configuration and
    institution are fixed). For a sensitive configuration, a ``value`` equal to the mask
    ``"********"`` means "keep the stored value"."""
    data = {k: v for k, v in data.items() if k in ("value", "effective_from")}
    with transaction.atomic():
        definition = _lock_definition(value.configuration)
        if definition.is_sensitive and data.get("value") == MASK:
            data.pop("value")
        if "effective_from" in data and data["effective_from"] is None:
            data.pop("effective_from")
        updated = update_object(value, data=data, expected_version=expected_version)
        _changed("update")
    return updated


def delete_value(*, value: ConfigurationValue, expected_version: int | None = None) -> None:
    """Delete a stored value."""
    with transaction.atomic():
        _lock_definition(value.configuration)
        delete_object(value, expected_version=expected_version)
        _changed("delete")
