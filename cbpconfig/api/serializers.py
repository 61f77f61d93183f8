"""Serializer bases: input validation and output shape only.

Text input is strict and bounded, written once here for every model serializer:

- :class:`StrictCharField` refuses a JSON value that is not a string (DRF's ``CharField``
  would store ``123`` as ``"123"``); ``StrictModelSerializer`` builds it for every model
  ``CharField`` and ``TextField``.
- Every free-text field (a model ``TextField``: descriptions, a flag's ``note``) accepts at
  most :data:`TEXT_MAX_LENGTH` characters (documented as ``maxLength``); a ``CharField``
  keeps its model's ``max_length``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditlog import get_logentry_model
from django.contrib.contenttypes.models import ContentType
from django.db import models
from rest_framework import serializers
from rest_framework.validators import UniqueTogetherValidator, UniqueValidator

AuditEntry = get_logentry_model()

if TYPE_CHECKING:  # the mixin goes in front of a serializer class
    _SerializerBase = serializers.Serializer[Any]
else:
    _SerializerBase = object


# The longest free text (a description, a note) the API accepts, in characters.
TEXT_MAX_LENGTH = 2000


class StrictCharField(serializers.CharField):
    """A CharField that refuses a value that is not a string (a number, a boolean, a list):
    400 "Not a valid string." rather than DRF's silent ``str(value)``. ``max_length`` holds for
    the value as sent, as the schema's ``maxLength`` says, not only after leading and trailing
    white space is trimmed (DRF checks the trimmed value)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return str(super().to_internal_value(data))


class StrictBooleanField(serializers.BooleanField):
    """A BooleanField that takes only JSON true and false: 400 "Must be a valid boolean." for
    "true", 1 or "yes", which DRF's field would silently read as a boolean."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictSlugRelatedField(serializers.SlugRelatedField):  # type: ignore[type-arg]  # generic in the stubs only
    """A reference by code: a non-empty string naming an existing object, or null where
    allowed. DRF reads "" as null on relations; here "" is a 400 (null says "none")."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if data == "" or (
            data is not serializers.empty and data is not None and not isinstance(data, str)
        ):
            self.fail("invalid")
        return super().run_validation(data)


class RefuseUnknownFields(_SerializerBase):
    """A body key that is no field of the serializer is a 400 naming it ("Unknown field."):
    a typo must not be silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class StrictSerializer(RefuseUnknownFields, serializers.Serializer[Any]):
    """A serializer (a request body, a nested object) that refuses unknown fields."""


class StrictModelSerializer(RefuseUnknownFields, serializers.ModelSerializer[Any]):
    """A ModelSerializer for service-backed writes.

    - Uniqueness is left to the database so a duplicate is a 409 (the contract), not DRF's 400.
    - `immutable_fields` may be sent on update only with their current value.
    - Unknown fields are refused (a typo must not be silently ignored).
    """

    immutable_fields: tuple[str, ...] = ()

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.BooleanField: StrictBooleanField,
    }

    def build_standard_field(
        self, field_name: str, model_field: Any
    ) -> tuple[type[serializers.Field[Any, Any, Any, Any]], dict[str, Any]]:
        field_class, field_kwargs = super().build_standard_field(field_name, model_field)
        if isinstance(model_field, models.TextField) and "max_length" not in field_kwargs:
            field_kwargs["max_length"] = TEXT_MAX_LENGTH
        return field_class, field_kwargs

    def build_field(
        self, *args: Any, **kwargs: Any
    ) -> tuple[type[serializers.Field[Any, Any, Any, Any]], dict[str, Any]]:
        field_class, field_kwargs = super().build_field(*args, **kwargs)
        validators = field_kwargs.get("validators")
        if validators:
            field_kwargs["validators"] = [
                v for v in validators if not isinstance(v, UniqueValidator)
            ]
        return field_class, field_kwargs

    def get_validators(self) -> list[Any]:
        return [v for v in super().get_validators() if not isinstance(v, UniqueTogetherValidator)]

    def validate(self, attrs: Any) -> Any:
        attrs = super().validate(attrs)
        if self.instance is not None:
            errors = {
                name: [f"{name} is immutable (it is {getattr(self.instance, name)!r})."]
                for name in self.immutable_fields
                if name in attrs and attrs[name] != getattr(self.instance, name)
            }
            if errors:
                raise serializers.ValidationError(errors)
        return attrs


_ACTIONS = {0: "create", 1: "update", 2: "delete", 3: "access"}


class AuditEntrySerializer(serializers.ModelSerializer[Any]):
    action = serializers.SerializerMethodField()
    model = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()
    request_id = serializers.CharField(source="cid", allow_null=True)
    changes = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "timestamp",
            "action",
            "model",
            "object_pk",
            "object_repr",
            "changes",
            "actor",
            "remote_addr",
            "request_id",
        ]

    def get_action(self, obj: Any) -> str:
        return _ACTIONS.get(obj.action, str(obj.action))

    def get_model(self, obj: Any) -> str:
        ct: ContentType = obj.content_type
        return f"{ct.app_label}.{ct.model}"

    def get_actor(self, obj: Any) -> str | None:
        actor: str | None = obj.actor_display
        return actor

    def get_changes(self, obj: Any) -> dict[str, Any]:
        changes = obj.changes
        if isinstance(changes, str):  # entries written before JSON changes were on
            import json

            try:
                changes = json.loads(changes)
            except ValueError:
                return {}
        return changes or {}
