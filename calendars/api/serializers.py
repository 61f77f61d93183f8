"""Input validation and output shape of the calendars API (no business rules)."""

from __future__ import annotations

from datetime import date

from rest_framework import serializers

from calendars.businessdays import CONVENTIONS
from calendars.models import Calendar, Holiday, validate_weekend_days
from calendars.selectors import holidays_until
from cbpconfig.api.serializers import (
    StrictCharField,
    StrictModelSerializer,
    StrictSerializer,
    StrictSlugRelatedField,
)


class CalendarSerializer(StrictModelSerializer):
    weekend_days = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=7),
        required=False,
        max_length=6,
        validators=[validate_weekend_days],
        help_text="ISO weekdays 1 (Mon)-7 (Sun), no duplicates, at most 6; default [6, 7].",
    )
    holidays_until = serializers.SerializerMethodField(
        help_text="Read-only: 31 December of the last year that has a holiday (null if none)."
    )
    immutable_fields = ("code",)

    class Meta:
        model = Calendar
        fields = [
            "code",
            "name",
            "timezone",
            "weekend_days",
            "description",
            "holidays_until",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["version", "created_at", "updated_at"]
        extra_kwargs = {"name": {"allow_blank": False}, "description": {"required": False}}

    def get_holidays_until(self, obj) -> date | None:
        return holidays_until(obj)


class HolidaySerializer(StrictModelSerializer):
    calendar: StrictSlugRelatedField = StrictSlugRelatedField(slug_field="code", read_only=True)
    immutable_fields = ("date",)

    class Meta:
        model = Holiday
        fields = ["calendar", "date", "name", "source", "version", "created_at", "updated_at"]
        read_only_fields = ["calendar", "source", "version", "created_at", "updated_at"]
        extra_kwargs = {
            "name": {"allow_blank": False},
            "source": {"help_text": "`manual`, or the import that made it (`holidays:US`, ...)."},
        }


class HolidayImportSerializer(StrictSerializer):
    """`{"country": "US", "subdivision": null, "years": [...]}` or `{"market": "ECB", ...}`."""

    country = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=10,
        help_text="ISO country code as the holidays package knows it (e.g. US, DE).",
    )
    subdivision = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=64,
        help_text="Subdivision of the country (e.g. CA for California).",
    )
    market = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=10,
        help_text="Financial market of the holidays package (ECB = TARGET2, NYSE, ...).",
    )
    years = serializers.ListField(
        child=serializers.IntegerField(),
        allow_empty=False,
        help_text="Years to import, spanning at most 50 years.",
    )


class HolidayImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    skipped = serializers.IntegerField()


# Answers of the business-day endpoints: for the schema only (views build plain dicts).
# Plain strings rather than choice fields: enum components named `Kind`/`Convention` could
# collide with other apps' enums in the shared schema.
_CONVENTION_HELP = "One of " + ", ".join(f"`{c}`" for c in CONVENTIONS) + "."


class ReasonSerializer(serializers.Serializer):
    calendar = serializers.CharField()
    kind = serializers.CharField(help_text="`weekend` or `holiday`.")
    name = serializers.CharField()


class CheckAnswerSerializer(serializers.Serializer):
    date = serializers.DateField()
    is_business_day = serializers.BooleanField()
    reasons = ReasonSerializer(many=True)


class AddAnswerSerializer(serializers.Serializer):
    date = serializers.DateField()
    days = serializers.IntegerField()
    convention = serializers.CharField(help_text=_CONVENTION_HELP)
    result = serializers.DateField()


class AdjustAnswerSerializer(serializers.Serializer):
    date = serializers.DateField()
    convention = serializers.CharField(help_text=_CONVENTION_HELP)
    result = serializers.DateField()


class StepAnswerSerializer(serializers.Serializer):
    date = serializers.DateField()
    result = serializers.DateField()


class CountAnswerSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    count = serializers.IntegerField()


class ListAnswerSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    business_days = serializers.ListField(child=serializers.DateField())
