"""Unit tests for calendars.businessdays (pure Python + NumPy; no Django needed).

The property tests use NumPy's busday_* functions, driven directly from the drawn weekends
and holidays (never through the module's own conversion code), as the independent oracle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import holidays
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calendars.businessdays import (
    CONVENTIONS,
    MAX_DATE,
    MAX_DAYS,
    MIN_DATE,
    BusinessCalendar,
    BusinessDayError,
    CalendarData,
    DateOutOfRange,
)

ROLLS = {
    "following": "following",
    "preceding": "preceding",
    "modified_following": "modifiedfollowing",
    "modified_preceding": "modifiedpreceding",
}
NP_MIN = np.datetime64("1900-01-01")
NP_MAX = np.datetime64("2199-12-31")
PROPERTY = settings(max_examples=200, deadline=None)


# --- oracle -----------------------------------------------------------------------------------


@dataclass
class Case:
    """A drawn calendar plus an anchor date near which its holidays cluster."""

    anchor: date
    datas: tuple[CalendarData, ...]

    @property
    def weekmask(self) -> list[int]:
        # Joint calendar: a weekday is a business weekday only if it is one in every member.
        return [int(all(wd not in d.weekend_days for d in self.datas)) for wd in range(1, 8)]

    @property
    def holiday_dates(self) -> list[str]:
        return sorted({h.isoformat() for d in self.datas for h, _ in d.holidays})

    def oracle(self) -> np.busdaycalendar | None:
        """NumPy calendar built straight from the drawn data; None if no business weekday."""
        if not any(self.weekmask):
            return None
        return np.busdaycalendar(
            weekmask=self.weekmask, holidays=np.array(self.holiday_dates, dtype="datetime64[D]")
        )

    def member_oracle(self, data: CalendarData) -> np.busdaycalendar:
        mask = [int(wd not in data.weekend_days) for wd in range(1, 8)]
        hol = np.array(sorted({h.isoformat() for h, _ in data.holidays}), dtype="datetime64[D]")
        return np.busdaycalendar(weekmask=mask, holidays=hol)


def np_day(d: date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


def in_range(r: np.datetime64) -> bool:
    return bool(NP_MIN <= r <= NP_MAX)


def as_date(r: np.datetime64) -> date:
    return date.fromisoformat(str(r))


# Dates are drawn as ordinals: st.dates() is several times slower to generate and generation
# dominates these tests' run time.
DATES = st.integers(date(1950, 1, 1).toordinal(), date(2150, 12, 31).toordinal()).map(
    date.fromordinal
)
NAMES = ("New Year", "Good Friday", "Easter Monday", "Labour Day", "Christmas")
DAYS = st.one_of(st.integers(-40, 40), st.integers(-MAX_DAYS, MAX_DAYS))
WINDOW = 150  # holidays cluster in anchor +- WINDOW days, where the tests look
MASK_BYTES = (2 * WINDOW + 1 + 7) // 8
WEEKEND_MASKS = st.integers(0, 126)  # 127 would be all seven days: invalid for one calendar


@st.composite
def cases(draw, joint: bool) -> Case:
    anchor = draw(DATES)
    n_members = draw(st.integers(2, 3)) if joint else 1
    datas = []
    for i in range(n_members):
        # Weekend as a 7-bit mask (one draw). Joint members AND two masks (each day ~25%
        # likely) so most unions still leave a business weekday; the all-seven case is still
        # drawn now and then and is checked too.
        mask = draw(WEEKEND_MASKS)
        if joint:
            mask &= draw(WEEKEND_MASKS)
        weekend = tuple(wd for wd in range(1, 8) if mask >> (wd - 1) & 1)
        # Near holidays come from random bitmasks over the window (a few byte-string draws:
        # much faster than a list of dates); AND-ing k masks gives density 2**-k, from none
        # (k = 0) through 50% (long runs of holidays for the rolls to cross) to ~6%.
        k = draw(st.integers(0, 4))
        bits = 0 if k == 0 else -1
        for _ in range(k):
            bits &= int.from_bytes(draw(st.binary(min_size=MASK_BYTES, max_size=MASK_BYTES)))
        near = [anchor + timedelta(days=o - WINDOW) for o in range(2 * WINDOW + 1) if bits >> o & 1]
        far = draw(st.lists(DATES, max_size=3))
        # Names are derived from the date: drawing them is slow and the fixed-calendar tests
        # cover names.
        hols = tuple((h, NAMES[h.toordinal() % len(NAMES)]) for h in near + far)
        datas.append(CalendarData(f"C{i}", weekend, hols))
    return Case(anchor, tuple(datas))


JOINT = pytest.mark.parametrize("joint", [False, True], ids=["single", "joint"])
OFFSETS = st.integers(-200, 200)


def drawn(data, joint: bool, offset: int = 0):
    """A drawn case, the module's calendar of it, NumPy's (None: no business weekday) and the
    day `offset` days from the case's anchor."""
    case = data.draw(cases(joint))
    day = case.anchor + timedelta(days=offset)
    return case, BusinessCalendar(*case.datas), case.oracle(), day


def busday(oracle: np.busdaycalendar | None, d: date) -> bool:
    """NumPy's answer: is `d` a business day (never, without a business weekday)."""
    return False if oracle is None else bool(np.is_busday(np_day(d), busdaycal=oracle))


# --- property tests against NumPy -------------------------------------------------------------


@JOINT
@PROPERTY
@given(data=st.data(), offset=OFFSETS)
def test_is_business_day__random_calendar__matches_numpy_is_busday(joint, data, offset):
    case, cal, oracle, d = drawn(data, joint, offset)
    assert cal.is_business_day(d) is busday(oracle, d)


@JOINT
@PROPERTY
@given(data=st.data(), offset=OFFSETS)
def test_check__random_calendar__bool_and_reasons_match_numpy(joint, data, offset):
    case, cal, oracle, d = drawn(data, joint, offset)
    ok, reasons = cal.check(d)
    assert ok is busday(oracle, d)
    # One reason per member calendar that, on its own, excludes the day.
    excluding = [
        m.code for m in case.datas if not np.is_busday(np_day(d), busdaycal=case.member_oracle(m))
    ]
    assert [r["calendar"] for r in reasons] == excluding
    for r in reasons:
        member = next(m for m in case.datas if m.code == r["calendar"])
        if r["kind"] == "weekend":
            assert d.isoweekday() in member.weekend_days
            assert r["name"] == d.strftime("%A")
        else:
            assert r["kind"] == "holiday"
            assert (d, r["name"]) in member.holidays


@JOINT
@PROPERTY
@given(data=st.data(), days=DAYS, convention=st.sampled_from(sorted(ROLLS)))
def test_add__random_calendar_and_convention__matches_numpy_busday_offset(
    joint, data, days, convention
):
    case, cal, oracle, d = drawn(data, joint)
    if oracle is None:
        with pytest.raises(BusinessDayError, match="no business days"):
            cal.add(d, days, convention)
        return
    expected = np.busday_offset(np_day(d), days, roll=ROLLS[convention], busdaycal=oracle)
    if in_range(expected):
        assert cal.add(d, days, convention) == as_date(expected)
    else:
        with pytest.raises(DateOutOfRange, match="outside the supported range"):
            cal.add(d, days, convention)


@JOINT
@PROPERTY
@given(data=st.data(), offset=OFFSETS, convention=st.sampled_from(CONVENTIONS))
def test_adjust__random_calendar_and_convention__matches_numpy_roll(
    joint, data, offset, convention
):
    case, cal, oracle, d = drawn(data, joint, offset)
    if convention == "unadjusted":
        assert cal.adjust(d, convention) == d
        return
    if oracle is None:
        with pytest.raises(BusinessDayError):
            cal.adjust(d, convention)
        return
    expected = np.busday_offset(np_day(d), 0, roll=ROLLS[convention], busdaycal=oracle)
    assert cal.adjust(d, convention) == as_date(expected)


@JOINT
@PROPERTY
@given(data=st.data(), offset=OFFSETS)
def test_next_and_previous__random_calendar__match_numpy(joint, data, offset):
    case, cal, oracle, d = drawn(data, joint, offset)
    if oracle is None:
        for op in (cal.next, cal.previous):
            with pytest.raises(BusinessDayError):
                op(d)
        return
    # On a business day, step one; otherwise the roll alone already moves strictly past d.
    if np.is_busday(np_day(d), busdaycal=oracle):
        nxt = np.busday_offset(np_day(d), 1, busdaycal=oracle)
        prv = np.busday_offset(np_day(d), -1, busdaycal=oracle)
    else:
        nxt = np.busday_offset(np_day(d), 0, roll="forward", busdaycal=oracle)
        prv = np.busday_offset(np_day(d), 0, roll="backward", busdaycal=oracle)
    assert cal.next(d) == as_date(nxt)
    assert cal.previous(d) == as_date(prv)
    assert cal.next(d) > d > cal.previous(d)


@JOINT
@PROPERTY
@given(data=st.data(), span=st.integers(-800, 800))
def test_count__random_calendar_and_span__matches_numpy_busday_count(joint, data, span):
    case, cal, oracle, _ = drawn(data, joint)
    start, end = case.anchor, case.anchor + timedelta(days=span)
    expected = (
        0 if oracle is None else int(np.busday_count(np_day(start), np_day(end), busdaycal=oracle))
    )
    assert cal.count(start, end) == expected


@JOINT
@PROPERTY
@given(data=st.data(), offset=OFFSETS, span=st.integers(0, 400))
def test_list__random_calendar_and_span__matches_numpy_day_by_day(joint, data, offset, span):
    case, cal, oracle, _ = drawn(data, joint)
    start = case.anchor + timedelta(days=offset)
    end = start + timedelta(days=span)
    days = [start + timedelta(days=i) for i in range(span + 1)]
    expected = (
        [] if oracle is None else [d for d in days if np.is_busday(np_day(d), busdaycal=oracle)]
    )
    assert cal.list(start, end) == expected
    assert len(expected) == cal.count(start, end + timedelta(days=1))


# --- facts: TARGET2 (holidays' "ECB" financial calendar) --------------------------------------


@pytest.fixture(scope="module")
def target2() -> BusinessCalendar:
    ecb = holidays.financial_holidays("ECB", years=range(2025, 2030))
    return BusinessCalendar(CalendarData("TARGET2", (6, 7), tuple(sorted(ecb.items()))))


def test_is_business_day__target2_good_friday_and_easter_monday_2026__closed(target2):
    assert not target2.is_business_day(date(2026, 4, 3))
    assert not target2.is_business_day(date(2026, 4, 6))


def test_is_business_day__target2_2027_12_27__open(target2):
    assert target2.is_business_day(date(2027, 12, 27))


def test_check__target2_good_friday__holiday_reason(target2):
    assert target2.check(date(2026, 4, 3)) == (
        False,
        [{"calendar": "TARGET2", "kind": "holiday", "name": "Good Friday"}],
    )


def test_check__target2_saturday__weekend_reason(target2):
    assert target2.check(date(2026, 4, 4)) == (
        False,
        [{"calendar": "TARGET2", "kind": "weekend", "name": "Saturday"}],
    )


def test_check__target2_business_day__no_reasons(target2):
    assert target2.check(date(2026, 4, 7)) == (True, [])


def test_add__target2_good_friday_following__rolls_to_tuesday(target2):
    assert target2.add(date(2026, 4, 3), 0, "following") == date(2026, 4, 7)
    assert target2.adjust(date(2026, 4, 3), "following") == date(2026, 4, 7)


def test_add__target2_good_friday_preceding__rolls_to_thursday(target2):
    assert target2.add(date(2026, 4, 3), 0, "preceding") == date(2026, 4, 2)


def test_add__modified_following__stays_in_month(target2):
    # 2028-04-30 is a Sunday; following would give 1 May (a holiday) then 2 May: next month.
    assert target2.adjust(date(2028, 4, 30), "modified_following") == date(2028, 4, 28)
    assert target2.add(date(2028, 4, 30), 0, "modified_following") == date(2028, 4, 28)


def test_count__target2_december_2026__22_business_days(target2):
    assert target2.count(date(2026, 12, 1), date(2027, 1, 1)) == 22
    # Reversed, NumPy counts (end, start] negated: 1 Dec is in, 1 Jan (a holiday) out -> -21.
    assert target2.count(date(2027, 1, 1), date(2026, 12, 1)) == -21
    assert len(target2.list(date(2026, 12, 1), date(2026, 12, 31))) == 22


def test_next_and_previous__target2_easter_2026__skip_the_long_weekend(target2):
    assert target2.next(date(2026, 4, 2)) == date(2026, 4, 7)
    assert target2.previous(date(2026, 4, 7)) == date(2026, 4, 2)


def test_check__joint_calendar__one_reason_per_excluding_member(target2):
    other = CalendarData("MIDEAST", (5, 6), ((date(2026, 4, 2), "Local Day"),))
    target2_data = target2.members[0]
    joint = BusinessCalendar(target2_data, other)
    assert joint.check(date(2026, 4, 3)) == (
        False,
        [
            {"calendar": "TARGET2", "kind": "holiday", "name": "Good Friday"},
            {"calendar": "MIDEAST", "kind": "weekend", "name": "Friday"},
        ],
    )
    assert joint.check(date(2026, 4, 2))[1] == [
        {"calendar": "MIDEAST", "kind": "holiday", "name": "Local Day"}
    ]
    assert joint.previous(date(2026, 4, 7)) == date(2026, 4, 1)


def test_joint_calendar__weekends_cover_all_days__raises_no_business_days():
    joint = BusinessCalendar(CalendarData("A", (1, 2, 3, 4)), CalendarData("B", (5, 6, 7)))
    assert not joint.is_business_day(date(2026, 1, 5))
    assert joint.count(date(2026, 1, 1), date(2026, 2, 1)) == 0
    assert joint.list(date(2026, 1, 1), date(2026, 2, 1)) == []
    assert joint.adjust(date(2026, 1, 5), "unadjusted") == date(2026, 1, 5)
    for call in (
        lambda: joint.add(date(2026, 1, 5), 1),
        lambda: joint.adjust(date(2026, 1, 5), "following"),
        lambda: joint.next(date(2026, 1, 5)),
        lambda: joint.previous(date(2026, 1, 5)),
    ):
        with pytest.raises(BusinessDayError, match="joint calendar has no business days"):
            call()


# --- bad input --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain() -> BusinessCalendar:
    return BusinessCalendar(CalendarData("PLAIN", (6, 7)))


def test_errors__date_out_of_range__is_a_business_day_error_and_value_error():
    assert issubclass(DateOutOfRange, BusinessDayError)
    assert issubclass(BusinessDayError, ValueError)


@pytest.mark.parametrize("days", [MAX_DAYS + 1, -MAX_DAYS - 1])
def test_add__days_outside_limit__raises_naming_days(plain, days):
    with pytest.raises(
        BusinessDayError, match=rf"days must be between -100000 and 100000, got {days}"
    ):
        plain.add(date(2026, 1, 5), days)


@pytest.mark.parametrize("days", [True, 1.5, "3"])
def test_add__days_not_an_integer__raises(plain, days):
    with pytest.raises(BusinessDayError, match="days must be an integer"):
        plain.add(date(2026, 1, 5), days)


def test_add__days_at_limit__accepted():
    # Only a calendar with (almost) no weekend stays in range 100000 business days on.
    no_weekend = BusinessCalendar(CalendarData("NOWEEKEND", ()))
    assert no_weekend.add(MIN_DATE, MAX_DAYS) == MIN_DATE + timedelta(days=MAX_DAYS)
    assert no_weekend.add(MAX_DATE, -MAX_DAYS) == MAX_DATE - timedelta(days=MAX_DAYS)


@pytest.mark.parametrize("convention", ["following_ish", "", None, ["following"]])
def test_add__unknown_convention__raises_naming_it(plain, convention):
    with pytest.raises(BusinessDayError, match="unknown convention"):
        plain.add(date(2026, 1, 5), 1, convention)
    with pytest.raises(BusinessDayError, match="unknown convention"):
        plain.adjust(date(2026, 1, 5), convention)


def test_add__unadjusted__raises_adjust_only(plain):
    with pytest.raises(BusinessDayError, match="convention 'unadjusted' applies to adjust only"):
        plain.add(date(2026, 1, 5), 1, "unadjusted")


def test_list__span_3661_days__raises_naming_span(plain):
    start = date(2026, 1, 1)
    with pytest.raises(BusinessDayError, match="is 3661 days; at most 3660 allowed"):
        plain.list(start, start + timedelta(days=3661))
    assert len(plain.list(start, start + timedelta(days=3660))) > 2000


def test_list__end_before_start__raises(plain):
    with pytest.raises(BusinessDayError, match="end 2026-01-01 is before start 2026-01-02"):
        plain.list(date(2026, 1, 2), date(2026, 1, 1))


def test_add__result_past_2199_12_31__raises_date_out_of_range(plain):
    with pytest.raises(DateOutOfRange, match="result 2200-01-.. is outside the supported range"):
        plain.add(date(2199, 12, 30), 5)
    with pytest.raises(DateOutOfRange, match="outside the supported range"):
        plain.next(MAX_DATE)
    with pytest.raises(DateOutOfRange, match="outside the supported range"):
        plain.previous(MIN_DATE)
    with pytest.raises(DateOutOfRange, match="outside the supported range"):
        plain.add(date(1900, 1, 2), -MAX_DAYS)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.add(date(1899, 12, 31), 1),
        lambda c: c.adjust(date(1899, 12, 31), "unadjusted"),
        lambda c: c.is_business_day(date(1899, 12, 31)),
        lambda c: c.check(date(1899, 12, 31)),
        lambda c: c.next(date(1899, 12, 31)),
        lambda c: c.count(date(1899, 12, 31), date(1900, 2, 1)),
        lambda c: c.list(date(1899, 12, 31), date(1900, 2, 1)),
    ],
)
def test_input_before_1900_01_01__raises_date_out_of_range_naming_date(plain, call):
    with pytest.raises(DateOutOfRange, match="1899-12-31 is outside the supported range"):
        call(plain)


def test_input_after_2199_12_31__raises_date_out_of_range(plain):
    with pytest.raises(DateOutOfRange, match="end 2200-01-01 is outside the supported range"):
        plain.count(date(2199, 1, 1), date(2200, 1, 1))


def test_add__not_a_date__raises(plain):
    with pytest.raises(BusinessDayError, match="date must be a date"):
        plain.add("2026-01-05", 1)


# --- weekend validation (the rule is cbpconfig.dates.iso_weekdays) ---------------------------


def test_calendar_data__weekend__normalised_to_a_sorted_tuple():
    assert CalendarData("X", [7, 6]).weekend_days == (6, 7)
    assert CalendarData("X", []).weekend_days == ()
    assert CalendarData("X", {1, 2, 3, 4, 5, 6}).weekend_days == (1, 2, 3, 4, 5, 6)
    assert CalendarData("X", (np.int64(6), 7)).weekend_days == (6, 7)


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ([1, 2, 3, 4, 5, 6, 7], "weekend_days may hold at most 6 days"),
        ([6, 6], "weekend_days must not repeat a day"),
        ([0], "weekend_days: 0 is not an ISO weekday"),
        ([8], "weekend_days: 8 is not an ISO weekday"),
        ([True], "must be a list of ISO weekdays"),
        (["6"], "must be a list of ISO weekdays"),
        ("67", "must be a list of ISO weekdays"),
        (6, "must be a list of ISO weekdays"),
    ],
)
def test_calendar_data__bad_weekend__business_day_error_naming_problem(days, message):
    with pytest.raises(BusinessDayError, match=message):
        CalendarData("BAD", days)
