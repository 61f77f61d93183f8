"""Overlap validation covers every clock-change regime a rule can meet (issue 9).

Rules without ``effective_from`` make sessions back to 1900, so a window must be fine under its
zone's older clock-change rules too, not only this year's. These tests name real history: Brazil
started its DST at 00:00 (the clock jumped to 01:00) from 1932 until it dropped DST in 2019;
Samoa (Pacific/Apia) skipped 2011-12-30 entirely. Pure: no database.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from windows import scheduling
from windows.scheduling import (
    MAX_DATE,
    MIN_DATE,
    Rule,
    Schedule,
    WindowSpec,
    check_overlaps,
)

EVERY_DAY = frozenset(range(1, 8))
WEEKDAYS = frozenset({1, 2, 3, 4, 5})
SAO_PAULO = "America/Sao_Paulo"
# "night" opens at 20:00 the evening before and closes at 00:30; "day" opens at 01:00. Fine on
# any day, but when 00:00 jumps to 01:00 the 00:30 close does not exist and is read with the
# old offset (03:30Z), after "day" opened at 01:00 new time (03:00Z).
NIGHT_AND_DAY = (
    Rule("night", EVERY_DAY, time(20), -1, time(0, 30), 0),
    Rule("day", EVERY_DAY, time(1), 0, time(18), 0),
)


def _all_sessions_problems(rules, tz, reference_year):
    """The brute force the check must agree with: every session of every date 1900-2199."""
    sched = Schedule(WindowSpec("-", tz, True, tuple(rules)), lambda _d: True)
    sessions = sched.sessions_between(MIN_DATE, MAX_DATE)
    return scheduling._sweep(sessions, prefer_from=date(reference_year, 1, 1))


# --- the defects, as reported --------------------------------------------------------------


def test_check_overlaps__sao_paulo_overlap_only_under_old_dst__refused_naming_first_date():
    problems = check_overlaps(NIGHT_AND_DAY, (), SAO_PAULO, reference_year=2026)
    # Brazil's first DST began at 00:00 on 1932-10-03; it has had none since 2019, so the
    # message names the first date where the sessions overlap, and both sessions.
    assert problems == ["session 'day' on 1932-10-03 overlaps session 'night' on 1932-10-03"]


def test_check_overlaps__sao_paulo__from_a_reference_year_names_the_first_date_from_then():
    assert check_overlaps(NIGHT_AND_DAY, (), SAO_PAULO, reference_year=2018) == [
        "session 'day' on 2018-11-04 overlaps session 'night' on 2018-11-04"
    ]


def test_check_overlaps__sao_paulo__rules_effective_only_after_dst_ended__accepted():
    rules = [replace(r, effective_from=date(2019, 3, 1)) for r in NIGHT_AND_DAY]
    assert check_overlaps(rules, (), SAO_PAULO) == []


def test_check_overlaps__sao_paulo__rules_effective_in_a_past_range__checked_there():
    rules = [
        replace(r, effective_from=date(2000, 1, 1), effective_until=date(2005, 12, 31))
        for r in NIGHT_AND_DAY
    ]
    assert check_overlaps(rules, (), SAO_PAULO) == [
        "session 'day' on 2000-10-08 overlaps session 'night' on 2000-10-08"
    ]


def test_check_overlaps__negative_session_only_under_old_dst__refused():
    # 00:30 is in the 00:00 -> 01:00 gap (read as -03: 03:30Z), 01:00 is -02 (03:00Z).
    rules = (Rule("x", EVERY_DAY, time(0, 30), 0, time(1), 0),)
    assert check_overlaps(rules, (), SAO_PAULO) == [
        "session 'x' on 1932-10-03 does not open before it closes "
        "(1932-10-03T03:30:00Z .. 1932-10-03T03:00:00Z)"
    ]
    assert check_overlaps([replace(rules[0], effective_from=date(2019, 6, 1))], (), SAO_PAULO) == []


def test_check_overlaps__apia_skipped_day__every_day_rule_refused_weekday_rule_fine():
    # 2011-12-30 (a Friday) never happened in Samoa: its 09:00 is read with the old offset,
    # which is 09:00 on Saturday the 31st, the very session of the 31st.
    every_day = (Rule("day", EVERY_DAY, time(9), 0, time(17), 0),)
    assert check_overlaps(every_day, (), "Pacific/Apia", reference_year=2026) == [
        "session 'day' on 2011-12-31 overlaps session 'day' on 2011-12-30"
    ]
    # No Saturday session for Friday's to collide with.
    weekdays = (Rule("day", WEEKDAYS, time(9), 0, time(17), 0),)
    assert check_overlaps(weekdays, (), "Pacific/Apia", reference_year=2026) == []
    # From 2012 on, the every-day rule is fine.
    later = [replace(every_day[0], effective_from=date(2012, 1, 1))]
    assert check_overlaps(later, (), "Pacific/Apia", reference_year=2026) == []


def test_check_overlaps__recurring_problem__named_on_its_first_date_from_the_reference_year():
    # New York's spring-forward gap at 02:00 has existed since 1918; the message names the
    # first occurrence from the reference year on, not a date of 1918.
    rules = (Rule("x", EVERY_DAY, time(2), 0, time(3), 0),)
    assert check_overlaps(rules, (), "America/New_York", reference_year=2026) == [
        "session 'x' on 2026-03-08 does not open before it closes "
        "(2026-03-08T07:00:00Z .. 2026-03-08T07:00:00Z)"
    ]
    assert check_overlaps(rules, (), "America/New_York", reference_year=1900) == [
        "session 'x' on 1918-03-31 does not open before it closes "
        "(1918-03-31T07:00:00Z .. 1918-03-31T07:00:00Z)"
    ]


def test_check_overlaps__default_reference_year_is_this_year():
    rules = (Rule("x", EVERY_DAY, time(2), 0, time(3), 0),)
    this_year = datetime.now(UTC).year
    (problem,) = check_overlaps(rules, (), "America/New_York")
    m = re.match(r"session 'x' on (\d{4})-", problem)
    assert m is not None
    assert int(m[1]) == this_year


# --- the zone's regimes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "tz",
    [
        "America/Sao_Paulo",
        "Pacific/Apia",
        "America/New_York",
        "Australia/Lord_Howe",  # 30-minute DST
        "Africa/Casablanca",  # DST suspended for Ramadan: changes weeks apart
        "Europe/London",  # double summer time in the 1940s
        "UTC",
    ],
)
def test_offset_changes__match_zoneinfo_probed_day_by_day(tz):
    zone = ZoneInfo(tz)

    def offset(ts: int) -> int:
        return int(datetime.fromtimestamp(ts, zone).utcoffset().total_seconds())

    day = 86_400
    truth = scheduling._changes_at(
        offset,
        scheduling._probe_changes(offset, scheduling._PROBE_LO, scheduling._PROBE_HI, day),
    )
    assert scheduling._offset_changes(tz) == truth


def test_regimes__new_york__few_regimes_for_hundreds_of_changes():
    clusters = scheduling._clock_clusters("America/New_York")
    assert len(clusters) > 500  # two changes a year from 1918 to 2199, with gaps
    assert len({c.regime for c in clusters}) <= 5
    # Every year since 2007 follows the same two regimes (second Sunday in March, first in
    # November, both at 02:00).
    recent = {c.regime for c in clusters if c.first.year >= 2007}
    assert len(recent) == 2


def test_dates_to_check__a_small_share_of_the_range():
    dates = scheduling._dates_to_check(
        list(NIGHT_AND_DAY), SAO_PAULO, MIN_DATE, MAX_DATE, date(2026, 1, 1)
    )
    assert date(1932, 10, 3) in dates  # the first 00:00 jump
    assert len(dates) < 1000  # of ~110,000 dates


# --- agreement with the brute force ---------------------------------------------------------

ZONES = [
    "America/Sao_Paulo",
    "Pacific/Apia",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Africa/Casablanca",
    "America/Santiago",
    "Antarctica/Troll",  # a two-hour DST jump
]


def _random_rules(rnd: random.Random) -> list[Rule]:
    hours = [0, 0, 1, 1, 2, 2, 3, 12, 18, 20, 21, 22, 23]

    def wall() -> time:
        return time(rnd.choice(hours), rnd.choice([0, 0, 15, 30]))

    rules = []
    for i in range(rnd.choice([1, 2, 2, 3])):
        while True:
            o_off, c_off, o, c = rnd.choice([0, 0, -1]), rnd.choice([0, 0, 1]), wall(), wall()
            if (o_off, o) < (c_off, c):
                break
        weekdays = frozenset(rnd.sample(range(1, 8), rnd.choice([7, 7, 5, 3, 1])))
        lo = hi = None
        if rnd.random() < 0.3:
            lo = date(rnd.randint(1900, 2100), rnd.randint(1, 12), rnd.randint(1, 28))
        if rnd.random() < 0.3:
            hi = date(rnd.randint(1900, 2199), rnd.randint(1, 12), rnd.randint(1, 28))
            if lo is not None and hi < lo:
                lo, hi = hi, lo
        rules.append(Rule(f"r{i}", weekdays, o, o_off, c, c_off, lo, hi))
    return rules


@pytest.mark.parametrize("seed", range(4))
def test_check_overlaps__same_answer_as_every_session_of_1900_to_2199(seed):
    """Problems and the dates named agree with generating all 110,000 dates."""
    rnd = random.Random(seed)
    for _ in range(2):
        tz = rnd.choice(ZONES)
        rules = _random_rules(rnd)
        reference_year = rnd.choice([1950, 2026, 2100])
        assert check_overlaps(rules, (), tz, reference_year=reference_year) == (
            _all_sessions_problems(rules, tz, reference_year)
        ), (tz, rules, reference_year)


@pytest.mark.parametrize(
    ("tz", "rules"),
    [
        (SAO_PAULO, NIGHT_AND_DAY),
        ("Pacific/Apia", (Rule("day", EVERY_DAY, time(9), 0, time(17), 0),)),
        (
            "Europe/London",
            (
                Rule("a", EVERY_DAY, time(0), 0, time(2, 30), 0),
                Rule("b", EVERY_DAY, time(3), 0, time(5), 0),
            ),
        ),
    ],
)
def test_check_overlaps__named_examples__same_answer_as_brute_force(tz, rules):
    assert check_overlaps(rules, (), tz, reference_year=2026) == _all_sessions_problems(
        rules, tz, 2026
    )
