from __future__ import annotations

from rest_framework import serializers

from calendars.models import Calendar
from cbpconfig.api.serializers import StrictModelSerializer
from cbpconfig.validators import is_timezone
from configuration.models import Institution


class InstitutionSerializer(StrictModelSerializer):
    calendar = serializers.SlugRelatedField(
        slug_field="code", queryset=Calendar.objects.all(), allow_null=True, required=False
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

    def validate_timezone(self, value: str) -> str:
        if not is_timezone(value):
            raise serializers.ValidationError(
                f"{value!r} is not a known IANA time zone (e.g. Europe/Berlin)."
            )
        return value
