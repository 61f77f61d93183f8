"""Business-day arithmetic on one calendar or a joint calendar.

Pure Python + NumPy, with no Django import, so it can be unit-tested, benchmarked and reused
by the scheduling code without a database. The Django side (``calendars.selectors``) turns
calendar rows into :class:`CalendarData` and builds a :class:`BusinessCalendar` from them,
kept per version token in the project's one per-process LRU (``calendars.cache``).

Semantics are exactly NumPy's ``busday_*`` functions with the calendar's weekmask and holiday
list (see the API contract, "Business-day arithmetic"). Dates are ``datetime.date``; the
supported range (``cbpconfig.dates``, 1900-01-01 to 2199-12-31) holds on input and on output.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np

from cbpconfig.dates import (
    MAX_DATE,
    MIN_DATE,
    WEEKDAY_NAMES,
    WeekdayError,
    iso_weekdays,
    outside_supported_range,
)

__all__ = [
    "CONVENTIONS",
    "MAX_DATE",
    "MAX_DAYS",
    "MAX_LIST_SPAN_DAYS",
    "MIN_DATE",
    "ROLL_CONVENTIONS",
    "BusinessCalendar",
    "BusinessDayError",
    "CalendarData",
    "DateOutOfRange",
]

MAX_DAYS = 100_000
MAX_LIST_SPAN_DAYS = 3660

CONVENTIONS = (
    "following",
    "preceding",
    "modified_following",
    "modified_preceding",
    "unadjusted",
)
# API convention name -> NumPy ``roll`` value. ``unadjusted`` has no NumPy roll: it is only
# meaningful for ``adjust`` (the date itself), so ``add`` rejects it.
# NumPy's names of the conventions (busday_offset's ``roll``).
Roll = Literal["following", "preceding", "modifiedfollowing", "modifiedpreceding"]

ROLL_CONVENTIONS: dict[str, Roll] = {
    "following": "following",
    "preceding": "preceding",
    "modified_following": "modifiedfollowing",
    "modified_preceding": "modifiedpreceding",
}

# Work on proleptic ordinals internally: integer maths and an int -> datetime64 conversion are
# several times cheaper than ``np.datetime64(date_obj, "D")`` (which goes through a parser).
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MIN_ORD = MIN_DATE.toordinal()
_MAX_ORD = MAX_DATE.toordinal()
_NO_BUSINESS_DAYS = "joint calendar has no business days (its weekends cover all seven days)"


class BusinessDayError(ValueError):
    """Bad argument to a business-day operation; the message is a one-line 400 body."""


class DateOutOfRange(BusinessDayError):
    """An input or a result date lies outside ``MIN_DATE..MAX_DATE``."""


@dataclass(frozen=True)
class CalendarData:
    """Plain, hashable description of one calendar: its code, weekend and (date, name) holidays."""

    code: str
    weekend_days: tuple[int, ...] = (6, 7)
    holidays: tuple[tuple[date, str], ...] = ()

    def __post_init__(self) -> None:
        # Normalise so equal calendars compare/hash equal whatever sequence types were passed.
        try:
            weekend = iso_weekdays(self.weekend_days, field="weekend_days", weekend=True)
        except WeekdayError as exc:
            raise BusinessDayError(str(exc)) from None
        object.__setattr__(self, "weekend_days", weekend)
        object.__setattr__(self, "holidays", tuple((d, str(n)) for d, n in self.holidays))


def _check_ordinal(d: date, what: str = "date") -> int:
    """Return ``d``'s ordinal, raising if it is not a date or is outside the supported range."""
    try:
        o = d.toordinal()
    except AttributeError:
        raise BusinessDayError(f"{what} must be a date, got {d!r}") from None
    if not _MIN_ORD <= o <= _MAX_ORD:
        raise DateOutOfRange(outside_supported_range(f"{what} {d.isoformat()}"))
    return o


def _check_days(days: int) -> int:
    if type(days) is not int:  # fast path for the usual plain int
        if isinstance(days, bool):
            raise BusinessDayError(f"days must be an integer, got {days!r}")
        try:
            days = operator.index(days)
        except TypeError:
            raise BusinessDayError(f"days must be an integer, got {days!r}") from None
    if not -MAX_DAYS <= days <= MAX_DAYS:
        raise BusinessDayError(f"days must be between {-MAX_DAYS} and {MAX_DAYS}, got {days}")
    return days


def _roll_for(convention: str) -> Roll:
    roll = ROLL_CONVENTIONS.get(convention) if isinstance(convention, str) else None
    if roll is None:
        if convention == "unadjusted":
            raise BusinessDayError("convention 'unadjusted' applies to adjust only")
        raise BusinessDayError(
            f"unknown convention {convention!r}; expected one of {', '.join(ROLL_CONVENTIONS)}"
        )
    return roll


def _result_date(result: np.datetime64) -> date:
    """Convert a NumPy ``datetime64[D]`` scalar result to a date, enforcing the range."""
    # ``.item()`` is the cheapest route back to ``date``; it yields an int outside years 1..9999.
    value = result.item()
    if type(value) is not date or not MIN_DATE <= value <= MAX_DATE:
        raise DateOutOfRange(outside_supported_range(f"result {result}"))
    return value


class BusinessCalendar:
    """Business-day arithmetic over one calendar or the joint calendar of several.

    A day is a business day only if it is one in every member calendar: the weekend is the
    union of the members' weekends and the holidays the union of their holidays. Every method
    agrees with NumPy's ``busday_*`` functions on that weekmask and holiday list; inputs and
    results outside ``MIN_DATE..MAX_DATE`` raise :class:`DateOutOfRange`.
    """

    def __init__(self, *datas: CalendarData) -> None:
        if not datas:
            raise BusinessDayError("at least one calendar is required")
        members: dict[str, CalendarData] = {}
        for data in datas:
            # TARGET2+TARGET2 is the same calendar; keep one so reasons are not duplicated.
            members.setdefault(data.code, data)
        self.members: tuple[CalendarData, ...] = tuple(members.values())
        self.codes: tuple[str, ...] = tuple(members)

        weekend = sorted({w for m in self.members for w in m.weekend_days})
        self.weekend_days: tuple[int, ...] = tuple(weekend)
        self.weekmask: tuple[int, ...] = tuple(0 if wd in weekend else 1 for wd in range(1, 8))
        # ISO weekday of an ordinal is ``o % 7`` with Sunday as 0: precompute the residues so
        # is_business_day costs one modulo and two set look-ups.
        self._weekend_residues = frozenset(wd % 7 for wd in weekend)

        # holiday ordinal -> [(calendar code, holiday name)], one entry per member.
        reasons: dict[int, list[tuple[str, str]]] = {}
        for m in self.members:
            for d, name in m.holidays:
                entry = reasons.setdefault(d.toordinal(), [])
                if all(code != m.code for code, _ in entry):
                    entry.append((m.code, name))
        self._holiday_reasons = reasons
        self._holiday_ordinals = frozenset(reasons)
        self.holidays: frozenset[date] = frozenset(date.fromordinal(o) for o in reasons)

        if len(weekend) == 7:
            # NumPy refuses an all-zero weekmask; operations that need it raise instead.
            self.busdaycal: np.busdaycalendar | None = None
        else:
            hol = np.array(sorted(reasons), dtype=np.int64) - EPOCH_ORDINAL
            self.busdaycal = np.busdaycalendar(
                weekmask=list(self.weekmask), holidays=hol.astype("datetime64[D]")
            )

    def __repr__(self) -> str:
        return f"BusinessCalendar({'+'.join(self.codes)})"

    def _cal(self) -> np.busdaycalendar:
        if self.busdaycal is None:
            raise BusinessDayError(_NO_BUSINESS_DAYS)
        return self.busdaycal

    def is_business_day(self, d: date) -> bool:
        """True if ``d`` is a business day in every member calendar (pure Python, no NumPy)."""
        o = _check_ordinal(d)
        return o % 7 not in self._weekend_residues and o not in self._holiday_ordinals

    def check(self, d: date) -> tuple[bool, list[dict[str, str]]]:
        """Return ``(is_business_day, reasons)``.

        One reason ``{"calendar", "kind", "name"}`` per member calendar that excludes the day;
        a member whose weekend contains the day reports ``weekend`` (with the weekday name)
        even if the day is also one of its holidays. ``reasons`` is empty on a business day.
        """
        o = _check_ordinal(d)
        weekday = o % 7 or 7
        holiday = self._holiday_reasons.get(o)
        reasons: list[dict[str, str]] = []
        for m in self.members:
            if weekday in m.weekend_days:
                reasons.append(
                    {"calendar": m.code, "kind": "weekend", "name": WEEKDAY_NAMES[weekday]}
                )
            elif holiday:
                for code, name in holiday:
                    if code == m.code:
                        reasons.append({"calendar": code, "kind": "holiday", "name": name})
                        break
        return not reasons, reasons

    def add(self, d: date, days: int, convention: str = "following") -> date:
        """``numpy.busday_offset(d, days, roll=R)`` for the API convention name.

        ``d`` is first rolled to a business day by the convention, then moved ``days``
        business days (|days| <= 100000).
        """
        # Hot path (measured against a bare busday_offset call): inline the argument checks
        # and fall back to the helpers only to raise the right error.
        try:
            roll = ROLL_CONVENTIONS[convention]
        except (KeyError, TypeError):
            roll = _roll_for(convention)
        o = d.toordinal() if isinstance(d, date) else _check_ordinal(d)
        if not _MIN_ORD <= o <= _MAX_ORD:
            _check_ordinal(d)
        if type(days) is not int or not -MAX_DAYS <= days <= MAX_DAYS:
            days = _check_days(days)
        cal = self.busdaycal
        if cal is None:
            raise BusinessDayError(_NO_BUSINESS_DAYS)
        result = np.busday_offset(
            np.datetime64(o - EPOCH_ORDINAL, "D"), days, roll=roll, busdaycal=cal
        )
        # ``.item()`` is the cheapest route back to ``date``; it gives an int beyond year 9999.
        value = result.item()
        if type(value) is not date or not MIN_DATE <= value <= MAX_DATE:
            return _result_date(result)  # raises DateOutOfRange
        return value

    def adjust(self, d: date, convention: str) -> date:
        """Roll ``d`` to a business day by the convention (``add`` with 0 days).

        ``unadjusted`` returns ``d`` itself.
        """
        if convention == "unadjusted":
            _check_ordinal(d)
            return d
        return self.add(d, 0, convention)

    def next(self, d: date) -> date:
        """First business day strictly after ``d``."""
        o = _check_ordinal(d)
        result = np.busday_offset(
            np.datetime64(o + 1 - EPOCH_ORDINAL, "D"), 0, roll="forward", busdaycal=self._cal()
        )
        return _result_date(result)

    def previous(self, d: date) -> date:
        """Last business day strictly before ``d``."""
        o = _check_ordinal(d)
        result = np.busday_offset(
            np.datetime64(o - 1 - EPOCH_ORDINAL, "D"), 0, roll="backward", busdaycal=self._cal()
        )
        return _result_date(result)

    def count(self, start: date, end: date) -> int:
        """``numpy.busday_count(start, end)``: business days in ``[start, end)``.

        Negative when ``end < start``.
        """
        o1 = _check_ordinal(start, "start")
        o2 = _check_ordinal(end, "end")
        if self.busdaycal is None:
            return 0
        return int(
            np.busday_count(
                np.datetime64(o1 - EPOCH_ORDINAL, "D"),
                np.datetime64(o2 - EPOCH_ORDINAL, "D"),
                busdaycal=self.busdaycal,
            )
        )

    def list(self, start: date, end: date) -> list[date]:
        """Business days in ``[start, end]`` inclusive; the span may be at most 3660 days."""
        o1 = _check_ordinal(start, "start")
        o2 = _check_ordinal(end, "end")
        if o2 < o1:
            raise BusinessDayError(f"end {end.isoformat()} is before start {start.isoformat()}")
        if o2 - o1 > MAX_LIST_SPAN_DAYS:
            raise BusinessDayError(
                f"span from {start.isoformat()} to {end.isoformat()} is {o2 - o1} days;"
                f" at most {MAX_LIST_SPAN_DAYS} allowed"
            )
        if self.busdaycal is None:
            return []
        # One vectorised is_busday over the range instead of a Python loop per day.
        days = np.arange(o1 - EPOCH_ORDINAL, o2 - EPOCH_ORDINAL + 1, dtype=np.int64).astype(
            "datetime64[D]"
        )
        found: list[date] = days[np.is_busday(days, busdaycal=self.busdaycal)].tolist()
        return found
