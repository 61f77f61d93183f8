"""Business calendars and their holidays."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from cbpconfig.models import VersionedModel
from cbpconfig.validators import (
    validate_iso_weekdays,
    validate_supported_date,
    validate_timezone,
)

CALENDAR_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{1,31}$"


def default_weekend() -> list[int]:
    return [6, 7]


def validate_weekend_days(value) -> None:
    """ISO weekdays 1 (Mon) to 7 (Sun), no duplicates, at most six (a calendar needs a
    business day); the rule is :func:`cbpconfig.dates.iso_weekdays`."""
    validate_iso_weekdays(value, field="weekend_days", weekend=True)


class Calendar(VersionedModel):
    """A business calendar: a weekend and a list of holidays.

    ``version`` is the calendar *object's* version (API ETag, If-Match): +1 when a field of
    the calendar itself changes. Answers computed from the calendar *and its holidays* are
    cached under the calendar's coherence token instead (``calendars.cache``), which moves
    after every committed change of either, so a holiday change invalidates them without
    making a client's If-Match on the calendar stale.
    """

    code = models.CharField(
        max_length=32,
        unique=True,
        validators=[
            RegexValidator(
                CALENDAR_CODE_PATTERN,
                message="Use 2-32 characters: capitals, digits, '_' or '-', starting with a capital or digit.",
            )
        ],
        help_text="Immutable.",
    )
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # blank=True: an empty weekend is a calendar open every day (TIPS, FedNow); JSONField
    # counts [] as blank, which full_clean and the admin form would otherwise refuse.
    weekend_days = models.JSONField(
        default=default_weekend, blank=True, validators=[validate_weekend_days]
    )
    description = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def clean(self):
        super().clean()
        # blank=True admits [] (no weekend), and with it Django skips the field's validators
        # for every "empty" value: refuse the other ones (null, "", {}) here.
        weekend = self.weekend_days
        if weekend != [] and weekend in self._meta.get_field("weekend_days").empty_values:
            raise ValidationError(
                {"weekend_days": "weekend_days must be a list of ISO weekdays; [] for none."}
            )


class Holiday(VersionedModel):
    """A non-business date of one calendar; `source` says who made it (`manual` or an import
    such as `holidays:US`, `holidays:ECB`)."""

    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField(validators=[validate_supported_date])
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=64, default="manual")

    class Meta:
        ordering = ["calendar_id", "date"]
        constraints = [
            models.UniqueConstraint(
                fields=["calendar", "date"], name="holiday_unique_calendar_date"
            )
        ]

    def __str__(self) -> str:
        return f"{self.calendar.code} {self.date.isoformat()} {self.name}"
