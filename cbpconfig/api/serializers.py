"""Serializer bases: input validation and output shape only."""

from __future__ import annotations

from auditlog import get_logentry_model
from django.contrib.contenttypes.models import ContentType
from rest_framework import serializers
from rest_framework.validators import UniqueTogetherValidator, UniqueValidator

AuditEntry = get_logentry_model()


class StrictModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer for service-backed writes.

    - Uniqueness is left to the database so a duplicate is a 409 (the contract), not DRF's 400.
    - `immutable_fields` may be sent on update only with their current value.
    - Unknown fields are refused (a typo must not be silently ignored).
    """

    immutable_fields: tuple[str, ...] = ()

    def build_field(self, *args, **kwargs):
        field_class, field_kwargs = super().build_field(*args, **kwargs)
        validators = field_kwargs.get("validators")
        if validators:
            field_kwargs["validators"] = [
                v for v in validators if not isinstance(v, UniqueValidator)
            ]
        return field_class, field_kwargs

    def get_validators(self):
        return [v for v in super().get_validators() if not isinstance(v, UniqueTogetherValidator)]

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(
                set(data) - writable - {n for n, f in self.fields.items() if f.read_only}
            )
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)

    def validate(self, attrs):
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


class AuditEntrySerializer(serializers.ModelSerializer):
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

    def get_action(self, obj) -> str:
        return _ACTIONS.get(obj.action, str(obj.action))

    def get_model(self, obj) -> str:
        ct: ContentType = obj.content_type
        return f"{ct.app_label}.{ct.model}"

    def get_actor(self, obj) -> str | None:
        return obj.actor_display

    def get_changes(self, obj) -> dict:
        changes = obj.changes
        if isinstance(changes, str):  # entries written before JSON changes were on
            import json

            try:
                changes = json.loads(changes)
            except ValueError:
                return {}
        return changes or {}
