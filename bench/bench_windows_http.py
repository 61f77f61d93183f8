"""Benchmark: processing-window status and sessions over HTTP.

gunicorn (2 sync workers) and wrk through bench/harness.py: req/s of
`GET /api/v1/windows/FEDWIRE/status` (the hot read: target ≥ 0.8× the baseline, a trivial DRF
view doing one Redis GET under the same gunicorn), with a fixed `at` and with the default
"now", beside the baseline; then the session lists (30 and 366 days) and an institution key.
Finally the in-process figures of the pure scheduling module (bench_scheduling_inprocess.py).

The calendar (US holidays 2020-2030), the window and an override are created through the
services (validated, audited) before the server starts.

Run from the repository root: ``.venv/bin/python bench/bench_windows_http.py``.
Prints figures, asserts nothing. Needs PostgreSQL, Redis and wrk (see bench/harness.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BenchServer

SECONDS = 5


def create_data():
    from calendars.services import create_calendar, holiday_source, import_holidays
    from configuration.services import create_institution
    from windows.services import create_override, create_window

    calendar = create_calendar(
        data={"code": "USFED", "name": "US Federal Reserve", "timezone": "America/New_York"}
    )
    import_holidays(
        calendar=calendar, source=holiday_source(country="US", years=list(range(2020, 2031)))
    )
    bank = create_institution(
        data={
            "code": "CHASUS33",
            "name": "Bench bank",
            "country": "US",
            "timezone": "America/New_York",
        }
    )
    rule = {
        "label": "day",
        "weekdays": [1, 2, 3, 4, 5],
        "opens": "21:00",
        "opens_day_offset": -1,
        "closes": "19:00",
    }
    window = create_window(
        data={
            "code": "FEDWIRE",
            "name": "Fedwire Funds Service",
            "calendar": calendar,
            "payment_type": "RTGS",
            "sessions": [
                {**rule, "closes": "18:30", "effective_until": "2021-03-07"},
                {**rule, "effective_from": "2021-03-08"},
            ],
        }
    )
    create_override(
        window=window,
        data={
            "date": "2026-12-24",
            "sessions": [
                {"label": "early", "opens": "21:00", "opens_day_offset": -1, "closes": "13:00"}
            ],
            "reason": "Christmas Eve early close",
        },
    )
    create_window(
        data={
            "code": "CHASE-ACH",
            "name": "Bench bank ACH",
            "calendar": calendar,
            "institution": bank,
            "sessions": [{**rule, "opens": "08:00", "opens_day_offset": 0, "closes": "17:00"}],
        }
    )
    return bank


def main() -> None:
    with BenchServer() as srv:
        bank = create_data()
        platform = {"Authorization": f"Api-Key {srv.key('bench')}"}
        own = {"Authorization": f"Api-Key {srv.key('bench-bank', institution=bank)}"}
        srv.start()

        base = srv.baseline_rps(seconds=SECONDS)
        print(f"baseline (DRF view, one Redis GET):            {base:9.0f} req/s")
        rows = [
            ("status, fixed at (closed, Friday evening)", "/api/v1/windows/FEDWIRE/status?at=2026-03-13T23:30:00Z", platform),
            ("status, fixed at (open)", "/api/v1/windows/FEDWIRE/status?at=2026-03-12T15:00:00Z", platform),
            ("status, at = now", "/api/v1/windows/FEDWIRE/status", platform),
            ("status, institution key, own window", "/api/v1/windows/CHASE-ACH/status?at=2026-03-12T15:00:00Z", own),
            ("sessions, 30 days", "/api/v1/windows/FEDWIRE/sessions?start=2026-03-01&end=2026-03-30", platform),
            ("sessions, 366 days", "/api/v1/windows/FEDWIRE/sessions?start=2026-01-01&end=2027-01-02", platform),
        ]  # fmt: skip
        for label, path, headers in rows:
            value = srv.rps(path, headers=headers, seconds=SECONDS)
            print(f"{label:<46} {value:9.0f} req/s   ratio {value / base:5.2f}")
        again = srv.baseline_rps(seconds=SECONDS)
        print(f"baseline again (drift check):                  {again:9.0f} req/s")

    print("\nIn process (windows/scheduling.py, bench_scheduling_inprocess.py):")
    try:
        from bench.bench_scheduling_inprocess import main as inprocess

        inprocess()
    except ImportError as exc:  # the other engineer's script is optional here
        print(f"  not available: {exc}")


if __name__ == "__main__":
    main()
