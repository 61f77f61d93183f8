"""The contract's conventions for dates, weekdays and date-times, written once.

- Supported dates: 1900-01-01 to 2199-12-31 (:data:`MIN_DATE`, :data:`MAX_DATE`), and the one
  message that refuses a date outside them (:func:`outside_supported_range`).
- ISO weekdays: 1 (Monday) to 7 (Sunday), their names, and the one check of a list of them
  (:func:`iso_weekdays`: a weekly rule's ``weekdays``, a calendar's ``weekend_days``).
- Date-times in answers: RFC 3339 in UTC with ``Z`` (:func:`rfc3339`).

Pure Python with no Django import: the pure modules (``calendars.businessdays``,
``windows.scheduling``, ``configuration.resolution``) use it as well as the models,
serializers, admin forms and services (through ``cbpconfig.validators`` where Django's
``ValidationError`` is wanted).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from numbers import Integral
from typing import Any

__all__ = [
    "MAX_DATE",
    "MIN_DATE",
    "SUPPORTED_RANGE",
    "SUPPORTED_YEARS",
    "WEEKDAY_ABBREVIATIONS",
    "WEEKDAY_NAMES",
    "WeekdayError",
    "in_supported_range",
    "iso_weekdays",
    "outside_supported_range",
    "outside_supported_years",
    "rfc3339",
]

# --- supported dates ---------------------------------------------------------------------------

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2199, 12, 31)
SUPPORTED_RANGE = f"{MIN_DATE.isoformat()} to {MAX_DATE.isoformat()}"
SUPPORTED_YEARS = range(MIN_DATE.year, MAX_DATE.year + 1)


def in_supported_range(value: date | datetime) -> bool:
    """True for a date within ``MIN_DATE..MAX_DATE``; an aware date-time counts by its UTC
    date. (``astimezone`` may raise OverflowError at the very ends of the calendar.)"""
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date()
    return MIN_DATE <= value <= MAX_DATE


def outside_supported_range(subject: object = None) -> str:
    """``"<subject> is outside the supported range 1900-01-01 to 2199-12-31."``, or
    ``"Outside the supported range ..."`` when there is no subject to name."""
    if subject is None or subject == "":
        return f"Outside the supported range {SUPPORTED_RANGE}."
    return f"{subject} is outside the supported range {SUPPORTED_RANGE}."


def outside_supported_years(year: int) -> str:
    """The message that refuses a year not in :data:`SUPPORTED_YEARS`."""
    return f"{year} is outside the supported years {MIN_DATE.year}..{MAX_DATE.year}."


# --- ISO weekdays ------------------------------------------------------------------------------

WEEKDAY_NAMES = {
    1: "Monday",
    2: "Tuesday",
    3: "Wednesday",
    4: "Thursday",
    5: "Friday",
    6: "Saturday",
    7: "Sunday",
}
#: "Mon" .. "Sun", Monday first (the order of ``date.weekday()``).
WEEKDAY_ABBREVIATIONS = tuple(name[:3] for name in WEEKDAY_NAMES.values())


class WeekdayError(ValueError):
    """A list of ISO weekdays is malformed; the message names the field and the problem."""


def iso_weekdays(value: Any, *, field: str = "weekdays", weekend: bool = False) -> tuple[int, ...]:
    """Check a list of ISO weekdays (1 = Monday .. 7 = Sunday); return it sorted.

    Integers only (``True`` is not a weekday), no day twice. A rule's ``weekdays`` name at
    least one day; a ``weekend`` may be empty (a calendar open every day) and holds at most
    six days (a calendar needs a business day). Raises :class:`WeekdayError` naming ``field``.
    """
    if not isinstance(value, list | tuple | set | frozenset) or not all(
        isinstance(d, Integral) and not isinstance(d, bool) for d in value
    ):
        raise WeekdayError(f"{field} must be a list of ISO weekdays (integers 1-7).")
    days = [int(d) for d in value]
    if not days and not weekend:
        raise WeekdayError(f"{field} must name at least one ISO weekday (1-7).")
    bad = [d for d in days if not 1 <= d <= 7]
    if bad:
        raise WeekdayError(f"{field}: {bad[0]} is not an ISO weekday (1 = Monday .. 7 = Sunday).")
    if len(set(days)) != len(days):
        raise WeekdayError(f"{field} must not repeat a day.")
    if weekend and len(days) > 6:
        raise WeekdayError(f"{field} may hold at most 6 days: a calendar needs a business day.")
    return tuple(sorted(days))


# --- date-times --------------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """An aware date-time as RFC 3339 in UTC with ``Z`` (``2026-12-24T13:00:00Z``); fractional
    seconds only when it has microseconds."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
