from __future__ import annotations

from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from calendars.models import Calendar
from cbpconfig.api.serializers import (
    TEXT_MAX_LENGTH,
    StrictCharField,
    StrictModelSerializer,
    StrictSlugRelatedField,
)
from configuration.models import Configuration, ConfigurationValue, Institution
from configuration.resolution import MASK


class InstitutionSerializer(StrictModelSerializer):
    calendar = StrictSlugRelatedField(
        slug_field="code",
        queryset=Calendar.objects.all(),
        allow_null=True,
        required=False,
        help_text="Code of the institution's default calendar, or null.",
    )
    immutable_fields = ("code",)

    class Meta:
        model = Institution
        fields = [
            "code",
            "name",
            "country",
            "timezone",
            "calendar",
            "is_active",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["version", "created_at", "updated_at"]
        extra_kwargs = {"name": {"allow_blank": False}}


class AwareDateTimeField(serializers.DateTimeField):
    """A date-time that must carry Z or an offset (a naive one is ambiguous: 400)."""

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:  # well-formed but impossible, e.g. 12:99: DRF's own 400
                parsed = None
            if parsed is not None and (parsed.tzinfo is None or parsed.utcoffset() is None):
                raise serializers.ValidationError(
                    "A date-time must carry Z or a UTC offset (a naive time is ambiguous), "
                    "e.g. 2026-12-24T13:00:00Z."
                )
        return super().to_internal_value(value)


def _mask_requested(serializer) -> bool:
    # Masked unless the view says the caller may see sensitive values (fail closed).
    return serializer.context.get("mask", True)


class ConfigurationSerializer(StrictModelSerializer):
    description = StrictCharField(allow_blank=True, required=False, max_length=TEXT_MAX_LENGTH)
    schema = serializers.JSONField(
        allow_null=True,
        required=False,
        help_text="A JSON Schema (draft 2020-12) every value must also satisfy; null for none. "
        "A `$ref` must resolve inside the schema (remote references are not fetched) and a "
        "`pattern` is matched with RE2; a schema that is not valid is a 400 naming the problem.",
    )
    default = serializers.JSONField(
        allow_null=True,
        required=False,
        help_text='Must satisfy the type and schema; null means "no default". Shown as '
        '"********" for a sensitive configuration to callers without the '
        "configuration.view_sensitive_value permission.",
    )
    immutable_fields = ("key",)

    class Meta:
        model = Configuration
        fields = [
            "key",
            "description",
            "value_type",
            "schema",
            "default",
            "is_sensitive",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["version", "created_at", "updated_at"]

    # The key's rule is the model field's validator (configuration.resolution.validate_key),
    # which ModelSerializer runs on the field: no second copy here.

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.is_sensitive and data.get("default") is not None and _mask_requested(self):
            data["default"] = MASK
        return data


class ConfigurationValueSerializer(StrictModelSerializer):
    institution = StrictSlugRelatedField(
        slug_field="code",
        queryset=Institution.objects.all(),
        allow_null=True,
        required=False,
        error_messages={"does_not_exist": "No institution has the code {value}."},
        help_text="Institution code (BIC), or null for the global value; immutable.",
    )
    value = serializers.JSONField(
        allow_null=True,
        help_text="Of the configuration's type (decimals as JSON strings) and satisfying its "
        'schema. Shown as "********" for a sensitive configuration to callers without the '
        "configuration.view_sensitive_value permission.",
    )
    effective_from = AwareDateTimeField(
        required=False, help_text="The instant from which the value applies (default: now)."
    )
    immutable_fields = ("institution",)

    class Meta:
        model = ConfigurationValue
        fields = [
            "id",
            "institution",
            "value",
            "effective_from",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "version", "created_at", "updated_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        configuration = self.context.get("configuration") or instance.configuration
        if configuration.is_sensitive and _mask_requested(self):
            data["value"] = MASK
        return data


# Response shapes of the resolution endpoints (documentation of the OpenAPI schema).


class ResolvedEntrySerializer(serializers.Serializer):
    value = serializers.JSONField(help_text='"********" when sensitive and masked for the caller.')
    source = serializers.ChoiceField(choices=["institution", "global", "default"])  # type: ignore[assignment]  # a field named like a Field attribute; DRF moves it off the class
    effective_from = serializers.DateTimeField(
        allow_null=True, help_text="Of the value used; null for the default."
    )
    version = serializers.IntegerField(
        help_text="Version of the value used (of the configuration for the default)."
    )


class ResolvedConfigurationSerializer(serializers.Serializer):
    institution = serializers.CharField()
    at = serializers.DateTimeField(help_text="The instant resolved for (RFC 3339, UTC).")
    values = serializers.DictField(child=ResolvedEntrySerializer())


class KeyResolutionSerializer(ResolvedEntrySerializer):
    key = serializers.CharField()
