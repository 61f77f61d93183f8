"""Micro-benchmark: processing-window sessions and status computed in-process.

Run from the repository root: ``python bench/bench_scheduling_inprocess.py``.
Builds a Fedwire-style window (America/New_York, Mon-Fri, 21:00 the previous day to 19:00)
with a weekday-minus-Federal-Reserve-holidays business-day function and prints best-of-N
timings. Targets: status ≤ 20 µs (warm, the cached-Schedule hot path), 366-day session list
≤ 2 ms. Asserts nothing (timings depend on the machine and its load).
"""

from __future__ import annotations

import sys
import timeit
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

# Make ``windows`` importable when run as a script from anywhere.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from windows.scheduling import (  # noqa: E402
    Override,
    Rule,
    Schedule,
    WindowSpec,
)

REPEAT = 15


def _holidays() -> frozenset[date]:
    try:
        import holidays

        return frozenset(holidays.financial_holidays("XFED", years=range(2024, 2030)))
    except Exception:  # the benchmark only needs a plausible set
        return frozenset({date(2026, 1, 1), date(2026, 1, 19), date(2026, 12, 25)})


HOLIDAYS = _holidays()


def is_business_day(d: date) -> bool:
    """Weekday and not a Federal Reserve holiday."""
    return d.weekday() < 5 and d not in HOLIDAYS


SPEC = WindowSpec(
    code="FEDWIRE",
    timezone="America/New_York",
    is_active=True,
    rules=(
        Rule("day", frozenset({1, 2, 3, 4, 5}), time(21), -1, time(18, 30), 0, None,
             date(2021, 3, 7)),
        Rule("day", frozenset({1, 2, 3, 4, 5}), time(21), -1, time(19), 0, date(2021, 3, 8)),
    ),
    overrides=(
        Override(
            date(2026, 12, 24),
            False,
            (Rule("early", frozenset(), time(21), -1, time(13), 0),),
            "Christmas Eve early close",
        ),
    ),
)  # fmt: skip


def best_us(fn, number: int, repeat: int = REPEAT) -> float:
    """Best-of-``repeat`` µs per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    """Print the figures."""
    start = date(2026, 1, 1)
    end = start + timedelta(days=365)  # 366 business dates, inclusive
    at = datetime(2026, 3, 13, 23, 30, tzinfo=UTC)  # Friday 19:30 EDT: closed, next Monday

    n_sessions = len(Schedule(SPEC, is_business_day).sessions_between(start, end))

    def cold_list():
        Schedule(SPEC, is_business_day).sessions_between(start, end)

    warm_sched = Schedule(SPEC, is_business_day)
    warm_sched.sessions_between(start, end)

    def warm_list():
        warm_sched.sessions_between(start, end)

    def cold_list_dicts():
        sched = Schedule(SPEC, is_business_day)
        [sched.session_to_dict(s) for s in sched.sessions_between(start, end)]

    def warm_list_dicts():
        [hot.session_to_dict(s) for s in hot.sessions_between(start, end)]

    hot = Schedule(SPEC, is_business_day)
    hot.status(at)
    warm_list_dicts()
    at_open = datetime(2026, 3, 12, 15, 0, tzinfo=UTC)
    at_local = at.astimezone(hot.tz)

    def warm_status():
        hot.status(at)

    def warm_status_open():
        hot.status(at_open)

    def warm_status_local_at():
        hot.status(at_local)

    def warm_status_dict():
        hot.status_to_dict(hot.status(at))

    def cold_status():
        Schedule(SPEC, is_business_day).status(at)

    rows = [
        (f"366-day session list ({n_sessions} sessions), new Schedule", cold_list, 50, "ms"),
        ("366-day session list, warm Schedule", warm_list, 200, "ms"),
        ("366-day list + Schedule.session_to_dict, new Schedule", cold_list_dicts, 20, "ms"),
        ("366-day list + Schedule.session_to_dict, warm", warm_list_dicts, 100, "ms"),
        ("status, warm Schedule (closed, UTC at)", warm_status, 100_000, "µs"),
        ("status, warm Schedule (open, UTC at)", warm_status_open, 100_000, "µs"),
        ("status, warm Schedule (at with -04:00 offset)", warm_status_local_at, 100_000, "µs"),
        ("status + Schedule.status_to_dict, warm", warm_status_dict, 20_000, "µs"),
        ("status, new Schedule (cold)", cold_status, 500, "µs"),
    ]
    for label, fn, number, unit in rows:
        t = best_us(fn, number)
        print(f"{label:<52} {t / 1000 if unit == 'ms' else t:9.3f} {unit}")


if __name__ == "__main__":
    main()
