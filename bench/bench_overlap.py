"""Micro-benchmark: overlap validation of a processing window (``check_overlaps``).

Run from the repository root: ``python bench/bench_overlap.py``.

The check covers every business date a rule can make sessions for (1900-2199): the dates where
rules start and end, a quiet stretch, and the dates around one clock change of each distinct
regime of the zone. It runs on every window write (API and admin), so the target is ≤ 50 ms
for a window of 10 rules. Printed for windows of 10 rules in zones with few and with many
clock-change regimes, with and without effective ranges:

* cold — the zone's clock changes not yet read in this process (first write for that zone);
* warm — the usual case (they are cached per zone for the life of the process).

Also printed: the number of business dates whose sessions were generated. Asserts nothing
(timings depend on the machine and its load).
"""

from __future__ import annotations

import sys
import timeit
from datetime import date, time
from pathlib import Path

# Make ``windows`` importable when run as a script from anywhere.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from windows import scheduling  # noqa: E402
from windows.scheduling import Override, Rule, check_overlaps  # noqa: E402

REPEAT = 7
WEEKDAYS = frozenset({1, 2, 3, 4, 5})
EVERY_DAY = frozenset(range(1, 8))


def staged(weekdays, hours, *, effective_from=None, effective_until=None, prefix="s"):
    """Back-to-back sessions [h0, h1), [h1, h2), ... (hours, or (hour, minute) pairs)."""
    times = [time(*h) if isinstance(h, tuple) else time(h) for h in hours]
    return [
        Rule(f"{prefix}{i}", weekdays, a, 0, b, 0, effective_from, effective_until)
        for i, (a, b) in enumerate(zip(times, times[1:], strict=False))
    ]


# TARGET2-style day in Berlin, its hours changed on 2021-03-08: 5 + 5 rules.
BERLIN_TWO_ERAS = (
    "Europe/Berlin",
    staged(WEEKDAYS, [1, 7, 9, 12, 17, 18], effective_until=date(2021, 3, 7), prefix="old")
    # The new era: the first session opens the evening before (day offset -1) and ends at 07.
    + [Rule("new0", WEEKDAYS, time(19, 30), -1, time(7), 0, date(2021, 3, 8))]
    + staged(WEEKDAYS, [7, 9, 12, 17, 18], effective_from=date(2021, 3, 8), prefix="new")[:4],
)
# An instant-payment style window open around the clock in ten sessions, in a zone with many
# regimes (Brazil's DST started on varying days and times until 2019).
SAO_PAULO_24_7 = (
    "America/Sao_Paulo",
    [Rule("night", EVERY_DAY, time(22), -1, time(1), 0)]
    + staged(EVERY_DAY, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21], prefix="h")[:9],
)
# Fedwire-like in New York: five eras of effective dates, two rules each.
NEW_YORK_ERAS = [
    (None, date(1999, 12, 31)),
    (date(2000, 1, 1), date(2009, 12, 31)),
    (date(2010, 1, 1), date(2021, 3, 7)),
    (date(2021, 3, 8), date(2029, 12, 31)),
    (date(2030, 1, 1), None),
]
NEW_YORK_FIVE_ERAS = (
    "America/New_York",
    [
        rule
        for n, (lo, hi) in enumerate(NEW_YORK_ERAS)
        for rule in (
            Rule(f"day{n}", WEEKDAYS, time(21), -1, time(18, 30), 0, lo, hi),
            Rule(f"late{n}", WEEKDAYS, time(18, 45), 0, time(19, 30), 0, lo, hi),
        )
    ],
)
# Chile: many regimes (DST dates changed often), ten rules on different weekdays.
SANTIAGO_WEEKLY = (
    "America/Santiago",
    [
        Rule(f"d{wd}-{k}", frozenset({wd}), time(h), 0, time(h + 3), 0)
        for wd in (1, 2, 3, 4, 5)
        for k, h in enumerate((0, 12))
    ],
)
# Morocco: DST suspended every Ramadan (changes weeks apart, on varying weekdays); ten eras of
# one Monday-Friday rule each, so every era is checked against every regime on its own.
CASABLANCA_TEN_ERAS = (
    "Africa/Casablanca",
    [
        Rule(f"era{y}", WEEKDAYS, time(21), -1, time(19), 0, date(y, 1, 1), date(y + 19, 12, 31))
        for y in range(1900, 2100, 20)
    ],
)
CASES = [
    ("Berlin, 2 eras of 5 rules", *BERLIN_TWO_ERAS),
    ("Sao Paulo, 10 rules around the clock", *SAO_PAULO_24_7),
    ("New York, 5 eras of 2 rules", *NEW_YORK_FIVE_ERAS),
    ("Santiago, 10 single-weekday rules", *SANTIAGO_WEEKLY),
    ("Casablanca, 10 eras of 1 rule", *CASABLANCA_TEN_ERAS),
]


def best_ms(fn, number: int = 1, repeat: int = REPEAT) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e3


def forget_zones() -> None:
    scheduling._clock_clusters.cache_clear()
    scheduling._offset_changes.cache_clear()


def main() -> None:
    print(f"{'window (10 rules)':<40} {'dates':>6} {'cold ms':>9} {'warm ms':>9}  problems")
    for label, tz, rules in CASES:
        assert len(rules) == 10, (label, len(rules))

        def run(rules=rules, tz=tz):
            return check_overlaps(rules, (), tz, reference_year=2026)

        def cold(run=run):
            forget_zones()
            run()

        problems = run()
        dates = scheduling._dates_to_check(
            list(rules), tz, scheduling.MIN_DATE, scheduling.MAX_DATE, date(2026, 1, 1)
        )
        print(
            f"{label:<40} {len(dates):>6} {best_ms(cold):>9.2f} {best_ms(run, 5):>9.2f}  "
            f"{len(problems)}"
        )
    # The second pass a window with overrides gets (real business days, override dates).
    tz, rules = BERLIN_TWO_ERAS
    overrides = tuple(Override(date(2026, m, 10), m % 2 == 0, (), "x") for m in range(1, 13))

    def with_overrides():
        check_overlaps(rules, overrides, tz, lambda d: d.isoweekday() < 6, reference_year=2026)

    print(f"{'Berlin, 2 eras + 12 overrides (2nd pass)':<40} {'':>6} {'':>9} "
          f"{best_ms(with_overrides, 5):>9.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
