"""Input validation and output shape of flags, their evaluation and OFREP."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cbpconfig.api.serializers import StrictModelSerializer
from configuration.models import Institution
from flags import rollout
from flags.models import Flag


# 0-100 with at most one decimal place (never empty); the one shape the API documents.
@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": r"^(100(\.0)?|\d{1,2}(\.\d)?)$",
        "example": "25.5",
    }
)
class RolloutPercentField(serializers.DecimalField):
    """0-100 with at most one decimal place, as a JSON string ("25.5") or number (25.5);
    served as a string ("25.5"), like every decimal of the API."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 4)
        kwargs.setdefault("decimal_places", 1)
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", 100)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return rollout.validate_rollout_percent(data)
        except rollout.FlagConfigError as exc:
            raise serializers.ValidationError(str(exc)) from None


class StrictNullBooleanField(serializers.BooleanField):
    """true, false or null — not DRF's lenient "yes"/1/"on"."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        raise serializers.ValidationError("Must be true, false or null.")


@extend_schema_field(
    {
        "type": "object",
        "properties": {env: {"type": "boolean"} for env in rollout.ENVIRONMENTS},
        "additionalProperties": False,
        "example": {"staging": True, "production": False},
    }
)
class EnvironmentOverridesField(serializers.JSONField):
    def to_internal_value(self, data):
        try:
            return rollout.validate_environment_overrides(data)
        except rollout.FlagConfigError as exc:
            raise serializers.ValidationError(str(exc)) from None


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "example": "DEUTDEFF"},
        "description": (
            "Codes of the institutions the flag is always on for. An institution key sees "
            "only its own code here (which other institutions a flag targets is theirs)."
        ),
    }
)
class InstitutionCodesField(serializers.Field):
    """A list of institution codes, resolved with one query (an unknown code is a 400 that
    names every unknown code); served as the codes, ordered."""

    def to_representation(self, manager):
        return sorted(institution.code for institution in manager.all())

    def to_internal_value(self, data):
        if not isinstance(data, list) or not all(isinstance(code, str) for code in data):
            raise serializers.ValidationError("Expected a list of institution codes (strings).")
        codes = list(dict.fromkeys(data))
        found = {i.code: i for i in Institution.objects.filter(code__in=codes)}
        missing = [code for code in codes if code not in found]
        if missing:
            raise serializers.ValidationError(f"Unknown institution: {', '.join(missing)}.")
        return [found[code] for code in codes]


class FlagSerializer(StrictModelSerializer):
    """A feature flag (a django-waffle flag) evaluated for institutions. `name` is immutable;
    `rollout_percent` is served as a string ("25.0") and accepted as a string or a number."""

    rollout_percent = RolloutPercentField(
        required=False,
        help_text=(
            '0-100 with at most one decimal place; served as a string ("25.5"), accepted '
            "as a string or a JSON number. Default 0."
        ),
    )
    everyone = StrictNullBooleanField(required=False)
    environment_overrides = EnvironmentOverridesField(required=False)
    institutions = InstitutionCodesField(required=False)
    created_at = serializers.DateTimeField(source="created", read_only=True)
    updated_at = serializers.DateTimeField(source="modified", read_only=True)
    immutable_fields = ("name",)

    class Meta:
        model = Flag
        fields = [
            "name",
            "note",
            "everyone",
            "rollout_percent",
            "institutions",
            "environment_overrides",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["version"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        own = self.context.get("institution_code")
        if self.context.get("institution_scoped"):
            data["institutions"] = [code for code in data["institutions"] if code == own]
        return data


# -- evaluation -------------------------------------------------------------------------------


class FlagStateSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=rollout.REASONS)


class EvaluationSerializer(serializers.Serializer):
    institution = serializers.CharField()
    environment = serializers.ChoiceField(choices=rollout.ENVIRONMENTS)
    flags = serializers.DictField(child=FlagStateSerializer())


# -- OFREP (shapes as service/openapi.yaml of open-feature/protocol defines them) ----------------


@extend_schema_field(
    {
        "type": "object",
        "description": "Evaluation context; `targetingKey` is the institution's code (BIC). "
        "An empty `targetingKey` is a missing one (TARGETING_KEY_MISSING).",
        "properties": {"targetingKey": {"type": "string", "minLength": 1, "example": "DEUTDEFF"}},
        "required": ["targetingKey"],
        "additionalProperties": True,
    }
)
class OFREPContextField(serializers.JSONField):
    pass


class OFREPEvaluationRequestSerializer(serializers.Serializer):
    context = OFREPContextField()  # type: ignore[assignment]  # a field named like a Field attribute; DRF moves it off the class


class OFREPEvaluationSuccessSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=rollout.REASONS)
    variant = serializers.ChoiceField(choices=["on", "off"])
    metadata = serializers.DictField(
        child=serializers.IntegerField(), help_text="`version`: the flag's version."
    )


class OFREPEvaluationFailureSerializer(serializers.Serializer):
    key = serializers.CharField()
    errorCode = serializers.ChoiceField(
        choices=["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL"]
    )
    errorDetails = serializers.CharField()


@extend_schema_field({"type": "string", "pattern": "^FLAG_NOT_FOUND$", "example": "FLAG_NOT_FOUND"})
class FlagNotFoundCodeField(serializers.CharField):
    """Always FLAG_NOT_FOUND (a pattern, not an enum: one `errorCode` enum per schema)."""


class OFREPFlagNotFoundSerializer(serializers.Serializer):
    key = serializers.CharField()
    errorCode = FlagNotFoundCodeField()
    errorDetails = serializers.CharField()


class OFREPBulkSuccessSerializer(serializers.Serializer):
    flags = OFREPEvaluationSuccessSerializer(many=True)


class OFREPBulkFailureSerializer(serializers.Serializer):
    errorCode = serializers.ChoiceField(
        choices=["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL"]
    )
    errorDetails = serializers.CharField()


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
