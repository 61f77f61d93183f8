"""The processes the drills start and stop: PostgreSQL clusters, redis-servers, sentinels,
gunicorn and HAProxy, all on 127.0.0.1 ports 17300-17499 and under one temporary directory
owned by the `postgres` user; and the bounded load every drill runs (tests.support.load).

Every process is started here with a known pid and stopped by that pid (``Processes.stop_all``
in the drills' teardown); data directories are removed with the temporary directory. Nothing
here touches the shared PostgreSQL (5432) or Redis (6379).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.load import Calls, Load
from tests.support.processes import (
    HOST,
    ROOT,
    free_port,
    run,
    stop_process,
    wait_for_http,
    wait_until,
)
from tests.support.processes import Processes as _Processes
from tests.support.servers import (
    Cluster,
    as_postgres,
    chown_postgres,
    gunicorn_command,
    pg_bindir,
    redis_answers,
    stack_env,
)
from tests.support.web import request

__all__ = [
    "DEPLOY",
    "HOST",
    "REQUIRE",
    "ROOT",
    "Calls",
    "Cluster",
    "Load",
    "Ports",
    "Processes",
    "as_postgres",
    "chown_postgres",
    "django_env",
    "get",
    "manage",
    "missing_rows",
    "pg_bindir",
    "ready",
    "redis_cli",
    "request",
    "run",
    "stop_process",
    "wait_until",
]

DEPLOY = ROOT / "deploy"
PORTS = range(17300, 17500)
REQUIRE = os.environ.get("CBP_REQUIRE_SERVICES") == "1"


class Ports:
    """Free ports of 17300-17499, none handed out twice in a run."""

    taken: set[int] = set()

    @classmethod
    def take(cls) -> int:
        return free_port(PORTS, taken=cls.taken)


# ----------------------------------------------------------------------------- Redis


def redis_cli(port: int, *args: str, check: bool = True) -> str:
    """redis-cli's answer ("" when it fails and check is False)."""
    done = run(["redis-cli", "-h", HOST, "-p", str(port), *args], timeout=10, check=check)
    return done.stdout.strip() if done.returncode == 0 else ""


# ----------------------------------------------------------------------------- processes


_live: list[Processes] = []


@atexit.register
def _stop_leftovers() -> None:
    """A run stopped from outside (`timeout` sends SIGTERM, see conftest) still stops what it
    started."""
    for processes in reversed(_live):
        processes.stop_all()


class Processes(_Processes):
    """Everything a drill started (each in a session of its own, output in ``root/<name>.log``):
    stopped by pid, in reverse order, in teardown."""

    def __init__(self, root: Path):
        super().__init__(root, new_session=True)
        self.clusters: list[Cluster] = []
        _live.append(self)

    def cluster(self, name: str, bindir: Path, port: int | None = None) -> Cluster:
        cluster = Cluster(self.root, name, port or Ports.take(), bindir)
        self.clusters.append(cluster)
        return cluster

    def redis(self, name: str, *args: str, port: int | None = None) -> tuple[subprocess.Popen, int]:
        port = port or Ports.take()
        # A copy: after a failover the sentinels make the servers rewrite their config file.
        conf = self.root / f"{name}.conf"
        shutil.copyfile(DEPLOY / "redis" / "redis.conf", conf)
        proc = self.popen(
            name,
            [
                "redis-server",
                str(conf),
                "--port",
                str(port),
                "--bind",
                HOST,
                "--dir",
                str(self.root),
                "--maxmemory",
                "64mb",
                *args,
            ],
        )
        assert wait_until(lambda: redis_answers(port), 10), self.log_tail(name)
        return proc, port

    def gunicorn(
        self, name: str, env: dict, port: int | None = None, workers: int = 2
    ) -> tuple[subprocess.Popen, int]:
        port = port or Ports.take()
        metrics = self.root / f"{name}-metrics"
        shutil.rmtree(metrics, ignore_errors=True)
        metrics.mkdir()
        proc = self.popen(
            name,
            gunicorn_command(port, workers),
            env={**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
        )
        ok = wait_for_http(
            f"http://{HOST}:{port}/live", proc=proc, timeout=60, attempt_timeout=5, step=0.1
        )
        assert ok, f"gunicorn {name} did not start: {self.log_tail(name)}"
        assert proc.poll() is None, f"gunicorn {name} did not start: {self.log_tail(name)}"
        return proc, port

    def stop_all(self, timeout: float = 25, *, together: bool = False) -> None:
        super().stop_all(timeout, together=together)
        for cluster in reversed(self.clusters):
            cluster.kill()
        with contextlib.suppress(ValueError):
            _live.remove(self)


def django_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a gunicorn or manage.py of the drill: its own database and Redis."""
    return stack_env(database_url, redis_url, cache_prefix="drill", log_level="WARNING", **extra)


def manage(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", *args], env=env, timeout=timeout)


# ----------------------------------------------------------------------------- HTTP


def get(port: int, path: str, key: str | None = None, timeout: float = 5):
    return request(port, "GET", path, key, timeout=timeout)


def ready(port: int) -> tuple[int | str, dict]:
    status, _, body = get(port, "/ready", timeout=3)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {}


# ----------------------------------------------------------------------------- load


def missing_rows(cluster: Cluster, names: list[str]) -> list[str]:
    """Acknowledged holiday writes that are not in the database (read as the superuser)."""
    if not names:
        return []
    rows = cluster.query("SELECT name FROM calendars_holiday WHERE name = ANY(%s)", (names,))
    present = {row[0] for row in rows}
    return [name for name in names if name not in present]
