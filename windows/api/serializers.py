"""Input validation and output shape of processing windows, overrides and computed answers."""

from __future__ import annotations

from datetime import time

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from calendars.models import Calendar
from cbpconfig.api.serializers import (
    StrictCharField,
    StrictModelSerializer,
    StrictSerializer,
    StrictSlugRelatedField,
)
from cbpconfig.validators import validate_supported_date, validate_timezone
from configuration.models import Institution
from windows.mappers import WEEKLY_FIELDS
from windows.models import WINDOW_FIELDS, ProcessingWindow, WindowOverride
from windows.scheduling import ScheduleError, format_time, parse_time


@extend_schema_field(
    {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", "example": "07:00"}
)
class WallTimeField(serializers.Field):
    """A local wall time, "HH:MM" or "HH:MM:SS"; served as "HH:MM" unless seconds are set."""

    default_error_messages = {"invalid": "{value!r} is not a time 'HH:MM' or 'HH:MM:SS'."}

    def to_internal_value(self, data):
        try:
            parse_time(data)
        except ScheduleError:
            self.fail("invalid", value=data)
        return data

    def to_representation(self, value):
        if isinstance(value, time):
            return format_time(value)
        return value


class SupportedDateField(serializers.DateField):
    """A date within the supported range 1900-01-01 .. 2199-12-31 (the models' validator)."""

    def __init__(self, **kwargs):
        super().__init__(validators=[validate_supported_date], **kwargs)


class OverrideSessionSerializer(StrictSerializer):
    """One session of an override: a rule without weekdays."""

    label = StrictCharField(max_length=64, allow_blank=True, required=False, default="")  # type: ignore[assignment]  # a field named like a Field attribute; DRF moves it off the class
    opens = WallTimeField()
    opens_day_offset = serializers.IntegerField(min_value=-1, max_value=0, default=0)
    closes = WallTimeField()
    closes_day_offset = serializers.IntegerField(min_value=0, max_value=1, default=0)


class WeeklyRuleSerializer(OverrideSessionSerializer):
    """A weekly rule: a session for every business date whose ISO weekday is listed."""

    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=7), allow_empty=False
    )
    effective_from = SupportedDateField(allow_null=True, required=False, default=None)
    effective_until = SupportedDateField(allow_null=True, required=False, default=None)

    class Meta:
        fields = list(WEEKLY_FIELDS)

    def get_fields(self):
        fields = super().get_fields()
        return {name: fields[name] for name in self.Meta.fields}


class WindowSerializer(StrictModelSerializer):
    institution = StrictSlugRelatedField(
        slug_field="code",
        queryset=Institution.objects.all(),
        allow_null=True,
        required=False,
        help_text="Institution code; null for a platform-wide window.",
    )
    calendar = StrictSlugRelatedField(
        slug_field="code",
        queryset=Calendar.objects.all(),
        help_text="Code of the calendar whose business dates the sessions belong to.",
    )
    timezone = StrictCharField(
        max_length=64,
        required=False,
        allow_blank=True,
        allow_null=True,
        validators=[validate_timezone],
        help_text="IANA zone; defaults to the calendar's.",
    )
    sessions = WeeklyRuleSerializer(
        many=True, source="rules", allow_empty=False, help_text="The weekly rules (at least one)."
    )
    immutable_fields = ("code",)

    class Meta:
        model = ProcessingWindow
        fields = [*WINDOW_FIELDS, "sessions", "version", "created_at", "updated_at"]
        read_only_fields = ["version", "created_at", "updated_at"]
        extra_kwargs = {"name": {"allow_blank": False}}

    def to_service_data(self) -> dict:
        """validated_data in the services' shape (`sessions` for the weekly rules)."""
        data = dict(self.validated_data)
        if "rules" in data:
            data["sessions"] = [dict(rule) for rule in data.pop("rules")]
        return data


class OverrideSerializer(StrictModelSerializer):
    date = SupportedDateField(help_text="The date whose sessions this replaces (immutable).")
    sessions = OverrideSessionSerializer(
        many=True,
        required=False,
        help_text="The sessions of that date (empty when closed).",
    )
    immutable_fields = ("date",)

    class Meta:
        model = WindowOverride
        fields = ["date", "closed", "sessions", "reason", "version", "created_at", "updated_at"]
        read_only_fields = ["version", "created_at", "updated_at"]
        extra_kwargs = {"reason": {"allow_blank": False}}

    def to_service_data(self) -> dict:
        data = dict(self.validated_data)
        if "sessions" in data:
            data["sessions"] = [dict(s) for s in data["sessions"]]
        return data


# -- computed answers (documentation of the response shapes) ---------------------------------


class SessionSerializer(serializers.Serializer):
    business_date = serializers.DateField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like a Field attribute; DRF moves it off the class
    opens_at = serializers.DateTimeField(help_text="UTC, RFC 3339 with Z.")
    closes_at = serializers.DateTimeField(
        help_text="UTC; the session is open on [opens_at, closes_at)."
    )
    # Not format date-time: before a zone adopted a standard offset its local time carries
    # seconds in the offset (Amsterdam 1925: +00:19:32), which ISO 8601 allows and RFC 3339
    # does not.
    opens_at_local = serializers.CharField(
        help_text="The same instant in the window's zone, ISO 8601 with the zone's UTC offset "
        "(which has seconds for dates before the zone adopted a standard offset)."
    )
    closes_at_local = serializers.CharField(
        help_text="The closing instant in the window's zone, as opens_at_local."
    )
    # A plain string (not an enum) so the schema has no clash with other `source` fields.
    source = serializers.CharField(help_text="`regular` or `override`.")  # type: ignore[assignment]  # a field named like a Field attribute; DRF moves it off the class


class SessionsAnswerSerializer(serializers.Serializer):
    window = serializers.CharField()
    timezone = serializers.CharField()
    sessions = SessionSerializer(many=True)


class StatusAnswerSerializer(serializers.Serializer):
    window = serializers.CharField()
    at = serializers.DateTimeField()
    is_open = serializers.BooleanField()
    current_session = SessionSerializer(allow_null=True)
    next_session = SessionSerializer(
        allow_null=True, help_text="First session opening after `at` (within 400 days)."
    )
    processing_date = serializers.DateField(allow_null=True)
    seconds_until_close = serializers.IntegerField(allow_null=True)


__all__ = [
    "OverrideSerializer",
    "SessionsAnswerSerializer",
    "StatusAnswerSerializer",
    "WindowSerializer",
]
