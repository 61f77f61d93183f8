"""Benchmark: bulk evaluation of 50 flags for one institution, the flags app's hot read.

1. In process, before the server starts: the time of a cold load of the compiled flag set (three
   queries) and of a warm evaluation of 50 flags (no query, one cache GET of the generation).
2. Over HTTP (gunicorn, 2 sync workers, wrk), beside the harness baseline (a trivial DRF view
   doing one Redis GET), req/s of
   - `POST /ofrep/v1/evaluate/flags` (OFREP bulk) with a platform key and with an institution
     key sent as `Bearer` (what an OpenFeature client sends),
   - `POST /ofrep/v1/evaluate/flags` answered 304 (If-None-Match, the OFREP polling case),
   - `GET /api/v1/flags/evaluate?institution=CODE`,
   - `POST /ofrep/v1/evaluate/flags/{key}` (one flag).
   Target: the bulk evaluation at least 0.8x the baseline. Each pair is measured a few
   times, alternating, and the median ratio printed (single runs are noisy on a shared box).

The 50 flags (a mix of rollout percentages, targeted institutions and environment overrides)
and 200 institutions are created through the services (validated, audited).

Run from the repository root: ``.venv/bin/python bench/bench_flags_http.py``.
Prints figures, asserts nothing. Needs PostgreSQL, Redis and wrk (see bench/harness.py).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BenchServer, bic

FLAGS = 50
INSTITUTIONS = 200
CODE = "DEUTDEFF"


def create_data():
    from configuration.services import create_institution
    from flags import services

    bank = create_institution(
        data={"code": CODE, "name": "Bank", "country": "DE", "timezone": "Europe/Berlin"}
    )
    others = [
        create_institution(
            data={
                "code": bic(n, "FRPP"),
                "name": f"Bank {n}",
                "country": "FR",
                "timezone": "Europe/Paris",
            }
        )
        for n in range(INSTITUTIONS - 1)
    ]
    for number in range(FLAGS):
        data = {"name": f"feature-{number:02d}", "rollout_percent": (number * 7) % 101}
        if number % 5 == 0:
            data["institutions"] = [bank, *others[number : number + 20]]
        if number % 7 == 0:
            data["environment_overrides"] = {"production": False, "staging": True}
        if number % 11 == 0:
            data["everyone"] = number % 2 == 0
        services.create_flag(data=data)
    return bank


def in_process() -> None:
    from flags import cache as flag_cache
    from flags import selectors

    cold = []
    for _ in range(20):
        flag_cache.drop_local()
        started = time.perf_counter()
        selectors.evaluate_institution(CODE)
        cold.append(time.perf_counter() - started)
    warm = []
    for _ in range(2000):
        started = time.perf_counter()
        selectors.evaluate_institution(CODE)
        warm.append(time.perf_counter() - started)
    print(
        f"in process: cold load + evaluation of {FLAGS} flags {statistics.median(cold) * 1e3:.2f} ms"
        f" (median), warm {statistics.median(warm) * 1e6:.0f} µs (median, one Redis GET)"
    )


def main() -> None:
    with BenchServer() as srv:
        bank = create_data()
        in_process()
        platform = {"Authorization": f"Api-Key {srv.key('bench')}"}
        institution = {"Authorization": f"Bearer {srv.key('bench-bank', institution=bank)}"}
        body = json.dumps({"context": {"targetingKey": CODE}})
        srv.start()

        request = urllib.request.Request(
            srv.url + "/ofrep/v1/evaluate/flags",
            data=body.encode(),
            headers={**platform, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            etag = response.headers["ETag"]
            answer = json.loads(response.read())
            print(f"OFREP bulk answers {response.status} with {len(answer['flags'])} flags")

        # On a shared machine single runs are noisy: alternate endpoint and baseline a few
        # times and print the median ratio too.
        def paired(label: str, path: str, headers: dict, rounds: int = 3, **kw) -> None:
            ratios = []
            for _ in range(rounds):
                value = srv.rps(path, headers=headers, **kw)
                base = srv.baseline_rps()
                ratios.append(value / base)
                print(
                    f"{label:<46} {value:8.0f} req/s   baseline {base:8.0f} req/s   ratio {value / base:5.2f}"
                )
            print(f"{label:<46} median ratio {statistics.median(ratios):.2f}")

        paired(
            f"OFREP bulk POST, {FLAGS} flags (platform key)",
            "/ofrep/v1/evaluate/flags",
            platform,
            method="POST",
            body=body,
        )
        paired(
            f"OFREP bulk POST, {FLAGS} flags (Bearer inst.)",
            "/ofrep/v1/evaluate/flags",
            institution,
            method="POST",
            body=body,
        )
        paired(
            f"GET /api/v1/flags/evaluate, {FLAGS} flags",
            f"/api/v1/flags/evaluate?institution={CODE}",
            platform,
        )
        paired(
            "OFREP bulk POST, 304 (If-None-Match)",
            "/ofrep/v1/evaluate/flags",
            {**platform, "If-None-Match": etag},
            rounds=1,
            method="POST",
            body=body,
        )
        paired(
            "OFREP single flag POST",
            "/ofrep/v1/evaluate/flags/feature-01",
            platform,
            rounds=1,
            method="POST",
            body=body,
        )


if __name__ == "__main__":
    main()
