"""Unit tests for windows.scheduling (pure, no Django).

Business days of the Fedwire-style window: Monday-Friday minus the Federal Reserve holidays
of the ``holidays`` package (``holidays.financial_holidays("XFED")``; unlike ``holidays.US``
it does not move a Saturday holiday to the Friday, as the Fed does not).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from windows.scheduling import (
    MAX_SESSION_SPAN_DAYS,
    Override,
    Rule,
    Schedule,
    ScheduleError,
    Session,
    Status,
    WindowSpec,
    check_overlaps,
    check_override_against,
    format_time,
    parse_time,
)

NY = "America/New_York"
WEEKDAYS = frozenset({1, 2, 3, 4, 5})
EVERY_DAY = frozenset(range(1, 8))
FED_HOLIDAYS = frozenset(holidays.financial_holidays("XFED", years=range(2019, 2030)))


def fed_business_day(d: date) -> bool:
    return d.isoweekday() <= 5 and d not in FED_HOLIDAYS


def every_day(_d: date) -> bool:
    return True


# Fedwire closed at 18:30 ET until 2021-03-05 and at 19:00 ET from 2021-03-08: two rules.
FEDWIRE_OLD = Rule("day", WEEKDAYS, time(21), -1, time(18, 30), 0, None, date(2021, 3, 7))
FEDWIRE = Rule("day", WEEKDAYS, time(21), -1, time(19), 0, date(2021, 3, 8))


def fedwire(overrides: tuple[Override, ...] = (), *, active: bool = True) -> WindowSpec:
    return WindowSpec("FEDWIRE", NY, active, (FEDWIRE_OLD, FEDWIRE), overrides)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(NY))


def only(sessions: list[Session]) -> Session:
    assert len(sessions) == 1, sessions
    return sessions[0]


def session_of(spec: WindowSpec, d: date, bd=fed_business_day) -> Session:
    return only(Schedule(spec, bd).sessions_between(d, d))


EARLY_CLOSE_2026_12_24 = Override(
    date(2026, 12, 24),
    False,
    (Rule("early", (), time(21), -1, time(13), 0),),
    "Christmas Eve early close",
)


# --------------------------------------------------------------------------------------------
# Sessions of the Fedwire-style window
# --------------------------------------------------------------------------------------------


def test_sessions__monday_after_spring_forward__opens_sunday_2100_edt():
    s = session_of(fedwire(), date(2026, 3, 9))
    assert (s.opens_at, s.closes_at) == (utc(2026, 3, 9, 1), utc(2026, 3, 9, 23))
    assert (s.business_date, s.label, s.source) == (date(2026, 3, 9), "day", "regular")


def test_sessions__monday_after_fall_back__opens_sunday_2100_est():
    s = session_of(fedwire(), date(2026, 11, 2))
    assert (s.opens_at, s.closes_at) == (utc(2026, 11, 2, 2), utc(2026, 11, 3, 0))


def test_sessions__friday_before_spring_forward__both_ends_in_est():
    s = session_of(fedwire(), date(2026, 3, 6))
    assert (s.opens_at, s.closes_at) == (utc(2026, 3, 6, 2), utc(2026, 3, 7, 0))


def test_sessions__between__ordered_by_opens_at_and_skip_weekends_and_holidays():
    got = Schedule(fedwire(), fed_business_day).sessions_between(
        date(2026, 1, 14), date(2026, 1, 21)
    )
    assert [s.business_date for s in got] == [
        date(2026, 1, 14),
        date(2026, 1, 15),
        date(2026, 1, 16),
        # 17/18 weekend, 19 Martin Luther King Jr. Day
        date(2026, 1, 20),
        date(2026, 1, 21),
    ]
    assert [s.opens_at for s in got] == sorted(s.opens_at for s in got)


def test_sessions__on_federal_holiday__none():
    assert (
        Schedule(fedwire(), fed_business_day).sessions_between(date(2026, 1, 19), date(2026, 1, 19))
        == []
    )


def test_sessions__override_on_holiday__opens_it():
    ov = Override(date(2026, 1, 19), False, (Rule("special", (), time(8), 0, time(12), 0),), "x")
    s = session_of(fedwire((ov,)), date(2026, 1, 19))
    assert (s.label, s.source) == ("special", "override")
    assert (s.opens_at, s.closes_at) == (utc(2026, 1, 19, 13), utc(2026, 1, 19, 17))


def test_sessions__override_on_saturday__exceptional_opening():
    ov = Override(date(2026, 3, 14), False, (Rule("sat", (), time(9), 0, time(11), 0),), "x")
    s = session_of(fedwire((ov,)), date(2026, 3, 14))
    assert (s.opens_at, s.source) == (utc(2026, 3, 14, 13), "override")


def test_sessions__closed_override_on_business_day__none():
    ov = Override(date(2026, 3, 10), True, (), "outage")
    spec = fedwire((ov,))
    got = Schedule(spec, fed_business_day).sessions_between(date(2026, 3, 9), date(2026, 3, 11))
    assert [s.business_date for s in got] == [date(2026, 3, 9), date(2026, 3, 11)]


def test_sessions__early_close_override_on_christmas_eve__shortens_that_day_only():
    spec = fedwire((EARLY_CLOSE_2026_12_24,))
    got = Schedule(spec, fed_business_day).sessions_between(date(2026, 12, 23), date(2026, 12, 29))
    assert [(s.business_date, s.label, s.source) for s in got] == [
        (date(2026, 12, 23), "day", "regular"),
        (date(2026, 12, 24), "early", "override"),
        # 25 Christmas, 26/27 weekend
        (date(2026, 12, 28), "day", "regular"),
        (date(2026, 12, 29), "day", "regular"),
    ]
    assert got[0].closes_at == utc(2026, 12, 24, 0)
    assert (got[1].opens_at, got[1].closes_at) == (utc(2026, 12, 24, 2), utc(2026, 12, 24, 18))
    assert got[2].closes_at == utc(2026, 12, 29, 0)


def test_sessions__rule_change_effective_from__earlier_dates_keep_old_hours():
    before = session_of(fedwire(), date(2021, 3, 5))
    after = session_of(fedwire(), date(2021, 3, 8))
    assert before.closes_at == ny(2021, 3, 5, 18, 30) == utc(2021, 3, 5, 23, 30)
    assert after.closes_at == ny(2021, 3, 8, 19) == utc(2021, 3, 9, 0)
    assert after.opens_at == ny(2021, 3, 7, 21)
    assert check_overlaps(fedwire().rules, (), NY, reference_year=2021) == []
    assert check_overlaps(fedwire().rules, (), NY) == []


def test_sessions__inactive_window__none_even_with_override():
    ov = Override(date(2026, 1, 19), False, (Rule("special", (), time(8), 0, time(12), 0),), "x")
    spec = fedwire((ov,), active=False)
    assert (
        Schedule(spec, fed_business_day).sessions_between(date(2026, 1, 1), date(2026, 12, 31))
        == []
    )
    st = Schedule(spec, fed_business_day).status(utc(2026, 1, 19, 14))
    assert (st.is_open, st.current_session, st.next_session, st.processing_date) == (
        False,
        None,
        None,
        None,
    )


def test_sessions__start_after_end__schedule_error():
    with pytest.raises(ScheduleError):
        Schedule(fedwire(), fed_business_day).sessions_between(date(2026, 1, 2), date(2026, 1, 1))


def test_max_session_span_days__is_366():
    assert MAX_SESSION_SPAN_DAYS == 366


# --------------------------------------------------------------------------------------------
# DST: fold=0
# --------------------------------------------------------------------------------------------


def test_sessions__spring_forward_gap_time__read_with_offset_before_change():
    spec = WindowSpec("GAP", NY, True, (Rule("early", EVERY_DAY, time(2, 30), 0, time(5), 0),))
    gap_day, next_day = Schedule(spec, every_day).sessions_between(
        date(2026, 3, 8), date(2026, 3, 9)
    )
    assert gap_day.opens_at == utc(2026, 3, 8, 7, 30)  # 02:30 does not exist; read as EST
    assert gap_day.closes_at == utc(2026, 3, 8, 9)  # 05:00 EDT
    assert next_day.opens_at == utc(2026, 3, 9, 6, 30)  # 02:30 EDT


def test_sessions__fall_back_ambiguous_time__first_occurrence():
    spec = WindowSpec("AMB", NY, True, (Rule("x", EVERY_DAY, time(1, 30), 0, time(3), 0),))
    s = session_of(spec, date(2026, 11, 1), every_day)
    assert s.opens_at == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, the first 01:30
    assert s.closes_at == utc(2026, 11, 1, 8)  # 03:00 EST
    assert s.closes_at - s.opens_at == timedelta(hours=2, minutes=30)  # instants, not walls


# --------------------------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------------------------


def test_status__exactly_at_opens_at__is_open():
    st = Schedule(fedwire(), fed_business_day).status(utc(2026, 3, 9, 1))
    assert st.is_open
    assert st.current_session == session_of(fedwire(), date(2026, 3, 9))
    assert st.processing_date == date(2026, 3, 9)
    assert st.seconds_until_close == 22 * 3600


def test_status__exactly_at_closes_at__is_closed():
    st = Schedule(fedwire(), fed_business_day).status(utc(2026, 3, 9, 23))
    assert not st.is_open
    assert st.current_session is None
    assert st.seconds_until_close is None
    assert st.next_session == session_of(fedwire(), date(2026, 3, 10))
    assert st.processing_date == date(2026, 3, 10)


def test_status__one_microsecond_before_close__open_with_zero_seconds_left():
    st = Schedule(fedwire(), fed_business_day).status(
        utc(2026, 3, 9, 23) - timedelta(microseconds=1)
    )
    assert st.is_open
    assert st.seconds_until_close == 0


def test_status__after_cutoff_on_friday__processes_on_monday():
    st = Schedule(fedwire(), fed_business_day).status(ny(2026, 3, 13, 19, 30))
    assert not st.is_open
    assert st.current_session is None
    assert st.processing_date == date(2026, 3, 16)
    assert st.next_session.opens_at == ny(2026, 3, 15, 21) == utc(2026, 3, 16, 1)
    assert not st.decided_by_override


def test_status__sunday_evening_after_open__open_for_monday():
    st = Schedule(fedwire(), fed_business_day).status(ny(2026, 3, 15, 22))
    assert st.is_open
    assert st.processing_date == date(2026, 3, 16)
    assert st.next_session.business_date == date(2026, 3, 17)


def test_status__after_cutoff_before_holiday_weekend__processes_on_tuesday():
    st = Schedule(fedwire(), fed_business_day).status(ny(2026, 1, 16, 19, 30))
    assert st.processing_date == date(2026, 1, 20)
    assert st.next_session.opens_at == ny(2026, 1, 19, 21)


def test_status__during_early_close_override__decided_by_override():
    spec = fedwire((EARLY_CLOSE_2026_12_24,))
    st = Schedule(spec, fed_business_day).status(ny(2026, 12, 24, 12))
    assert st.is_open
    assert st.current_session.source == "override"
    assert st.seconds_until_close == 3600
    assert st.decided_by_override


def test_status__after_early_close__next_is_regular_monday():
    spec = fedwire((EARLY_CLOSE_2026_12_24,))
    st = Schedule(spec, fed_business_day).status(ny(2026, 12, 24, 13))
    assert not st.is_open
    assert st.processing_date == date(2026, 12, 28)
    assert st.next_session.opens_at == ny(2026, 12, 27, 21)
    assert not st.decided_by_override


def test_status__closed_override_today__skips_to_next_date():
    spec = fedwire((Override(date(2026, 3, 10), True, (), "outage"),))
    st = Schedule(spec, fed_business_day).status(ny(2026, 3, 9, 19, 30))
    assert st.processing_date == date(2026, 3, 11)
    assert st.next_session.opens_at == ny(2026, 3, 10, 21)


def test_status__next_session_only_within_400_days():
    rule = Rule("r", EVERY_DAY, time(9), 0, time(10), 0)
    at = utc(2026, 1, 1, 12)
    for days, found in ((399, True), (401, False)):
        d = date(2026, 1, 1) + timedelta(days=days)
        spec = WindowSpec("RARE", "UTC", True, (rule,), (Override(d, False, (rule,), "x"),))
        st = Schedule(spec, lambda _d: False).status(at)
        assert (st.next_session is not None) is found
        assert st.processing_date == (d if found else None)


def test_status__naive_at__schedule_error():
    with pytest.raises(ScheduleError):
        Schedule(fedwire(), fed_business_day).status(datetime(2026, 3, 9, 12))


def test_status__any_offset_of_at__same_answer_in_utc():
    sched = Schedule(fedwire(), fed_business_day)
    a = sched.status(ny(2026, 3, 13, 19, 30))
    b = sched.status(utc(2026, 3, 13, 23, 30))
    assert a == b
    assert a.at.tzinfo is UTC


def test_schedule__reused_across_far_apart_instants__same_as_fresh():
    sched = Schedule(fedwire((EARLY_CLOSE_2026_12_24,)), fed_business_day)
    for at in (
        utc(2026, 12, 24, 17),
        utc(2021, 3, 5, 23, 29),
        utc(2026, 12, 24, 17),
        utc(2029, 1, 1),
        utc(2020, 7, 3, 12),
    ):
        assert sched.status(at) == Schedule(sched.spec, fed_business_day).status(at)


def test_schedule__status_walked_over_months_both_ways__matches_brute_force():
    # One Schedule answering a moving "now" crosses its internal chunk boundaries.
    spec = fedwire((EARLY_CLOSE_2026_12_24, Override(date(2027, 1, 2), False, (FEDWIRE,), "x")))
    sched = Schedule(spec, fed_business_day)
    scan = Schedule(spec, fed_business_day).sessions_between(date(2026, 10, 1), date(2028, 6, 1))
    for at0, step in ((utc(2026, 10, 20, 0, 17), 1), (utc(2027, 3, 1, 0, 17), -1)):
        at = at0
        for _ in range(700):  # forwards, then backwards
            current, nxt = brute_force_status(scan, at)
            got = sched.status(at)
            assert (got.current_session, got.next_session) == (current, nxt), at
            at += step * timedelta(hours=5, minutes=3)


def test_schedule__overlapping_sessions__current_is_latest_opened_containing_at():
    # Validation refuses such rules; the answer must still be well defined.
    rules = (
        Rule("long", EVERY_DAY, time(8), 0, time(20), 0),
        Rule("short", EVERY_DAY, time(9), 0, time(10), 0),
    )
    sched = Schedule(WindowSpec("X", "UTC", True, rules), every_day)
    assert sched.status(utc(2026, 5, 5, 9, 30)).current_session.label == "short"
    assert sched.status(utc(2026, 5, 5, 11)).current_session.label == "long"


def test_schedule__bad_timezone__schedule_error():
    with pytest.raises(ScheduleError):
        Schedule(WindowSpec("X", "Mars/Olympus", True, (FEDWIRE,)), fed_business_day)


# --------------------------------------------------------------------------------------------
# API shapes
# --------------------------------------------------------------------------------------------


def test_session_to_dict__api_shape_with_local_offset():
    spec = WindowSpec(
        "SCT", "Europe/Berlin", True, (Rule("day", WEEKDAYS, time(7), 0, time(14), 0),)
    )
    s = session_of(spec, date(2026, 12, 24), every_day)
    sched = Schedule(spec, every_day)
    assert sched.session_to_dict(s) == {
        "business_date": "2026-12-24",
        "label": "day",
        "opens_at": "2026-12-24T06:00:00Z",
        "closes_at": "2026-12-24T13:00:00Z",
        "opens_at_local": "2026-12-24T07:00:00+01:00",
        "closes_at_local": "2026-12-24T14:00:00+01:00",
        "source": "regular",
    }
    # Memoized, but every answer is a fresh copy.
    first = sched.session_to_dict(s)
    first["label"] = "changed"
    assert sched.session_to_dict(s)["label"] == "day"


def test_status_to_dict__api_shape():
    spec = fedwire()
    sched = Schedule(spec, fed_business_day)
    st = sched.status(ny(2026, 3, 13, 18))
    expected = {
        "window": "FEDWIRE",
        "at": "2026-03-13T22:00:00Z",
        "is_open": True,
        "current_session": {
            "business_date": "2026-03-13",
            "label": "day",
            "opens_at": "2026-03-13T01:00:00Z",
            "closes_at": "2026-03-13T23:00:00Z",
            "opens_at_local": "2026-03-12T21:00:00-04:00",
            "closes_at_local": "2026-03-13T19:00:00-04:00",
            "source": "regular",
        },
        "next_session": {
            "business_date": "2026-03-16",
            "label": "day",
            "opens_at": "2026-03-16T01:00:00Z",
            "closes_at": "2026-03-16T23:00:00Z",
            "opens_at_local": "2026-03-15T21:00:00-04:00",
            "closes_at_local": "2026-03-16T19:00:00-04:00",
            "source": "regular",
        },
        "processing_date": "2026-03-13",
        "seconds_until_close": 3600,
    }
    assert sched.status_to_dict(st) == expected


def test_status_to_dict__closed_without_next__nulls():
    sched = Schedule(fedwire(active=False), fed_business_day)
    st = sched.status(utc(2026, 1, 1))
    assert sched.status_to_dict(st) == {
        "window": "FEDWIRE",
        "at": "2026-01-01T00:00:00Z",
        "is_open": False,
        "current_session": None,
        "next_session": None,
        "processing_date": None,
        "seconds_until_close": None,
    }


def test_status_to_dict__at_with_fraction__rfc3339_z_keeps_it():
    sched = Schedule(fedwire(), fed_business_day)
    st = sched.status(ny(2026, 1, 1, 12) + timedelta(microseconds=5))
    assert sched.status_to_dict(st)["at"] == "2026-01-01T17:00:00.000005Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("07:00", time(7)), ("23:59:59", time(23, 59, 59)), ("00:00", time(0))],
)
def test_parse_time__valid(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["7:00", "24:00", "12:60", "12:00:60", "12", "", "12:00Z", None])
def test_parse_time__invalid__schedule_error(text):
    with pytest.raises(ScheduleError):
        parse_time(text)


def test_format_time__seconds_only_when_present():
    assert format_time(time(7)) == "07:00"
    assert format_time(time(18, 30, 15)) == "18:30:15"
    assert parse_time(format_time(time(18, 30, 15))) == time(18, 30, 15)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def test_check_override_against__opening_inside_previous_day_session__refused():
    ov = Override(date(2026, 3, 10), False, (Rule("early", (), time(18), -1, time(12), 0),), "x")
    problems = check_override_against(fedwire(), fed_business_day, ov)
    assert problems == [
        "override session 'early' on 2026-03-10 overlaps session 'day' on 2026-03-09"
    ]


def test_check_override_against__closing_inside_next_day_session__refused():
    ov = Override(date(2026, 3, 10), False, (Rule("late", (), time(22), -1, time(22), 0),), "x")
    problems = check_override_against(fedwire(), fed_business_day, ov)
    assert problems == [
        "session 'day' on 2026-03-11 overlaps override session 'late' on 2026-03-10"
    ]


def test_check_override_against__early_close__accepted():
    assert check_override_against(fedwire(), fed_business_day, EARLY_CLOSE_2026_12_24) == []


def test_check_override_against__replaces_existing_override_of_same_date():
    long_day = Override(
        date(2026, 3, 10), False, (Rule("long", (), time(12), -1, time(23), 0),), "x"
    )
    spec = fedwire((long_day,))
    shorter = Override(
        date(2026, 3, 10), False, (Rule("short", (), time(21), -1, time(19), 0),), ""
    )
    assert check_override_against(spec, fed_business_day, shorter) == []
    # ...while the existing one does clash with both neighbours.
    assert len(check_override_against(fedwire(), fed_business_day, long_day)) == 2


def test_check_override_against__sessions_overlapping_each_other__refused():
    ov = Override(
        date(2026, 3, 14),
        False,
        (Rule("a", (), time(9), 0, time(12), 0), Rule("b", (), time(11), 0, time(13), 0)),
        "x",
    )
    assert check_override_against(fedwire(), fed_business_day, ov) == [
        "override session 'b' on 2026-03-14 overlaps override session 'a' on 2026-03-14"
    ]


def test_check_override_against__closed__always_fine():
    ov = Override(date(2026, 3, 10), True, (), "x")
    assert check_override_against(fedwire(), fed_business_day, ov) == []


def test_check_override_against__bad_fields__reported():
    ov = Override(date(2026, 3, 14), False, (Rule("a", (), time(9), 1, time(8), 0),), "x")
    problems = check_override_against(fedwire(), fed_business_day, ov)
    assert any("opens_day_offset" in p for p in problems)
    assert any("is not before closes" in p for p in problems)


def test_check_overlaps__fedwire_with_early_close__fine():
    assert check_overlaps(fedwire().rules, (EARLY_CLOSE_2026_12_24,), NY, fed_business_day) == []


def test_check_overlaps__neighbouring_dates_overlap__named():
    rules = (
        Rule("day", EVERY_DAY, time(8), 0, time(22), 0),
        Rule("night", EVERY_DAY, time(21), -1, time(6), 0),
    )
    problems = check_overlaps(rules, (), NY, reference_year=2026)
    assert len(problems) == 1
    m = re.fullmatch(r"session 'night' on (\S+) overlaps session 'day' on (\S+)", problems[0])
    assert m is not None, problems
    assert date.fromisoformat(m[1]) - date.fromisoformat(m[2]) == timedelta(days=1)


def test_check_overlaps__neighbouring_dates_only_on_given_weekdays():
    rules = (
        Rule("day", frozenset({7}), time(8), 0, time(22), 0),  # Sunday
        Rule("night", frozenset({1}), time(21), -1, time(6), 0),  # Monday, from Sunday 21:00
    )
    problems = check_overlaps(rules, (), NY, reference_year=2026)
    assert problems == ["session 'night' on 2026-01-05 overlaps session 'day' on 2026-01-04"]
    # Monday's night session after a Saturday day session: no neighbour, no overlap.
    assert check_overlaps((replace(rules[0], weekdays=frozenset({6})), rules[1]), (), NY) == []


def test_check_overlaps__same_date_overlap__named():
    rules = (
        Rule("a", WEEKDAYS, time(8), 0, time(12), 0),
        Rule("b", WEEKDAYS, time(11), 0, time(13), 0),
    )
    problems = check_overlaps(rules, (), "Europe/Berlin", reference_year=2026)
    assert len(problems) == 1
    assert re.fullmatch(r"session 'b' on (\S+) overlaps session 'a' on \1", problems[0])


def test_check_overlaps__self_overlap_of_one_rule_with_next_day():
    rules = (Rule("long", EVERY_DAY, time(20), -1, time(21), 0),)
    problems = check_overlaps(rules, (), "UTC", reference_year=2026)
    assert len(problems) == 1
    assert "session 'long' on" in problems[0]
    assert "overlaps session 'long' on" in problems[0]


def test_check_overlaps__dst_makes_session_empty__refused_naming_the_day():
    # 02:00 and 03:00 on the spring-forward day are the same instant (07:00Z).
    rules = (Rule("x", EVERY_DAY, time(2), 0, time(3), 0),)
    assert check_overlaps(rules, (), NY, reference_year=2026) == [
        "session 'x' on 2026-03-08 does not open before it closes "
        "(2026-03-08T07:00:00Z .. 2026-03-08T07:00:00Z)"
    ]
    assert check_overlaps(rules, (), "Asia/Tokyo", reference_year=2026) == []


def test_check_overlaps__dst_gap_makes_rules_overlap__refused_naming_the_day():
    # Fine on a normal day; on the spring-forward day 02:30 is read as EST (07:30Z), after
    # 03:00 EDT (07:00Z).
    rules = (
        Rule("early", EVERY_DAY, time(0), 0, time(2, 30), 0),
        Rule("late", EVERY_DAY, time(3), 0, time(5), 0),
    )
    assert check_overlaps(rules, (), NY, reference_year=2026) == [
        "session 'late' on 2026-03-08 overlaps session 'early' on 2026-03-08"
    ]
    assert check_overlaps(rules, (), "Asia/Tokyo", reference_year=2026) == []


def test_check_overlaps__dst_gap_overlap_across_neighbouring_dates__southern_hemisphere():
    # Sydney springs forward 02:00 → 03:00 on 2026-10-04. "a" of 10-03 closes at 02:30 on
    # 10-04, read as AEST (16:30Z), after "b" of 10-04 opens at 03:00 AEDT (16:00Z).
    rules = (
        Rule("a", EVERY_DAY, time(4), 0, time(2, 30), 1),
        Rule("b", EVERY_DAY, time(3), 0, time(3, 45), 0),
    )
    assert check_overlaps(rules, (), "Australia/Sydney", reference_year=2026) == [
        "session 'b' on 2026-10-04 overlaps session 'a' on 2026-10-03"
    ]


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        (Rule("r", WEEKDAYS, time(9), -2, time(10), 0), "opens_day_offset must be -1 or 0"),
        (Rule("r", WEEKDAYS, time(9), 0, time(10), 2), "closes_day_offset must be 0 or 1"),
        (
            Rule("r", frozenset(), time(9), 0, time(10), 0),
            "weekdays must name at least one ISO weekday",
        ),
        (
            Rule("r", frozenset({0, 8}), time(9), 0, time(10), 0),
            "weekdays: 0 is not an ISO weekday",
        ),
        (Rule("r", WEEKDAYS, time(10), 0, time(10), 0), "is not before closes"),
        (Rule("r", WEEKDAYS, time(21), 0, time(19), 0), "is not before closes"),
        (Rule("r", WEEKDAYS, time(9), -1, time(8), -1), "closes_day_offset must be 0 or 1"),
        (
            Rule("r", WEEKDAYS, time(9), 0, time(10), 0, date(2026, 2, 1), date(2026, 1, 1)),
            "effective_from 2026-02-01 is after effective_until 2026-01-01",
        ),
    ],
)
def test_check_overlaps__bad_rule_fields__reported(rule, fragment):
    problems = check_overlaps((rule,), (), NY)
    assert any(fragment in p and "'r'" in p for p in problems), problems


def test_check_overlaps__wall_clock_fine_with_offsets__accepted():
    rules = (Rule("r", WEEKDAYS, time(21), 0, time(19), 1),)  # 21:00 D .. 19:00 D+1
    assert check_overlaps(rules, (), NY) == []


def test_check_overlaps__unknown_zone__reported():
    assert check_overlaps((FEDWIRE,), (), "Nowhere/City") == ["unknown time zone 'Nowhere/City'"]


def test_check_overlaps__duplicate_override_date__reported():
    ov = Override(date(2026, 3, 10), True, (), "x")
    assert check_overlaps((FEDWIRE,), (ov, ov), NY) == [
        "override on 2026-03-10: more than one for this date"
    ]


def test_check_overlaps__override_against_neighbours__named():
    ov = Override(date(2026, 3, 10), False, (Rule("early", (), time(18), -1, time(12), 0),), "x")
    assert check_overlaps((FEDWIRE,), (ov,), NY, fed_business_day) == [
        "override session 'early' on 2026-03-10 overlaps session 'day' on 2026-03-09"
    ]


def test_check_overlaps__rule_changes_overlapping_at_boundary__refused():
    old = Rule("old", WEEKDAYS, time(8), 0, time(23), 0, None, date(2021, 3, 8))
    new = Rule("new", WEEKDAYS, time(22), -1, time(19), 0, date(2021, 3, 9))
    assert check_overlaps((old, new), (), NY) == [
        "session 'new' on 2021-03-09 overlaps session 'old' on 2021-03-08"
    ]


def test_check_overlaps__rules_effective_only_in_the_past__checked_there():
    a = Rule("a", EVERY_DAY, time(8), 0, time(12), 0, date(2001, 1, 1), date(2001, 6, 30))
    b = Rule("b", EVERY_DAY, time(11), 0, time(13), 0, date(2001, 6, 1), date(2002, 1, 1))
    assert check_overlaps((a, b), (), NY, reference_year=2026) == [
        "session 'b' on 2001-06-01 overlaps session 'a' on 2001-06-01"
    ]


# --------------------------------------------------------------------------------------------
# Properties (hypothesis)
# --------------------------------------------------------------------------------------------

ZONES = [
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Tokyo",
    "America/Sao_Paulo",  # DST until 2019, southern hemisphere, changes at midnight
    "America/Havana",  # changes at midnight
    "America/St_Johns",
    "Pacific/Chatham",
    "Pacific/Apia",  # skipped 2011-12-30 entirely
    "Africa/Casablanca",
    "UTC",
]

_times = st.builds(
    time, st.integers(0, 23), st.integers(0, 59), st.sampled_from([0, 0, 0, 0, 30, 59])
)
_weekday_sets = st.frozensets(st.integers(1, 7), min_size=1)
_dates = st.one_of(
    st.dates(date(1985, 1, 1), date(2060, 12, 31)),
    # Around DST changes more often.
    st.builds(
        date,
        st.integers(1985, 2060),
        st.sampled_from([3, 4, 9, 10, 11]),
        st.integers(1, 28),
    ),
    st.dates(date(2011, 12, 20), date(2012, 1, 5)),  # Apia's missing day
)


@st.composite
def random_rules(draw, base: date) -> tuple[Rule, ...]:
    """Arbitrary well-formed-ish rules (may overlap)."""
    rules = []
    for i in range(draw(st.integers(1, 3))):
        oo = draw(st.sampled_from([-1, 0]))
        co = draw(st.sampled_from([0, 1]))
        opens, closes = draw(_times), draw(_times)
        assume((oo, opens) < (co, closes))
        eff_from = draw(st.none() | st.integers(-20, 20).map(lambda k: base + timedelta(k)))
        eff_until = draw(st.none() | st.integers(-20, 60).map(lambda k: base + timedelta(k)))
        rules.append(Rule(f"r{i}", draw(_weekday_sets), opens, oo, closes, co, eff_from, eff_until))
    return tuple(rules)


@st.composite
def staged_rules(draw) -> tuple[Rule, ...]:
    """Rules laid out one after another within one 24-hour cycle (disjoint on normal days)."""
    n = draw(st.integers(1, 3))
    start = draw(st.integers(-1440 * 60, 0))  # seconds from D 00:00
    points = sorted(
        draw(st.lists(st.integers(0, 86399), min_size=2 * n, max_size=2 * n, unique=True))
    )
    weekdays = draw(_weekday_sets)
    rules = []
    for i in range(n):
        o, c = start + points[2 * i], start + points[2 * i + 1]
        if c < 0:
            continue
        oo, o_s = divmod(o, 86400)
        co, c_s = divmod(c, 86400)
        rules.append(
            Rule(
                f"s{i}",
                weekdays,
                time(o_s // 3600, o_s // 60 % 60, o_s % 60),
                oo,
                time(c_s // 3600, c_s // 60 % 60, c_s % 60),
                co,
            )
        )
    assume(rules)
    return tuple(rules)


_business_days = st.sampled_from(
    [
        ("all", every_day),
        ("weekdays", lambda d: d.isoweekday() <= 5),
        ("every third", lambda d: d.toordinal() % 3 != 0),
        ("rare", lambda d: d.toordinal() % 97 == 0),
        ("fed", fed_business_day),
    ]
)


def independent_instant(d: date, offset: int, t: time, tz: str) -> datetime:
    """Wall time → UTC with plain zoneinfo arithmetic (fold=0 by default)."""
    day = d + timedelta(days=offset)
    local = datetime(day.year, day.month, day.day, t.hour, t.minute, t.second, tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC)


def expected_sessions(rules, overrides, tz, bd, start, end) -> set[tuple]:
    by_date = {o.date: o for o in overrides}
    out = set()
    d = start
    while d <= end:
        ov = by_date.get(d)
        if ov is not None:
            chosen = [] if ov.closed else [(r, "override") for r in ov.sessions]
        elif bd(d):
            chosen = [
                (r, "regular")
                for r in rules
                if d.isoweekday() in r.weekdays
                and (r.effective_from is None or r.effective_from <= d)
                and (r.effective_until is None or d <= r.effective_until)
            ]
        else:
            chosen = []
        for r, source in chosen:
            out.add(
                (
                    d,
                    r.label,
                    independent_instant(d, r.opens_day_offset, r.opens, tz),
                    independent_instant(d, r.closes_day_offset, r.closes, tz),
                    source,
                )
            )
        d += timedelta(days=1)
    return out


def assert_local_date(instant: datetime, wall_day: date, wall_time: time, tz: str) -> None:
    """The instant shows wall_day/wall_time locally, or lies after a gap it fell into."""
    zone = ZoneInfo(tz)
    wall = datetime.combine(wall_day, wall_time)
    local = instant.astimezone(zone).replace(tzinfo=None)
    if local == wall:
        return
    # A nonexistent (gap) wall time read with the offset before the change shows later by
    # exactly the size of the gap.
    before = wall.replace(tzinfo=zone, fold=0).utcoffset()
    after = wall.replace(tzinfo=zone, fold=1).utcoffset()
    assert after > before, (instant, wall, tz)
    assert local - wall == after - before, (instant, wall, tz)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), tz=st.sampled_from(ZONES), start=_dates, bd=_business_days)
def test_property__sessions_match_independent_zoneinfo_arithmetic(data, tz, start, bd):
    _, is_bd = bd
    rules = data.draw(st.one_of(random_rules(start), staged_rules()))
    end = start + timedelta(days=data.draw(st.integers(0, 40)))
    spec = WindowSpec("P", tz, True, rules)
    got = Schedule(spec, is_bd).sessions_between(start, end)

    assert [s.opens_at for s in got] == sorted(s.opens_at for s in got)
    assert {(s.business_date, s.label, s.opens_at, s.closes_at, s.source) for s in got} == (
        expected_sessions(rules, (), tz, is_bd, start, end)
    )
    by_label = {r.label: r for r in rules}
    for s in got:
        r = by_label[s.label]
        assert s.opens_at.tzinfo is UTC
        assert s.closes_at.tzinfo is UTC
        assert_local_date(s.opens_at, s.business_date + timedelta(r.opens_day_offset), r.opens, tz)
        assert_local_date(
            s.closes_at, s.business_date + timedelta(r.closes_day_offset), r.closes, tz
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), tz=st.sampled_from(ZONES), start=_dates, bd=_business_days)
def test_property__rules_passing_check_overlaps__never_overlap(data, tz, start, bd):
    _, is_bd = bd
    rules = data.draw(st.one_of(staged_rules(), random_rules(start)))
    end = start + timedelta(days=data.draw(st.integers(0, 40)))
    problems = check_overlaps(rules, (), tz, reference_year=start.year)
    got = Schedule(WindowSpec("P", tz, True, rules), is_bd).sessions_between(start, end)
    event("check_overlaps: problems" if problems else "check_overlaps: fine")
    if problems:
        return
    for s in got:
        assert s.opens_at < s.closes_at, s
    for a, b in zip(got, got[1:], strict=False):
        assert a.closes_at <= b.opens_at, (a, b)
    # check_overlaps with the business days given can only be more lenient.
    assert check_overlaps(rules, (), tz, is_bd, reference_year=start.year) == []


def brute_force_status(sessions: list[Session], at: datetime):
    current = None
    for s in sessions:  # the latest-opened session containing 'at'
        if s.opens_at <= at < s.closes_at:
            current = s
    nxt = next(
        (s for s in sessions if s.opens_at > at and s.opens_at - at <= timedelta(days=400)), None
    )
    return current, nxt


@st.composite
def overrides_near(draw, base: date) -> tuple[Override, ...]:
    out = {}
    for _ in range(draw(st.integers(0, 3))):
        d = base + timedelta(days=draw(st.integers(-3, 10)))
        closed = draw(st.booleans())
        sessions = () if closed else draw(staged_rules())
        out[d] = Override(d, closed, sessions, "r")
    return tuple(out.values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), tz=st.sampled_from(ZONES), base=_dates, bd=_business_days)
def test_property__status_agrees_with_brute_force_scan(data, tz, base, bd):
    _, is_bd = bd
    rules = data.draw(st.one_of(staged_rules(), random_rules(base)))
    overrides = data.draw(overrides_near(base))
    spec = WindowSpec("P", tz, data.draw(st.booleans() | st.just(True)), rules, overrides)
    sched = Schedule(spec, is_bd)  # reused across the instants: exercises its caches
    zone = ZoneInfo(tz)
    nearby = Schedule(spec, is_bd).sessions_between(base - timedelta(3), base + timedelta(5))
    for _ in range(data.draw(st.integers(1, 4))):
        if nearby and data.draw(st.booleans()):
            s = data.draw(st.sampled_from(nearby))
            edge = data.draw(st.sampled_from([s.opens_at, s.closes_at]))
            at = edge + data.draw(
                st.sampled_from([timedelta(0), timedelta(microseconds=-1), timedelta(seconds=1)])
            )
        else:
            # Up to ~7 weeks on: the Schedule's internal chunks of dates are crossed.
            at = datetime.combine(base, time(0), UTC) + timedelta(
                seconds=data.draw(st.integers(-3 * 86400, 50 * 86400))
            )
        at = at.astimezone(data.draw(st.sampled_from([UTC, zone])))
        local_day = at.astimezone(zone).date()
        scan = Schedule(spec, is_bd).sessions_between(
            local_day - timedelta(5), local_day + timedelta(405)
        )
        current, nxt = brute_force_status(scan, at)
        for got in (sched.status(at), Schedule(spec, is_bd).status(at)):
            assert isinstance(got, Status)
            assert got.at == at
            assert got.is_open is (current is not None)
            assert got.current_session == current
            assert got.next_session == nxt
            used = current or nxt
            assert got.processing_date == (used.business_date if used else None)
            if current is not None:
                assert got.seconds_until_close == int((current.closes_at - at).total_seconds() // 1)
            else:
                assert got.seconds_until_close is None
            assert got.decided_by_override == any(
                s is not None and s.source == "override" for s in (current, nxt)
            )
