"""Processing windows: the window, its weekly session rules and its per-date overrides.

The rows hold the definition only; sessions and status are computed by the pure module
:mod:`windows.scheduling` from the dataclasses that :mod:`windows.mappers` builds from these
rows. Rules that involve more than one row (sessions overlapping one another, an override
against the neighbouring days) are checked by the services, which every write path calls.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models

from cbpconfig.models import VersionedModel
from cbpconfig.validators import (
    validate_iso_weekdays,
    validate_supported_date,
    validate_timezone,
)

WINDOW_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{1,63}$"

# The window's own fields, as the API, the admin and the services name them (its weekly rules,
# `sessions`, are child rows).
WINDOW_FIELDS = (
    "code",
    "name",
    "description",
    "institution",
    "calendar",
    "timezone",
    "payment_type",
    "is_active",
)


def validate_weekdays(value) -> None:
    """ISO weekdays 1 (Mon) to 7 (Sun), at least one, no duplicates; the rule is
    :func:`cbpconfig.dates.iso_weekdays`."""
    validate_iso_weekdays(value, field="weekdays")


class ProcessingWindow(VersionedModel):
    """A recurring period in which the platform accepts and processes a kind of payment.

    Its sessions belong to business dates of `calendar` and are defined by the weekly
    `rules` (child rows, at least one) in local wall time of `timezone`; `overrides`
    replace the sessions of single dates. `institution` null means platform-wide.
    """

    code = models.CharField(
        max_length=64,
        unique=True,
        validators=[
            RegexValidator(
                WINDOW_CODE_PATTERN,
                message=(
                    "Use 2-64 characters: capitals, digits, '_' or '-', starting with a "
                    "capital or digit."
                ),
            )
        ],
        help_text="Immutable.",
    )
    name = models.CharField(max_length=200, validators=[MinLengthValidator(1)])
    description = models.TextField(blank=True, default="")
    institution = models.ForeignKey(
        "configuration.Institution",
        null=True,
        blank=True,
        # An institution with windows cannot be deleted (409): its windows must go first.
        on_delete=models.PROTECT,
        related_name="windows",
        help_text="Empty for a platform-wide window.",
    )
    calendar = models.ForeignKey(
        "calendars.Calendar",
        on_delete=models.PROTECT,
        related_name="windows",
        help_text="Business dates of the sessions come from this calendar.",
    )
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_timezone],
        help_text="IANA zone of the session times; empty means the calendar's zone.",
    )
    payment_type = models.CharField(
        max_length=64, blank=True, default="", help_text="Free text, e.g. SCT, RTGS."
    )
    is_active = models.BooleanField(default=True, help_text="An inactive window has no sessions.")

    class Meta:
        ordering = ["code"]
        verbose_name = "processing window"

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        # The time zone defaults to the calendar's, copied at save time: a later change of the
        # calendar's zone must not silently move the window's sessions.
        if not self.timezone and self.calendar_id:
            self.timezone = self.calendar.timezone


class WindowRule(models.Model):
    """One weekly rule of a window: for every business date D whose ISO weekday is in
    `weekdays` (and within `effective_from`..`effective_until`), a session opening at `opens`
    on D + `opens_day_offset` and closing at `closes` on D + `closes_day_offset`, local time.

    Rules have no version of their own: they are part of the window (its version counts their
    changes) and are written only by the window services."""

    window = models.ForeignKey(ProcessingWindow, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveSmallIntegerField(help_text="Order of the rule in the window.")
    label = models.CharField(max_length=64, blank=True, default="")
    weekdays = models.JSONField(validators=[validate_weekdays])
    opens = models.TimeField()
    opens_day_offset = models.SmallIntegerField(default=0)
    closes = models.TimeField()
    closes_day_offset = models.SmallIntegerField(default=0)
    effective_from = models.DateField(null=True, blank=True, validators=[validate_supported_date])
    effective_until = models.DateField(null=True, blank=True, validators=[validate_supported_date])

    class Meta:
        ordering = ["window_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["window", "position"], name="windowrule_unique_window_position"
            ),
            models.CheckConstraint(
                condition=models.Q(opens_day_offset__in=[-1, 0]),
                name="windowrule_opens_day_offset_range",
            ),
            models.CheckConstraint(
                condition=models.Q(closes_day_offset__in=[0, 1]),
                name="windowrule_closes_day_offset_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.window.code} rule {self.position + 1} {self.label!r}"


class WindowOverride(VersionedModel):
    """Replaces the regular sessions of one date of a window: `closed` means none, otherwise
    `sessions` (rules without weekdays, in the API's JSON shape) are that date's sessions,
    also on a weekend or holiday. `reason` is required."""

    window = models.ForeignKey(ProcessingWindow, on_delete=models.CASCADE, related_name="overrides")
    date = models.DateField(validators=[validate_supported_date])
    closed = models.BooleanField(default=False)
    sessions = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=500, validators=[MinLengthValidator(1)])

    class Meta:
        ordering = ["window_id", "date"]
        constraints = [
            models.UniqueConstraint(fields=["window", "date"], name="windowoverride_unique_date")
        ]

    def __str__(self) -> str:
        return f"{self.window.code} {self.date.isoformat() if self.date else '?'}"

    def clean(self) -> None:
        from windows.mappers import parse_override_sessions

        if self.reason is not None and not self.reason.strip():
            raise ValidationError({"reason": "An override needs a reason."})
        # Normalises the JSON to the API shape (or names the bad session).
        self.sessions = parse_override_sessions(self.sessions, closed=self.closed)[1]
