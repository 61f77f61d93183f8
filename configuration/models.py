"""Institutions (participants, by BIC), typed configurations and their effective-dated values."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models
from django.utils import timezone

from cbpconfig.dates import in_supported_range, outside_supported_range, rfc3339
from cbpconfig.models import VersionedModel
from cbpconfig.validators import validate_country, validate_timezone
from configuration.resolution import (
    KEY_MAX_LENGTH,
    VALUE_TYPES,
    ConfigError,
    reason,
    validate_default,
    validate_key,
    validate_schema,
    validate_value,
)

BIC_PATTERN = r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$"


class Institution(VersionedModel):
    """A participant of the platform, addressed by its BIC (8 or 11 characters)."""

    code = models.CharField(
        max_length=11,
        unique=True,
        validators=[
            RegexValidator(
                BIC_PATTERN,
                message="Enter a BIC of 8 or 11 characters (e.g. DEUTDEFF or DEUTDEFF500).",
            )
        ],
        help_text="BIC, 8 or 11 characters; immutable.",
    )
    name = models.CharField(max_length=200, validators=[MinLengthValidator(1)])
    country = models.CharField(
        max_length=2, validators=[validate_country], help_text="ISO 3166-1 alpha-2."
    )
    timezone = models.CharField(
        max_length=64, validators=[validate_timezone], help_text="IANA zone name."
    )
    calendar = models.ForeignKey(
        "calendars.Calendar",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="institutions",
        help_text="The institution's default business calendar.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


def _validate_key_field(value: str) -> None:
    try:
        validate_key(value)
    except ConfigError as exc:
        raise ValidationError(str(exc), code="key") from exc


# Deeper documents are refused: encoders, the audit diff and JSON Schema validation recurse,
# and a setting nested this deep is a mistake, not a configuration.
MAX_JSON_DEPTH = 64


def json_depth_error(value, limit: int = MAX_JSON_DEPTH) -> str | None:
    """A message if ``value`` nests lists/objects deeper than ``limit``, else None."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > limit:
                return f"the value nests arrays/objects more than {limit} levels deep"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


class Configuration(VersionedModel):
    """One typed setting of the platform (the definition); values set it globally or per
    institution from an instant. The key is immutable; type, schema and default are checked by
    ``configuration.resolution`` (the one implementation of the contract's rules)."""

    class ValueType(models.TextChoices):
        STRING = "string"
        INTEGER = "integer"
        DECIMAL = "decimal"
        BOOLEAN = "boolean"
        JSON = "json"

    key = models.CharField(
        max_length=KEY_MAX_LENGTH,
        unique=True,
        validators=[_validate_key_field],
        help_text='Lower-case dotted words, e.g. "payments.max_amount"; immutable.',
    )
    description = models.TextField(blank=True, default="")
    value_type = models.CharField(max_length=10, choices=ValueType.choices)
    schema = models.JSONField(
        null=True,
        blank=True,
        help_text="A JSON Schema (draft 2020-12) every value must also satisfy; empty for none.",
    )
    default = models.JSONField(
        null=True,
        blank=True,
        help_text='Used when no value applies; empty (null) means "no default".',
    )
    is_sensitive = models.BooleanField(
        default=False,
        help_text="Values are masked for callers without the view_sensitive_value permission "
        "and never written in clear to the audit log.",
    )

    class Meta:
        ordering = ["key"]
        permissions = [
            ("view_sensitive_value", "Can view values of sensitive configurations in clear"),
        ]

    def __str__(self) -> str:
        return self.key

    def clean(self) -> None:
        # value_type choices are checked by clean_fields; only go on with a known type.
        if self.value_type not in VALUE_TYPES:
            return
        for name in ("schema", "default"):
            too_deep = json_depth_error(getattr(self, name))
            if too_deep:
                raise ValidationError({name: f"Invalid {name}: {too_deep}"})
        try:
            validate_schema(self.schema)
        except ConfigError as exc:
            raise ValidationError({"schema": str(exc)}) from exc
        try:
            self.default = validate_default(self.value_type, self.schema, self.default)
        except ConfigError as exc:
            message = reason(exc, sensitive=bool(self.is_sensitive))
            raise ValidationError({"default": message}) from exc

    def get_additional_data(self) -> dict:
        """Stored with each audit entry; the audit mask reads `sensitive` (signals.py)."""
        return {"key": self.key, "sensitive": bool(self.is_sensitive)}


class ConfigurationValue(VersionedModel):
    """A value of a configuration, global (no institution) or for one institution, in force
    from ``effective_from`` until a later value of the same scope takes over.

    (configuration, institution, effective_from) is unique; two partial unique constraints
    express it because NULL (global) would otherwise never collide with NULL, and
    ``nulls_distinct=False`` is not available on SQLite (the development database).
    """

    configuration = models.ForeignKey(
        Configuration,
        on_delete=models.CASCADE,
        related_name="values",
        help_text="Deleting a configuration deletes its values (each delete is audited).",
    )
    institution = models.ForeignKey(
        "configuration.Institution",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="configuration_values",
        help_text="Empty for the global value.",
    )
    # blank=True: "", [] and {} are legitimate values of string/json configurations.
    value = models.JSONField(blank=True)
    effective_from = models.DateTimeField(
        default=timezone.now, help_text="The instant from which this value applies."
    )

    class Meta:
        ordering = ["configuration__key", "institution__code", "effective_from", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["configuration", "effective_from"],
                condition=models.Q(institution__isnull=True),
                name="configurationvalue_unique_global_instant",
                violation_error_message="A global value of this configuration already starts "
                "at this instant.",
            ),
            models.UniqueConstraint(
                fields=["configuration", "institution", "effective_from"],
                condition=models.Q(institution__isnull=False),
                name="configurationvalue_unique_institution_instant",
                violation_error_message="A value of this configuration for this institution "
                "already starts at this instant.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["institution", "configuration", "effective_from"],
                name="confvalue_inst_conf_from",
            )
        ]

    def __str__(self) -> str:
        # Never the value itself: this string is the audit entry's object_repr.
        scope = self.institution.code if self.institution is not None else "global"
        when = rfc3339(self.effective_from) if self.effective_from else "?"
        try:
            key = self.configuration.key
        except Configuration.DoesNotExist:
            key = "?"
        return f"{key} [{scope}] from {when}"

    def clean(self) -> None:
        errors = {}
        moment = self.effective_from
        if moment is not None:
            if timezone.is_naive(moment):
                errors["effective_from"] = "A date-time must carry Z or a UTC offset."
            elif not in_supported_range(moment):
                errors["effective_from"] = outside_supported_range()
        # blank=True makes clean_fields skip None, so a missing value is refused here
        # (validate_value: "a value is required").
        try:
            # The cached relation also covers an unsaved configuration (admin add page).
            definition = self.configuration
        except Configuration.DoesNotExist:
            definition = None
        too_deep = json_depth_error(self.value)
        if too_deep:
            errors["value"] = f"Invalid value: {too_deep}"
        elif definition is not None:
            try:
                self.value = validate_value(definition.value_type, definition.schema, self.value)
            except ConfigError as exc:
                errors["value"] = (
                    f"Invalid value for {definition.key} ({definition.value_type}): {exc}"
                )
        if errors:
            raise ValidationError(errors)

    def get_additional_data(self) -> dict:
        """Stored with each audit entry; the audit mask reads `sensitive` (signals.py)."""
        definition = self.configuration
        return {"key": definition.key, "sensitive": bool(definition.is_sensitive)}
