"""Unit tests for cbpconfig.dates: the one home of the supported dates, the ISO weekdays and
RFC 3339 date-times (pure, no Django)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from cbpconfig.dates import (
    MAX_DATE,
    MIN_DATE,
    SUPPORTED_YEARS,
    WEEKDAY_ABBREVIATIONS,
    WEEKDAY_NAMES,
    WeekdayError,
    in_supported_range,
    iso_weekdays,
    outside_supported_range,
    outside_supported_years,
    rfc3339,
)

# --- supported dates ---------------------------------------------------------------------------


def test_supported_range__1900_01_01_to_2199_12_31():
    assert MIN_DATE.isoformat() == "1900-01-01"
    assert MAX_DATE.isoformat() == "2199-12-31"
    assert (SUPPORTED_YEARS[0], SUPPORTED_YEARS[-1]) == (1900, 2199)


@pytest.mark.parametrize(
    ("value", "inside"),
    [
        (date(1900, 1, 1), True),
        (date(2199, 12, 31), True),
        (date(1899, 12, 31), False),
        (date(2200, 1, 1), False),
        # A date-time counts by its UTC date.
        (datetime(1900, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))), False),
        (datetime(2199, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))), False),
        (datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC), True),
    ],
)
def test_in_supported_range__dates_and_aware_date_times(value, inside):
    assert in_supported_range(value) is inside


def test_outside_supported_range__one_message_with_or_without_a_subject():
    assert outside_supported_range(date(2200, 1, 1)) == (
        "2200-01-01 is outside the supported range 1900-01-01 to 2199-12-31."
    )
    assert outside_supported_range("effective_from: 1899-12-31") == (
        "effective_from: 1899-12-31 is outside the supported range 1900-01-01 to 2199-12-31."
    )
    assert outside_supported_range() == "Outside the supported range 1900-01-01 to 2199-12-31."
    assert outside_supported_years(2200) == "2200 is outside the supported years 1900..2199."


# --- ISO weekdays ------------------------------------------------------------------------------


def test_weekday_names__iso_numbering_monday_first():
    assert [WEEKDAY_NAMES[d] for d in (1, 6, 7)] == ["Monday", "Saturday", "Sunday"]
    assert WEEKDAY_ABBREVIATIONS == ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    for d in range(1, 8):
        day = date(2026, 1, 4 + d)  # 2026-01-05 is a Monday
        assert WEEKDAY_NAMES[day.isoweekday()] == day.strftime("%A")
        assert WEEKDAY_ABBREVIATIONS[day.weekday()] == day.strftime("%a")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([5, 1, 3], (1, 3, 5)),
        ((7,), (7,)),
        (frozenset({1, 2, 3, 4, 5, 6, 7}), (1, 2, 3, 4, 5, 6, 7)),
        ([np.int64(2), 1], (1, 2)),
    ],
)
def test_iso_weekdays__valid__sorted_tuple(value, expected):
    assert iso_weekdays(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "weekdays must name at least one ISO weekday (1-7)."),
        ([0, 1], "weekdays: 0 is not an ISO weekday (1 = Monday .. 7 = Sunday)."),
        ([8], "weekdays: 8 is not an ISO weekday (1 = Monday .. 7 = Sunday)."),
        ([1, 1], "weekdays must not repeat a day."),
        ([True], "weekdays must be a list of ISO weekdays (integers 1-7)."),
        (["1"], "weekdays must be a list of ISO weekdays (integers 1-7)."),
        ([1.0], "weekdays must be a list of ISO weekdays (integers 1-7)."),
        ("12", "weekdays must be a list of ISO weekdays (integers 1-7)."),
        ({"1": 1}, "weekdays must be a list of ISO weekdays (integers 1-7)."),
        (None, "weekdays must be a list of ISO weekdays (integers 1-7)."),
    ],
)
def test_iso_weekdays__invalid__error_naming_the_field(value, message):
    with pytest.raises(WeekdayError) as info:
        iso_weekdays(value)
    assert str(info.value) == message


def test_iso_weekdays__weekend__may_be_empty_and_holds_at_most_six_days():
    assert iso_weekdays([], field="weekend_days", weekend=True) == ()
    assert iso_weekdays([7, 6], field="weekend_days", weekend=True) == (6, 7)
    with pytest.raises(WeekdayError) as info:
        iso_weekdays(list(range(1, 8)), field="weekend_days", weekend=True)
    assert str(info.value) == (
        "weekend_days may hold at most 6 days: a calendar needs a business day."
    )


# --- RFC 3339 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 12, 24, 13, tzinfo=UTC), "2026-12-24T13:00:00Z"),
        (datetime(2026, 12, 24, 14, tzinfo=ZoneInfo("Europe/Berlin")), "2026-12-24T13:00:00Z"),
        (datetime(2026, 1, 1, 12, 0, 0, 5, tzinfo=UTC), "2026-01-01T12:00:00.000005Z"),
        (datetime(1900, 1, 1, tzinfo=timezone(timedelta(hours=-5))), "1900-01-01T05:00:00Z"),
    ],
)
def test_rfc3339__utc_with_z_and_fraction_only_when_present(moment, text):
    assert rfc3339(moment) == text


def test_pure_modules__import_nothing_of_django():
    code = (
        "import sys, cbpconfig.dates, calendars.businessdays, windows.scheduling, "
        "configuration.resolution, flags.rollout; "
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    assert out.strip() == "[]"
