"""Benchmark: the hot business-day reads over HTTP.

A 30-year calendar (TARGET2: weekend 6,7 and the ECB holidays 1996-2026, imported through the
services) is served by gunicorn (2 sync workers); wrk measures req/s of
`GET /api/v1/calendars/TARGET2/business-days/check` and `.../add`, beside the harness baseline
(a trivial DRF view doing one Redis GET, same gunicorn, same run). Target: >= 0.8x baseline.
Each case is bracketed by two baseline runs and compared with their mean (the machine may be
shared). Also printed: `count` over a year, a joint calendar `check`, and the in-process cost
of a warm `business_calendar()` look-up.

Per request the hot path costs one cache round trip (a `get_many` of the calendars' version
tokens) and no query: the API key is remembered in process and the BusinessCalendar is built
once per worker per version token.

Run from the repository root: ``.venv/bin/python bench/bench_calendars_http.py``.
Prints figures, asserts nothing. Needs PostgreSQL, Redis and wrk (see bench/harness.py).
Uses its own database and Redis db unless BENCH_DB / BENCH_REDIS say otherwise.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("BENCH_DB", "cbp_bench_calendars")
os.environ.setdefault("BENCH_REDIS", "redis://127.0.0.1:6379/3")

from bench.harness import BenchServer

SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))


def build_calendars() -> None:
    from calendars import services

    target2 = services.create_calendar(
        data={"code": "TARGET2", "name": "TARGET2", "timezone": "Europe/Berlin"}
    )
    result = services.import_holidays(
        calendar=target2,
        source=services.holiday_source(market="ECB", years=list(range(1996, 2027))),
    )
    usfed = services.create_calendar(
        data={"code": "USFED", "name": "Fedwire", "timezone": "America/New_York"}
    )
    result_us = services.import_holidays(
        calendar=usfed, source=services.holiday_source(country="US", years=list(range(1996, 2027)))
    )
    print(f"TARGET2: {result.created} holidays 1996-2026; USFED: {result_us.created} holidays")


def in_process_lookup() -> None:
    from calendars.selectors import business_calendar

    business_calendar(["TARGET2"])
    n = 20_000
    start = time.perf_counter()
    for _ in range(n):
        business_calendar(["TARGET2"])
    per_call = (time.perf_counter() - start) / n * 1e6
    print(f"in process: warm business_calendar(['TARGET2']) {per_call:7.1f} us/call (one get_many)")


def main() -> None:
    with BenchServer() as srv:
        build_calendars()
        in_process_lookup()
        headers = {"Authorization": f"Api-Key {srv.key('bench-calendars')}"}
        srv.start()
        base = "/api/v1/calendars"
        cases = [
            ("check TARGET2", f"{base}/TARGET2/business-days/check?date=2026-04-03"),
            (
                "add TARGET2 (+10, modified_following)",
                f"{base}/TARGET2/business-days/add?date=2026-04-03&days=10"
                "&convention=modified_following",
            ),
            (
                "count TARGET2 (one year)",
                f"{base}/TARGET2/business-days/count?start=2026-01-01&end=2027-01-01",
            ),
            (
                "check TARGET2+USFED (joint)",
                f"{base}/TARGET2+USFED/business-days/check?date=2026-07-03",
            ),
        ]
        # Each case is bracketed by baseline runs (the machine may be shared: load drifts), and
        # compared with the mean of the two.
        before = srv.baseline_rps(seconds=SECONDS)
        for label, path in cases:
            value = srv.rps(path, headers=headers, seconds=SECONDS)
            after = srv.baseline_rps(seconds=SECONDS)
            baseline = (before + after) / 2
            print(
                f"{label:<40} {value:8.0f} req/s   baseline {baseline:8.0f} req/s"
                f" ({before:.0f}/{after:.0f})   ratio {value / baseline:5.2f}"
            )
            before = after


if __name__ == "__main__":
    main()
