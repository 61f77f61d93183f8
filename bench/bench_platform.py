"""Benchmark: the hot reads at platform size, under a mixed read load and with writes.

Data set (``--small``: 10 % of each count): 1,000 institutions, 50 calendars with 30 years of
holidays (1997-2026, imported from the `holidays` package through
``calendars.services.import_holidays``, one transaction per calendar), 500 processing windows,
200 configurations each with a global value and values for 100 institutions (through the
services, one transaction per configuration), 50 flags. Everything is created through the
services (validated, audited); only the growth to 10,000 institutions for the last cold-time
step is bulk-inserted (``bulk_create``, 5 overrides each, no audit), as in
bench_configuration_http.py.

Phases (gunicorn, 2 sync workers, wrk; all traffic on 127.0.0.1, port in 17600-17699):

1. **Cold time** (in process, django.test.Client): one request of each hot read after
   ``cbpconfig.cache.renew_epoch()`` and every app's ``clear_local()`` (median of 5, with the
   number of SQL queries), at 10 and 1,000 institutions before the load and at 10,000 after it
   (10, 100 and 1,000 with --small).
2. **Isolated**: each hot read alone under wrk (-t2 -c8); req/s, p50/p95/p99 (wrk's own
   latency distribution, from a Lua ``done()``), non-2xx, ratio to the floor (the harness
   baseline: a DRF view doing one Redis GET, same gunicorn, measured before and after and
   averaged), cache hit rate and PostgreSQL queries per request from /metrics deltas (the
   queries of the /metrics scrape itself are measured and subtracted).
The reads: window status (at a fixed instant), sessions (30 and 366 days), business-day check,
add and a year's list, resolved configuration (the institution's and one key's, each at a fixed
instant and for "now"), flag evaluation and OFREP bulk.

3. **Mixed**: wrk (-c7) whose Lua script rotates over all the hot reads, for
   12 x PROBE + 4 s; meanwhile each read in turn is probed alone on one more connection
   (wrk -c1, PROBE s) for its client-side p50/p95/p99 under the mixed load. Also per read, from
   the server's /metrics deltas: requests/s, errors, cache hit rate. Total req/s, latency,
   non-2xx and queries per request of the mixed run itself.
4. **Mixed + writes**: the same, and a thread doing one write a second through the API (a
   configuration value, a holiday, a flag in turn; at most one write per second of the run).
   After each write returns, the affected answer is read READS_AFTER times (a fresh connection
   each time, so either worker answers); a read not showing the write is counted as stale.
   Must be 0.

Run from the repository root: ``.venv/bin/python bench/bench_platform.py [--small]``.
Database cbp_bench_platform, Redis db 12 (BENCH_DB / BENCH_REDIS override). Prints figures,
asserts nothing. The true framework floor (a separate minimal Django project) is measured by
``make bench-floor`` (../shared/perf/ratio.sh), not here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("BENCH_DB", "cbp_bench_platform")
os.environ.setdefault("BENCH_REDIS", "redis://127.0.0.1:6379/12")

from bench.harness import BenchServer, bic
from tests.support.processes import free_port
from tests.support.web import fetch

CODE = "DEUTDEFF"  # the institution every read is for (has values and flags)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PORTS = range(17600, 17700)
READS_AFTER = 6  # reads after each write
SUSPECT_LATENCY_SUM = 1.15  # wrk's latency sum / (connections x duration) above this: flagged
MARKET_CALENDAR = "TARGET2"

SCALE = {
    "full": {
        "institutions": 1000, "calendars": 50, "windows": 500, "configurations": 200, "valued": 100,
        "flags": 50, "cold_steps": (10, 1000, 10000), "seconds": 5, "probe": 3,
    },
    "small": {
        "institutions": 100, "calendars": 5, "windows": 50, "configurations": 20, "valued": 10,
        "flags": 5, "cold_steps": (10, 100, 1000), "seconds": 3, "probe": 1,
    },
}  # fmt: skip


def _port() -> int:
    try:
        return free_port(PORTS)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


# -- seeding ----------------------------------------------------------------------------------


def countries(n: int) -> list[str]:
    import holidays

    preferred = ["US", "GB", "DE", "FR", "JP", "CH", "CA", "AU", "IT", "ES", "NL", "BE"]
    rest = sorted(c for c in holidays.list_supported_countries() if c not in preferred)
    return (preferred + rest)[:n]


def seed_institutions(n: int, start: int = 0) -> list:
    from django.db import transaction

    from configuration.services import create_institution

    made = []
    with transaction.atomic():
        for number in range(start, n):
            code = CODE if number == 0 else bic(number)
            made.append(
                create_institution(
                    data={"code": code, "name": f"Bank {number}", "country": "DE",
                          "timezone": "Europe/Berlin"}
                )
            )  # fmt: skip
    return made


def seed_calendars(n: int) -> list:
    from calendars import services

    years = list(range(1997, 2027))
    out = []
    target2 = services.create_calendar(
        data={"code": MARKET_CALENDAR, "name": "TARGET2", "timezone": "Europe/Berlin"}
    )
    services.import_holidays(
        calendar=target2, source=services.holiday_source(market="ECB", years=years)
    )
    out.append(target2)
    for country in countries(n - 1):
        calendar = services.create_calendar(
            data={"code": f"C-{country}", "name": f"Country {country}", "timezone": "UTC"}
        )
        services.import_holidays(
            calendar=calendar, source=services.holiday_source(country=country, years=years)
        )
        out.append(calendar)
    return out


def seed_windows(n: int, calendars: list) -> None:
    from django.db import transaction

    from windows.services import create_window

    with transaction.atomic():
        for number in range(n):
            opens = 6 + number % 4
            create_window(
                data={
                    "code": f"W{number:04d}",
                    "name": f"Window {number}",
                    "calendar": calendars[number % len(calendars)],
                    "sessions": [
                        {"label": "day", "weekdays": [1, 2, 3, 4, 5],
                         "opens": f"{opens:02d}:00", "closes": "18:00"}
                    ],
                }
            )  # fmt: skip


def seed_configurations(n: int, institutions: list, valued: int) -> dict:
    from django.db import transaction

    from configuration import services

    first = None
    for number in range(n):
        with transaction.atomic():
            configuration = services.create_configuration(
                data={
                    "key": f"platform.group_{number // 20:02d}.setting_{number:03d}",
                    "description": f"setting {number}",
                    "value_type": "integer",
                    "schema": {"type": "integer", "minimum": 0},
                    "default": number,
                }
            )
            services.create_value(
                configuration=configuration, data={"value": number, "effective_from": T0}
            )
            for index in range(valued):
                value = services.create_value(
                    configuration=configuration,
                    data={"value": number + index, "institution": institutions[index],
                          "effective_from": T0},
                )  # fmt: skip
                if index == 0 and first is None:
                    first = {"key": configuration.key, "value_id": value.pk}
    return first


def seed_flags(n: int, institutions: list) -> None:
    from flags import services

    for number in range(n):
        data = {"name": f"feature-{number:02d}", "rollout_percent": (number * 7) % 101}
        if number % 5 == 0:
            data["institutions"] = institutions[number : number + 20]
        if number % 11 == 0:
            data["everyone"] = number % 2 == 0
        services.create_flag(data=data)


def grow_institutions(target: int) -> None:
    """Bulk-insert institutions with 5 overrides each (no audit) until `target` exist."""
    from django.db import connection

    from configuration.models import Configuration, ConfigurationValue, Institution

    have = Institution.objects.count()
    if have >= target:
        return
    definitions = list(Configuration.objects.order_by("pk"))
    new = [
        Institution(code=bic(50_000 + n), name=f"Bulk {n}", country="DE", timezone="UTC")
        for n in range(target - have)
    ]
    Institution.objects.bulk_create(new, batch_size=2000)
    rows = []
    for index, institution in enumerate(
        Institution.objects.filter(code__in=[i.code for i in new]).iterator()
    ):
        for k in range(5):
            definition = definitions[(index * 7 + k * 13) % len(definitions)]
            rows.append(
                ConfigurationValue(
                    configuration=definition, institution=institution, value=k,
                    effective_from=T0 + timedelta(days=k),
                )
            )  # fmt: skip
    ConfigurationValue.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# -- the hot reads --------------------------------------------------------------------------


AT = "2026-03-12T15:00:00Z"  # the fixed instant of the reads that name one


def hot_reads(first: dict) -> list[tuple[str, str, str, str | None]]:
    """(label, method, path, body) of every hot read."""
    cal = f"/api/v1/calendars/{MARKET_CALENDAR}/business-days"
    ofrep_body = json.dumps({"context": {"targetingKey": CODE}})
    return [
        ("window status", "GET", f"/api/v1/windows/W0000/status?at={AT}", None),
        ("window sessions 30d", "GET", "/api/v1/windows/W0000/sessions?start=2026-03-01&end=2026-03-30", None),
        ("window sessions 366d", "GET", "/api/v1/windows/W0000/sessions?start=2026-01-01&end=2027-01-01", None),
        ("business-day check", "GET", f"{cal}/check?date=2026-04-03", None),
        ("business-day add", "GET", f"{cal}/add?date=2026-04-03&days=10&convention=modified_following", None),
        ("business-day list (1y)", "GET", f"{cal}?start=2026-01-01&end=2026-12-31", None),
        ("configuration (institution)", "GET", f"/api/v1/institutions/{CODE}/configuration?at={AT}", None),
        ("configuration (one key)", "GET", f"/api/v1/configurations/{first['key']}/resolve?institution={CODE}&at={AT}", None),
        ("configuration now (inst.)", "GET", f"/api/v1/institutions/{CODE}/configuration", None),
        ("configuration now (one key)", "GET", f"/api/v1/configurations/{first['key']}/resolve?institution={CODE}", None),
        ("flags evaluate", "GET", f"/api/v1/flags/evaluate?institution={CODE}", None),
        ("OFREP bulk", "POST", "/ofrep/v1/evaluate/flags", ofrep_body),
    ]  # fmt: skip


# Which cache counter tells the hit rate of each read (name, hit labels, all labels).
CACHE_COUNTERS = {
    "window": ("cbp_window_compile_total", ("hit",)),
    "business-day": ("cbp_businessday_cache_total", ("hit",)),
    "configuration": ("cbp_configuration_resolution_cache_total", ("hit",)),
}


OPERATIONS = {  # URL pattern names, the `operation` label of cbp_operation_* metrics
    "window status": "window-status", "window sessions 30d": "window-sessions",
    "window sessions 366d": "window-sessions", "business-day check": "business-days-check",
    "business-day add": "business-days-add", "business-day list (1y)": "business-days-list",
    "configuration (institution)": "institution-configuration",
    "configuration (one key)": "configuration-resolve",
    "configuration now (inst.)": "institution-configuration",
    "configuration now (one key)": "configuration-resolve", "flags evaluate": "flag-evaluate",
    "OFREP bulk": "ofrep-evaluate-flags",
}  # fmt: skip
WRITE_OPERATIONS = (
    "calendar-holiday",
    "calendar-holidays",
    "configuration-value-detail",
    "flag-detail",
)


# -- /metrics -------------------------------------------------------------------------------

_LINE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+([-+\w.]+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(srv) -> dict:
    status, body = srv.get("/metrics")
    out: dict = {}
    for line in body.decode().splitlines():
        if line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            continue
        labels = tuple(sorted(_LABEL.findall(m.group(3) or "")))
        with contextlib.suppress(ValueError):
            out[(m.group(1), labels)] = float(m.group(4))
    return out


def delta(before: dict, after: dict, name: str, **match) -> float:
    total = 0.0
    for (metric, labels), value in after.items():
        if metric != name:
            continue
        d = dict(labels)
        if all(d.get(k) == v for k, v in match.items()):
            total += value - before.get((metric, labels), 0.0)
    return total


def queries(before: dict, after: dict) -> float:
    return delta(
        before, after, "cbp_dependency_request_duration_seconds_count", dependency="postgresql"
    )


def hit_rate(before: dict, after: dict, label: str) -> str:
    for prefix, (name, hits) in CACHE_COUNTERS.items():
        if label.startswith(prefix):
            total = delta(before, after, name)
            hit = sum(delta(before, after, name, result=h) for h in hits)
            return f"{100 * hit / total:5.1f}%" if total else "  n/a"
    return "  n/a"  # flags: no hit/miss counter (see queries per request)


def kept_rate(before: dict, after: dict, requests: float) -> str:
    """Share of the requests answered from kept answers (cbpconfig/ready.py), before Django."""
    hits = delta(before, after, "cbp_ready_responses_total", result="hit")
    return f"{100 * hits / requests:5.1f}%" if requests else "  n/a"


def check_seconds(rounds: int = 3) -> float:
    """Median wall time of `manage.py check` (a fresh process each time, as an operator runs it)."""
    times = []
    for _ in range(rounds):
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=Path(__file__).resolve().parent.parent,
            check=True,
            capture_output=True,
        )
        times.append(time.monotonic() - started)
    return statistics.median(times)


def server_percentiles(before: dict, after: dict, operation: str) -> tuple[float, tuple]:
    """(count, (p50, p95, p99) in ms) of an operation from cbp_operation_duration_seconds,
    interpolated within a bucket; -x when it falls in the first bucket (only "< x" known)."""
    buckets = []
    for (metric, labels), value in after.items():
        d = dict(labels)
        if metric == "cbp_operation_duration_seconds_bucket" and d.get("operation") == operation:
            le = float("inf") if d["le"] == "+Inf" else float(d["le"])
            buckets.append((le, value - before.get((metric, labels), 0.0)))
    buckets.sort()
    if not buckets or buckets[-1][1] <= 0:
        return 0.0, (float("nan"),) * 3
    total = buckets[-1][1]
    result = []
    for q in (0.5, 0.95, 0.99):
        rank, prev_le, prev_count = q * total, 0.0, 0.0
        for le, count in buckets:
            if count >= rank:
                if prev_le == 0.0:
                    result.append(-le * 1000)  # inside the first bucket: only "< le" is known
                elif le == float("inf"):
                    result.append(prev_le * 1000)
                else:
                    share = (rank - prev_count) / (count - prev_count) if count > prev_count else 1
                    result.append((prev_le + (le - prev_le) * share) * 1000)
                break
            prev_le, prev_count = le, count
    return total, tuple(result)


# -- wrk ----------------------------------------------------------------------------------

DONE_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %d %d %d %d %d %d\\n", summary.requests,
    summary.duration, summary.errors.status, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
"""


def wrk(srv, requests: list, headers: dict, seconds: int, connections: int = 8, background=False):
    """Run wrk over `requests` ((method, path, body) rotated per thread) and return its
    figures; with `background`, start it and return a function that waits and returns them."""
    hdrs = "".join(f'h["{k}"] = "{v}"\n' for k, v in headers.items())
    lines = ["local h = {}", hdrs, "local reqs = {}"]
    for method, path, body in requests:
        b = f"[[{body}]]" if body is not None else "nil"
        extra = "local hh = {} for k, v in pairs(h) do hh[k] = v end "
        extra += 'hh["Content-Type"] = "application/json" ' if body is not None else ""
        lines.append(f'do {extra}table.insert(reqs, wrk.format("{method}", "{path}", '
                     f'{"hh" if body is not None else "h"}, {b})) end')  # fmt: skip
    lines += [
        "local i = 0",
        "request = function() i = i % #reqs + 1 return reqs[i] end",
        DONE_LUA,
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines))
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s",
           "--timeout", "5s", "-s", script.name, srv.url]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish() -> dict:
        try:
            out, err = proc.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            os.unlink(script.name)
        m = re.search(r"^BENCH (.*)$", out, re.M)
        if m is None:
            raise SystemExit(f"wrk failed: {err[:300]}")
        n, dur, non2xx, sockerr, p50, p95, p99, mx, mean = (float(x) for x in m.group(1).split())
        return {
            "requests": n, "rps": n / (dur / 1e6), "non2xx": int(non2xx),
            "socket_errors": int(sockerr), "p50": p50 / 1000, "p95": p95 / 1000,
            "p99": p99 / 1000, "max": mx / 1000,
            # Sequential requests on `connections` connections cannot add up to more latency
            # than connections x duration; wrk's do when the server closed connections under
            # it (a worker recycled): its latency figures for that run are then unreliable.
            "latency_sum_ratio": mean * n / (connections * dur),
        }  # fmt: skip

    return finish if background else finish()


def baseline(srv, seconds: int) -> float:
    return wrk(srv, [("GET", "/bench/redis-get", None)], {}, seconds)["rps"]


# -- cold time ------------------------------------------------------------------------------


def cold_times(reads: list, key: str, rounds: int = 5) -> dict:
    from django.db import connection
    from django.test import Client

    from calendars import cache as cal_cache
    from cbpconfig import cache as shared
    from flags import cache as flag_cache
    from windows import cache as win_cache

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Api-Key {key}")
    counted = [0]

    def count(execute, sql, params, many, context):
        counted[0] += 1
        return execute(sql, params, many, context)

    out = {}
    for label, method, path, body in reads:
        samples, numbers = [], []
        for _ in range(rounds):
            shared.renew_epoch()
            for module in (cal_cache, flag_cache, win_cache):
                module.clear_local()
            counted[0] = 0
            with connection.execute_wrapper(count):
                started = time.perf_counter()
                if method == "GET":
                    response = client.get(path)
                else:
                    response = client.post(path, data=body, content_type="application/json")
                samples.append((time.perf_counter() - started) * 1000)
            numbers.append(counted[0])
            if response.status_code >= 400:
                raise SystemExit(f"{label}: {response.status_code} {response.content[:200]!r}")
        out[label] = (statistics.median(samples), statistics.median(numbers))
    return out


# -- writes ---------------------------------------------------------------------------------


def _call(srv, method: str, path: str, key: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    status, _, content = fetch(method, srv.url + path, headers, data, timeout=10)
    return status, content


class Writer(threading.Thread):
    """One write a second for `seconds` (bounded: at most `seconds` writes), then READS_AFTER
    reads of the affected answer per write."""

    def __init__(self, srv, write_key: str, read_key: str, first: dict, seconds: int):
        super().__init__(daemon=True)
        self.srv, self.wkey, self.rkey, self.first, self.seconds = (
            srv, write_key, read_key, first, seconds,
        )  # fmt: skip
        self.stats = {k: {"writes": 0, "failed": 0, "reads": 0, "stale": 0, "ms": []}
                      for k in ("configuration value", "holiday", "flag")}  # fmt: skip

    def _reads(self, kind: str, path: str, shows) -> None:
        s = self.stats[kind]
        for _ in range(READS_AFTER):
            status, body = _call(self.srv, "GET", path, self.rkey)
            s["reads"] += 1
            if status != 200 or not shows(json.loads(body)):
                s["stale"] += 1

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        holiday_day = date(2026, 6, 17)  # a Wednesday, no TARGET2 holiday
        cal = f"/api/v1/calendars/{MARKET_CALENDAR}"
        for n in range(self.seconds):
            if time.monotonic() > deadline:
                break
            tick = time.monotonic()
            kind = ("configuration value", "holiday", "flag")[n % 3]
            s = self.stats[kind]
            started = time.perf_counter()
            if kind == "configuration value":
                value = 100_000 + n
                status, _ = _call(
                    self.srv, "PATCH",
                    f"/api/v1/configurations/{self.first['key']}/values/{self.first['value_id']}/",
                    self.wkey, {"value": value},
                )  # fmt: skip
                path = f"/api/v1/configurations/{self.first['key']}/resolve?institution={CODE}"
                shows = lambda b, v=value: b.get("value") == v  # noqa: E731
            elif kind == "holiday":
                adding = (n // 3) % 2 == 0
                if adding:
                    status, _ = _call(self.srv, "POST", f"{cal}/holidays/", self.wkey,
                                      {"date": holiday_day.isoformat(), "name": "Bench day"})  # fmt: skip
                else:
                    status, _ = _call(
                        self.srv, "DELETE", f"{cal}/holidays/{holiday_day}/", self.wkey
                    )
                path = f"{cal}/business-days/check?date={holiday_day}"
                shows = lambda b, a=adding: b.get("is_business_day") is (not a)  # noqa: E731
            else:
                everyone = (n // 3) % 2 == 0
                status, _ = _call(self.srv, "PATCH", "/api/v1/flags/feature-01/", self.wkey,
                                  {"everyone": everyone})  # fmt: skip
                path = f"/api/v1/flags/evaluate?institution={CODE}"
                shows = lambda b, e=everyone: _flag_enabled(b, "feature-01") is e  # noqa: E731
            s["ms"].append((time.perf_counter() - started) * 1000)
            s["writes"] += 1
            if status >= 300:
                s["failed"] += 1
                print(f"  write {kind} answered {status}")
                continue
            self._reads(kind, path, shows)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))


def _flag_enabled(body, name: str):
    flags = body.get("flags", body) if isinstance(body, dict) else body
    if isinstance(flags, dict):
        value = flags.get(name)
        return value.get("enabled", value.get("value")) if isinstance(value, dict) else value
    for item in flags:
        if item.get("key", item.get("name")) == name:
            return item.get("enabled", item.get("value"))
    return None


# -- main -----------------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{'<' + format(-value, '.0f'):>7}" if value < 0 else f"{value:7.2f}"


def print_cold(step: int, times: dict) -> None:
    print(f"  {step:>6} institutions: " + ", ".join(f"{k} {v[0]:.1f}" for k, v in times.items()))


def main() -> None:  # noqa: C901 - one linear script
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="10%% of the data set, short runs")
    args = parser.parse_args()
    cfg = SCALE["small" if args.small else "full"]
    started_all = time.monotonic()
    load = os.getloadavg()
    print(
        f"scale: {'small' if args.small else 'full'}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )

    with BenchServer() as srv:
        srv.port = _port()
        t = time.monotonic()
        step0 = cfg["cold_steps"][0]
        institutions = seed_institutions(step0)
        calendars = seed_calendars(cfg["calendars"])
        t_cal = time.monotonic() - t
        seed_windows(cfg["windows"], calendars)
        first = seed_configurations(cfg["configurations"], institutions, min(cfg["valued"], step0))
        seed_flags(cfg["flags"], institutions)
        read_key = srv.key("bench-platform")
        write_key = srv.key("bench-writer", write=True)
        reads = hot_reads(first)
        print("\ncold (uncached) time of one request, in process, median of 5, ms:")
        cold = {step0: cold_times(reads, read_key)}
        print_cold(step0, cold[step0])

        # Grow to the platform size: more institutions, and values for `valued` of them.
        from django.db import transaction

        from configuration import services
        from configuration.models import Configuration

        institutions += seed_institutions(cfg["institutions"], start=step0)
        for number, configuration in enumerate(Configuration.objects.order_by("pk")):
            with transaction.atomic():
                for index in range(step0, cfg["valued"]):
                    services.create_value(
                        configuration=configuration,
                        data={"value": number + index, "institution": institutions[index],
                              "effective_from": T0},
                    )  # fmt: skip
        from calendars.models import Holiday
        from configuration.models import ConfigurationValue

        print(
            f"\nseeded through the services in {time.monotonic() - t:.0f} s (calendars "
            f"{t_cal:.0f} s): {len(institutions)} institutions, {len(calendars)} calendars, "
            f"{Holiday.objects.count()} holidays, {cfg['windows']} windows, "
            f"{cfg['configurations']} configurations, {ConfigurationValue.objects.count()} "
            f"values, {cfg['flags']} flags"
        )
        step1 = cfg["cold_steps"][1]
        cold[step1] = cold_times(reads, read_key)
        print_cold(step1, cold[step1])

        headers = {"Authorization": f"Api-Key {read_key}"}
        srv.start()
        secs = cfg["seconds"]
        # Warm both workers on everything.
        wrk(srv, [(m, p, b) for _, m, p, b in reads], headers, 2)
        idle_a = scrape(srv)
        idle_b = scrape(srv)
        per_scrape = queries(idle_a, idle_b)

        print(
            "\nisolated (each read alone, wrk -t2 -c8, "
            f"{secs} s; floor = harness baseline, DRF view + one Redis GET, same gunicorn):"
        )
        head = (f"  {'endpoint':<28} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
                f"{'non2xx':>6} {'ratio':>5} {'hit':>6} {'kept':>6} {'q/req':>6}")  # fmt: skip
        print(head)
        print("  (hit: the app's own cache counter; kept: answered from kept answers before")
        print("   Django and DRF, cbp_ready_responses_total; q/req: PostgreSQL queries a request)")
        before_base = baseline(srv, secs)
        rows = {}
        for label, method, path, body in reads:
            m0 = scrape(srv)
            r = wrk(srv, [(method, path, body)], headers, secs)
            m1 = scrape(srv)
            after_base = baseline(srv, secs)
            floor = (before_base + after_base) / 2
            q = (queries(m0, m1) - per_scrape) / r["requests"]
            rows[label] = r
            flag = " *" if r["latency_sum_ratio"] > SUSPECT_LATENCY_SUM else ""
            print(
                f"  {label:<28} {r['rps']:7.0f} {r['p50']:7.2f} {r['p95']:7.2f} {r['p99']:7.2f} "
                f"{r['non2xx'] + r['socket_errors']:6d} {r['rps'] / floor:5.2f} "
                f"{hit_rate(m0, m1, label):>6} {kept_rate(m0, m1, r['requests']):>6} {q:6.3f}"
                f"{flag}"
            )
            before_base = after_base
        print(f"  floor (baseline) last run: {before_base:.0f} req/s")
        if any(r["latency_sum_ratio"] > SUSPECT_LATENCY_SUM for r in rows.values()):
            print(
                "  * wrk's latencies add up to more than connections x duration: a worker was "
                "recycled under the run and wrk timed requests from before its reconnect; that "
                "row's p50-p99 are not to be trusted"
            )

        def mixed(title: str, writer: Writer | None) -> None:
            """Mixed load (-c7, all reads rotated) for len(reads) * probe + 4 s; meanwhile each
            read is probed alone on one more connection for `probe` s (its client latency
            under the mixed load)."""
            seconds = len(reads) * probe + 4
            m0 = scrape(srv)
            finish = wrk(srv, [(m, p, b) for _, m, p, b in reads], headers, seconds, 7, True)
            if writer:
                writer.start()
            time.sleep(2)
            probes = {
                label: wrk(srv, [(method, path, body)], headers, probe, connections=1)
                for label, method, path, body in reads
            }
            r = finish()
            if writer:
                writer.join(timeout=seconds + 30)
            m1 = scrape(srv)
            print(
                f"\n{title}, {seconds} s: {r['rps']:.0f} req/s (ratio {r['rps'] / floor_now:.2f} to "
                f"the floor) + probes, p50 {r['p50']:.2f} p95 {r['p95']:.2f} p99 {r['p99']:.2f} ms,"
                f" non-2xx {r['non2xx']}, socket errors {r['socket_errors']}, queries/request "
                f"{(queries(m0, m1) - per_scrape) / r['requests']:.3f}"
            )
            print(f"  {'endpoint':<28} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
                  f"{'errors':>6} {'hit':>6}   (req/s, errors, hit: server /metrics deltas;"
                  " p50-p99: the 1-connection probe)")  # fmt: skip
            for label, *_ in reads:
                op = OPERATIONS[label]
                count = delta(m0, m1, "cbp_operation_duration_seconds_count", operation=op)
                errors = delta(m0, m1, "cbp_operation_errors_total", operation=op)
                q = probes[label]
                errors += q["non2xx"] + q["socket_errors"]
                rate = f"{count / seconds:7.0f}"
                if op == "window-sessions":
                    rate = f"{'(' + format(count / seconds, '.0f') + ')':>7}"
                print(f"  {label:<28} {rate} {q['p50']:7.2f} {q['p95']:7.2f} {q['p99']:7.2f} "
                      f"{errors:6.0f} {hit_rate(m0, m1, label):>6}")  # fmt: skip
            for op in sorted(WRITE_OPERATIONS):
                count, (p50, p95, p99) = server_percentiles(m0, m1, op)
                if count:
                    errors = delta(m0, m1, "cbp_operation_errors_total", operation=op)
                    print(f"  write {op[:22]:<22} {'n=' + format(count, '.0f'):>7} {ms(p50)} "
                          f"{ms(p95)} {ms(p99)} {errors:6.0f}   (server side, bucket-interpolated)")  # fmt: skip
            if writer:
                print(
                    "  writes (one a second through the API) and reads after each write returned:"
                )
                for kind, s in writer.stats.items():
                    med = statistics.median(s["ms"]) if s["ms"] else float("nan")
                    print(f"    {kind:<20} writes {s['writes']:3d} (failed {s['failed']}), "
                          f"median write {med:6.1f} ms, reads after {s['reads']:4d}, "
                          f"stale {s['stale']}")  # fmt: skip

        floor_now = before_base
        probe = cfg["probe"]
        mixed(f"mixed read load, {len(reads)} reads rotated", None)
        seconds = len(reads) * probe + 4
        writer = Writer(srv, write_key, read_key, first, seconds)
        mixed("mixed read load + one write a second", writer)
        base_end = baseline(srv, secs)
        print(f"\nfloor (baseline) at the end: {base_end:.0f} req/s")

        step2 = cfg["cold_steps"][2]
        grow_institutions(step2)
        cold[step2] = cold_times(reads, read_key)
        print("\ncold (uncached) time of one request, in process, median of 5: ms (SQL queries)")
        print(f"  {'endpoint':<28}" + "".join(f"{s:>12}" for s in cold))
        for label, *_ in reads:
            print(
                f"  {label:<28}"
                + "".join(f"{cold[s][label][0]:7.1f} ({cold[s][label][1]:2.0f})" for s in cold)
            )

    print(f"\nmanage.py check: {check_seconds():.2f} s (median of 3, a fresh process each)")
    load = os.getloadavg()
    print(f"\nload average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"total {time.monotonic() - started_all:.0f} s")  # fmt: skip
    if Path(__file__).resolve().parent.parent.joinpath("..", "shared", "perf", "ratio.sh").exists():
        print("true framework floor (separate minimal Django project): make bench-floor")


if __name__ == "__main__":
    main()
