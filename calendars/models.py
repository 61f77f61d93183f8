"""Business calendars and their holidays."""

from __future__ import annotations

import time

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from cbpconfig.models import VersionedModel
from cbpconfig.validators import validate_supported_date, validate_timezone

CALENDAR_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{1,31}$"


def new_data_version() -> int:
    """A fresh ``Calendar.data_version``: microseconds since the epoch."""
    return time.time_ns() // 1000


def default_weekend() -> list[int]:
    return [6, 7]


def validate_weekend_days(value) -> None:
    """ISO weekdays 1 (Mon) to 7 (Sun), no duplicates, at most six (a calendar needs a
    business day)."""
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in value
    ):
        raise ValidationError("weekend_days must be a list of ISO weekdays (integers 1-7).")
    bad = [d for d in value if not 1 <= d <= 7]
    if bad:
        raise ValidationError(
            f"weekend_days: {bad[0]} is not an ISO weekday (1 = Monday .. 7 = Sunday)."
        )
    if len(set(value)) != len(value):
        raise ValidationError("weekend_days must not repeat a day.")
    if len(value) > 6:
        raise ValidationError(
            "weekend_days may hold at most 6 days: a calendar needs a business day."
        )


class Calendar(VersionedModel):
    """A business calendar: a weekend and a list of holidays.

    Two counters:

    - ``version`` is the calendar *object's* version (API ETag, If-Match): +1 when a field of
      the calendar itself changes.
    - ``data_version`` (internal, not in the API) is the version of everything a business-day
      answer depends on: it moves when the calendar changes **or any of its holidays is
      created, changed or deleted** (see ``calendars.signals``). Computed answers and caches —
      ours and the windows app's — are keyed by it, so a holiday change invalidates them
      without making a client's If-Match on the calendar stale. It is excluded from the audit
      log (a cache stamp, not data).

      It is a change stamp rather than a plain counter: microseconds since the epoch at
      creation, then ``max(data_version + 1, now in microseconds)`` on each change. So it
      always grows, and one value never names two different contents — not after a rolled
      back transaction reused a primary key (SQLite tests), nor after a save from a stale
      in-memory instance or a restore from a backup put an old value back.
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
    weekend_days = models.JSONField(default=default_weekend, validators=[validate_weekend_days])
    description = models.TextField(blank=True, default="")
    data_version = models.PositiveBigIntegerField(
        default=new_data_version,
        editable=False,
        help_text="Internal change stamp of the calendar and its holidays (cache key).",
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


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
