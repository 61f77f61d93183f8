"""Micro-benchmark: in-process BusinessCalendar calls vs bare NumPy busday_* calls.

Run from the repository root: ``python bench/bench_businessdays_inprocess.py``.
Prints best-of-N per-call times in microseconds and the overhead ratios; asserts nothing
(timings depend on the machine and its load).
"""

from __future__ import annotations

import sys
import timeit
from datetime import date
from pathlib import Path

# Make ``calendars`` importable when run as a script from anywhere.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import holidays  # noqa: E402
import numpy as np  # noqa: E402

from calendars.businessdays import BusinessCalendar, CalendarData  # noqa: E402

REPEAT = 9
NUMBER = 20_000


def compare(ours, bare, number: int = NUMBER, repeat: int = REPEAT) -> tuple[float, float]:
    """Best-of-``repeat`` µs per call of ``ours`` and ``bare``.

    The two are timed alternately so a burst of load on a shared machine hits both alike.
    """
    t_ours, t_bare = [], []
    for _ in range(repeat):
        t_ours.append(timeit.timeit(ours, number=number))
        t_bare.append(timeit.timeit(bare, number=number))
    return min(t_ours) / number * 1e6, min(t_bare) / number * 1e6


def main() -> None:
    ecb = holidays.financial_holidays("ECB", years=range(2010, 2041))
    data = CalendarData("TARGET2", (6, 7), tuple(sorted(ecb.items())))
    cal = BusinessCalendar(data)
    npcal = cal.busdaycal

    d = date(2026, 4, 3)  # Good Friday: the roll has work to do
    d2 = date(2027, 4, 3)
    n = 17
    d64 = np.datetime64(d, "D")
    d64_2 = np.datetime64(d2, "D")
    assert (
        cal.add(d, n, "modified_following")
        == np.busday_offset(d64, n, roll="modifiedfollowing", busdaycal=npcal).item()
    )

    rows = [
        (
            "add(modified_following)",
            *compare(
                lambda: cal.add(d, n, "modified_following"),
                lambda: np.busday_offset(d64, n, roll="modifiedfollowing", busdaycal=npcal),
            ),
        ),
        (
            "check / is_busday",
            *compare(lambda: cal.check(d), lambda: np.is_busday(d64, busdaycal=npcal)),
        ),
        (
            "is_business_day / is_busday",
            *compare(lambda: cal.is_business_day(d), lambda: np.is_busday(d64, busdaycal=npcal)),
        ),
        (
            "count / busday_count",
            *compare(
                lambda: cal.count(d, d2),
                lambda: np.busday_count(d64, d64_2, busdaycal=npcal),
            ),
        ),
    ]
    print(f"calendar: TARGET2, weekend 6,7, {len(cal.holidays)} ECB holidays 2010-2040")
    print(f"best of {REPEAT} x {NUMBER} calls\n")
    print(f"{'operation':32} {'in-process µs':>14} {'bare numpy µs':>14} {'ratio':>7}")
    for name, ours, bare in rows:
        print(f"{name:32} {ours:14.3f} {bare:14.3f} {ours / bare:7.2f}")


if __name__ == "__main__":
    main()
