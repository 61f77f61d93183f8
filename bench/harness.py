"""Benchmark harness: a real gunicorn (2 sync workers) on 127.0.0.1 against a PostgreSQL
database of its own and Redis, loaded with wrk, and the baseline it is compared with: a DRF
view doing one Redis GET served by the same gunicorn in the same run.

    with BenchServer() as srv:        # database cbp_bench migrated, Django set up in-process
        ...create data through the services...
        srv.start()
        print(srv.rps("/api/v1/...", headers={"Authorization": f"Api-Key {srv.key('bench')}"}))
        print(srv.baseline_rps())

Needs: PostgreSQL on 127.0.0.1:5432 (trust auth), Redis on 127.0.0.1:6379, `wrk`
(`apt-get install wrk`). Figures are printed, never asserted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/7")
DB_NAME = os.environ.get("BENCH_DB", "cbp_bench")

# Run from the repository root as a script (bench/run_all.py, `make bench`): ROOT is on sys.path
# (above), so the helpers the tests use to start and stop processes are importable here too.
from tests.support.processes import free_port, stop_process, wait_for_http  # noqa: E402
from tests.support.servers import gunicorn_command  # noqa: E402
from tests.support.web import fetch  # noqa: E402


def bic(number: int, country_and_location: str = "DEFF") -> str:
    """A distinct valid BIC per number: four letters from the number, then the country and
    location code (``DEFF``, ``FRPP``)."""
    letters = ""
    for _ in range(4):
        number, digit = divmod(number, 26)
        letters += chr(ord("A") + digit)
    return f"{letters}{country_and_location}"


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


class BenchServer:
    def __init__(self, workers: int = 2, fresh: bool = True):
        self.workers = workers
        self.fresh = fresh
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.env = dict(os.environ)
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "cbpconfig.settings",
                "CBP_ENVIRONMENT": "development",
                "DEBUG": "false",
                "LOG_LEVEL": "WARNING",
                "DATABASE_URL": f"{PG}/{DB_NAME}",
                "REDIS_URL": REDIS,
                "CBP_CACHE_PREFIX": "cbp-bench",
                "CBP_BENCH_ENDPOINTS": "true",
                "CBP_THROTTLE_RATE": "100000000/minute",
            }
        )

    # -- set-up -----------------------------------------------------------------------------
    def __enter__(self) -> BenchServer:
        if shutil.which("wrk") is None:
            raise SystemExit("wrk is needed: apt-get install wrk")
        if self.fresh:
            _psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            _psql(f"CREATE DATABASE {DB_NAME}")
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.cache import cache
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        cache.clear()
        cache.set("bench:baseline", "x" * 64, None)
        return self

    def key(self, name: str = "bench", institution=None, write: bool = False) -> str:
        from cbpconfig.models import APIKey

        _, raw = APIKey.objects.create_key(name=name, institution=institution, can_write=write)
        return raw

    def start(self) -> None:
        from django.db import connections

        connections.close_all()
        self.metrics_dir = tempfile.mkdtemp(prefix="cbp-bench-metrics-")
        env = dict(self.env, PROMETHEUS_MULTIPROC_DIR=self.metrics_dir)
        self.proc = subprocess.Popen(gunicorn_command(self.port, self.workers), cwd=ROOT, env=env)
        if not wait_for_http(f"{self.url}/live", timeout=30):
            raise SystemExit("gunicorn did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- measurement --------------------------------------------------------------------------
    def get(self, path: str, headers: dict | None = None) -> tuple[int, bytes]:
        status, _, body = fetch("GET", self.url + path, headers, timeout=5)
        return status, body

    def rps(
        self,
        path: str,
        headers: dict | None = None,
        seconds: int = 5,
        connections: int = 8,
        method: str = "GET",
        body: str | None = None,
    ) -> float:
        status, content = self._request(path, headers, method, body)
        if status >= 400:
            raise SystemExit(f"{method} {path} answered {status}: {content[:300]!r}")
        cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
        for name, value in (headers or {}).items():
            cmd += ["-H", f"{name}: {value}"]
        script = None
        if method != "GET":
            script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
            script.write(
                f'wrk.method = "{method}"\n'
                f"wrk.body = [[{body or ''}]]\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
            )
            script.close()
            cmd += ["-s", script.name]
        # Warm every worker's in-process caches first.
        subprocess.run(
            [*cmd[:4], "-d1s", *cmd[5:], self.url + path], capture_output=True, check=False
        )
        out = subprocess.run(
            [*cmd, self.url + path], capture_output=True, text=True, check=True
        ).stdout
        if script:
            os.unlink(script.name)
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if bad:
            print(f"  warning: {bad.group(1)} non-2xx answers for {path}")
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def _request(self, path, headers, method, body):
        data = body.encode() if body is not None else None
        hdrs = dict(headers or {})
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        status, _, content = fetch(method, self.url + path, hdrs, data, timeout=10)
        return status, content

    def baseline_rps(self, seconds: int = 5) -> float:
        return self.rps("/bench/redis-get", seconds=seconds)

    def worker_rss_mb(self) -> list[float]:
        import psutil

        if self.proc is None:
            return []
        master = psutil.Process(self.proc.pid)
        return [round(c.memory_info().rss / 2**20, 1) for c in master.children()]

    def compare(
        self, label: str, path: str, headers: dict | None = None, seconds: int = 5, **kw
    ) -> None:
        """Print one line: the endpoint's req/s, the baseline's, and the ratio."""
        value = self.rps(path, headers=headers, seconds=seconds, **kw)
        base = self.baseline_rps(seconds=seconds)
        print(
            f"{label:<44} {value:9.0f} req/s   baseline {base:9.0f} req/s   ratio {value / base:5.2f}"
        )

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            print(f"  worker RSS after load (MB): {self.worker_rss_mb()}")
            stop_process(self.proc, timeout=15)
            shutil.rmtree(getattr(self, "metrics_dir", ""), ignore_errors=True)
