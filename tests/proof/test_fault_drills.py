"""Part 4: fault drills against a real stack this module starts itself.

A PostgreSQL (initdb into a temporary directory, run as the `postgres` user when we are root,
max_connections=20), a Redis (no persistence) and gunicorn (2 sync workers, cbpconfig.wsgi,
cbpconfig/gunicorn.conf.py) on free ports in 16400-16499 of 127.0.0.1, migrated and seeded
(tests.proof.world). Under a bounded load (LOAD_THREADS client threads, one request per TCP
connection, ~DRILL_SECONDS per drill, at most MAX_REQUESTS_PER_THREAD each; a quarter of the
requests are writes that create holidays) each drill injects one fault:

- redis_stopped:          Redis is stopped (SIGTERM) for 6 s, then started again;
- redis_paused:           Redis does `DEBUG SLEEP 5` (alive but unresponsive for 5 s);
- postgres_restarted:     `pg_ctl restart -m fast`;
- connection_exhaustion:  every connection slot the service's role may use is held open and
                          the service's own connections are terminated, for 6 s;
- gunicorn_sigterm:       SIGTERM to the gunicorn master under load (graceful shutdown).

Each drill prints its requests, failed requests by kind, p99 and the longest request, and
asserts: no 5xx (503 only in the drills where the database is out), no request longer than
BOUND seconds, and every write acknowledged with a 2xx is in the database afterwards (read
directly from PostgreSQL). Failed connections (refused, reset before an answer) are printed but
are not failures: they were never acknowledged. Every process started here is stopped by its
pid at the end of the module.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from tests.support.load import Load as BaseLoad
from tests.support.processes import (
    free_port,
    log_tail,
    python,
    start_logged,
    stop_process,
    wait_for_http,
    wait_until,
)
from tests.support.servers import (
    Cluster,
    OwnRedis,
    chown_postgres,
    gunicorn_command,
    has_postgres_user,
    pg_bindir,
    stack_env,
)

BOUND = 2.0  # seconds: the longest any request may take, in any drill
LOAD_THREADS = 4
DRILL_SECONDS = 13.0
MAX_REQUESTS_PER_THREAD = 1500
PAUSE_BETWEEN_REQUESTS = 0.01
CLIENT_TIMEOUT = BOUND + 6  # a request slower than BOUND is still measured, up to this
PORTS = range(16400, 16500)
MAX_CONNECTIONS = 20
REQUIRE = os.environ.get("CBP_REQUIRE_SERVICES") == "1"

pytestmark = [pytest.mark.proof, pytest.mark.timeout(150)]


# ----------------------------------------------------------------------------- processes


@dataclass
class Stack:
    tmp: Path
    postgres: Cluster
    redis: OwnRedis
    http_port: int
    env: dict = field(default_factory=dict)
    gunicorn: subprocess.Popen | None = None
    keys: dict = field(default_factory=dict)
    started: str = ""

    def admin(self, dbname: str = "cbp", timeout: int = 2):
        return self.postgres.connect(dbname, timeout)

    def start_gunicorn(self) -> None:
        metrics = self.tmp / "metrics"
        shutil.rmtree(metrics, ignore_errors=True)
        metrics.mkdir()
        self.gunicorn = start_logged(
            gunicorn_command(self.http_port, workers=2),
            self.tmp / "gunicorn.log",
            env=dict(self.env, PROMETHEUS_MULTIPROC_DIR=str(metrics)),
        )
        ok = wait_for_http(f"http://127.0.0.1:{self.http_port}/live", timeout=40)
        assert ok, f"gunicorn did not start: {self.gunicorn_log()}"

    def gunicorn_log(self) -> str:
        return log_tail(self.tmp / "gunicorn.log")

    def stop(self) -> None:
        stop_process(self.gunicorn, timeout=15)
        self.redis.stop(timeout=15)
        self.postgres.kill()


@pytest.fixture(scope="module")
def stack():
    bindir = pg_bindir(search_path=True)
    missing = [
        name
        for name, ok in (
            ("PostgreSQL server binaries (initdb, pg_ctl)", bindir),
            ("redis-server", shutil.which("redis-server")),
            ("redis-cli", shutil.which("redis-cli")),
            ("runuser and a postgres user", os.geteuid() != 0 or has_postgres_user()),
        )
        if not ok
    ]
    if missing:
        message = "fault drills need " + ", ".join(missing)
        pytest.fail(message) if REQUIRE else pytest.skip(message)
    taken: set[int] = set()
    tmp = Path(tempfile.mkdtemp(prefix="cbp-proof-drills-"))
    postgres = Cluster(
        tmp,
        "pgdata",
        free_port(PORTS, taken=taken),
        bindir,
        extra_options=f"-c max_connections={MAX_CONNECTIONS} -c superuser_reserved_connections=3",
    )
    stack = Stack(
        tmp=tmp,
        postgres=postgres,
        redis=OwnRedis(free_port(PORTS, taken=taken)),
        http_port=free_port(PORTS, taken=taken),
    )
    started = time.monotonic()
    try:
        chown_postgres(tmp)
        postgres.initdb()
        postgres.start(wait=60)
        with stack.admin("postgres") as conn:
            conn.execute("CREATE ROLE cbp LOGIN")
            conn.execute("CREATE DATABASE cbp OWNER cbp")
        stack.redis.start()
        stack.env = stack_env(
            f"postgres://cbp@127.0.0.1:{postgres.port}/cbp",
            f"redis://127.0.0.1:{stack.redis.port}/0",
            cache_prefix="proof-drills",
            log_level="ERROR",
        )
        migrated = python("manage.py", "migrate", "--noinput", env=stack.env)
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        seeded = python(
            "-c",
            "import json, django; django.setup(); from tests.proof.world import seed; "
            "print('KEYS=' + json.dumps(seed().keys))",
            env=stack.env,
        )
        assert seeded.returncode == 0, seeded.stderr[-3000:]
        line = next(x for x in seeded.stdout.splitlines() if x.startswith("KEYS="))
        stack.keys = json.loads(line[5:])
        stack.start_gunicorn()
        stack.started = (
            f"stack up in {time.monotonic() - started:.1f}s: postgres :{postgres.port}"
            f" (pid {postgres.postmaster_pid()}), redis :{stack.redis.port}"
            f" (pid {stack.redis.proc.pid if stack.redis.proc else None}),"
            f" gunicorn :{stack.http_port} (pid {stack.gunicorn.pid if stack.gunicorn else None})"
        )
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------- load


class Load(BaseLoad):
    """LOAD_THREADS threads, each: 3 reads then 1 write, until stopped or the count is hit."""

    THREADS = LOAD_THREADS
    MAX_PER_THREAD = MAX_REQUESTS_PER_THREAD
    PAUSE = PAUSE_BETWEEN_REQUESTS
    TIMEOUT = CLIENT_TIMEOUT
    FIRST_WRITE_DATE = date(2100, 1, 1)
    READS = [
        ("/api/v1/calendars/TARGET2/business-days/check?date=2026-12-24", "platform_read"),
        ("/api/v1/windows/A-WIN/status?at=2026-12-23T10:00:00Z", "a_read"),
        ("/api/v1/flags/evaluate", "a_read"),
        ("/api/v1/institutions/DEUTDEFF/configuration", "a_read"),
        ("/api/v1/calendars/", "platform_read"),
        ("/api/v1/windows/SCT/", "platform_read"),
    ]

    def __init__(self, stack: Stack, drill: str):
        ensure_up(stack)  # every drill starts with the whole stack up and ready
        super().__init__(stack.http_port, stack.keys, drill)

    def run(  # type: ignore[override]
        self,
        schedule: list[tuple[float, str, Callable[[], object]]],
        seconds: float = DRILL_SECONDS,
    ) -> list[str]:
        """Run the load for `seconds`, calling each scheduled action at its offset."""
        return super().run(sorted(schedule, key=lambda s: s[0]), seconds=seconds)


def acknowledged_missing(stack: Stack, names: list[str]) -> list[str]:
    """The acknowledged writes that are not in the database (read as the superuser)."""
    if not names:
        return []
    deadline = time.monotonic() + 30
    while True:
        try:
            with stack.admin() as conn:
                rows = conn.execute(
                    "SELECT name FROM calendars_holiday WHERE name = ANY(%s)", (names,)
                ).fetchall()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    present = {row[0] for row in rows}
    return [name for name in names if name not in present]


def verdict(load: Load, log: list[str], *, database_outage: bool, stack: Stack, report) -> str:
    outcomes = load.outcomes
    durations = sorted(o.seconds for o in outcomes)
    p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))] if durations else 0.0
    longest = max(outcomes, key=lambda o: o.seconds) if outcomes else None
    failed = Counter(
        str(o.result) for o in outcomes if not (isinstance(o.result, int) and o.result < 400)
    )
    errors_5xx = [
        o
        for o in outcomes
        if isinstance(o.result, int)
        and o.result >= 500
        and not (o.result == 503 and database_outage)
    ]
    slow = [o for o in outcomes if o.seconds > BOUND or o.result == "timeout"]
    lost = acknowledged_missing(stack, load.acked)
    lines = [
        f"== drill {load.drill}: {len(outcomes)} requests, {sum(failed.values())} failed "
        f"{dict(failed) or ''}, p99 {p99:.3f}s, longest {longest.seconds if longest else 0:.3f}s"
        + (f" ({longest.method} {longest.path} -> {longest.result})" if longest else ""),
        f"   schedule: {'; '.join(log)}",
        f"   acknowledged writes {len(load.acked)}, lost {len(lost)}; 5xx (not allowed) "
        f"{len(errors_5xx)}; slower than {BOUND}s {len(slow)}",
    ]
    for o in errors_5xx[:5] + slow[:5]:
        lines.append(f"     {o.method} {o.path} -> {o.result} in {o.seconds:.3f}s")
    if lost:
        lines.append(f"     lost: {lost[:10]}")
    text = "\n".join(lines)
    if stack.started:
        text, stack.started = f"{stack.started}\n{text}", ""
    report(text)
    problems = []
    if errors_5xx:
        problems.append(f"{len(errors_5xx)} server errors")
    if slow:
        problems.append(f"{len(slow)} requests over {BOUND}s")
    if lost:
        problems.append(f"{len(lost)} acknowledged writes lost")
    if not outcomes:
        problems.append("no requests were made")
    return "; ".join(problems)


def ensure_up(stack: Stack) -> None:
    if not stack.redis.answers():
        stack.redis.stop(timeout=15)
        stack.redis.start()
    if stack.gunicorn is None or stack.gunicorn.poll() is not None:
        stack.start_gunicorn()
    assert wait_for_http(f"http://127.0.0.1:{stack.http_port}/ready", timeout=30), (
        f"service not ready before the drill: {stack.gunicorn_log()}"
    )


# ----------------------------------------------------------------------------- drills


def test_drill_redis_stopped(stack, proof_report):
    load = Load(stack, "redis_stopped")
    log = load.run(
        [
            (3.0, "redis stopped (SIGTERM)", lambda: stack.redis.stop(timeout=15)),
            (9.0, "redis started again", stack.redis.start),
        ]
    )
    problems = verdict(load, log, database_outage=False, stack=stack, report=proof_report)
    assert not problems, problems


def test_drill_redis_paused(stack, proof_report):
    load = Load(stack, "redis_paused")
    sleeper: list[subprocess.Popen] = []

    def pause():
        sleeper.append(stack.redis.pause(5, settle=0))

    try:
        log = load.run([(3.0, "redis DEBUG SLEEP 5", pause)])
    finally:
        for proc in sleeper:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                stop_process(proc, timeout=15)
    problems = verdict(load, log, database_outage=False, stack=stack, report=proof_report)
    assert not problems, problems


def test_drill_postgres_restarted(stack, proof_report):
    load = Load(stack, "postgres_restarted")
    restarted: list[subprocess.CompletedProcess] = []
    log = load.run(
        [
            (
                3.0,
                "pg_ctl restart -m fast",
                lambda: restarted.append(stack.postgres.restart("fast", wait=60)),
            )
        ]
    )
    assert restarted, "pg_ctl restart never ran"
    assert restarted[0].returncode == 0, (restarted, stack.postgres.log_tail())
    problems = verdict(load, log, database_outage=True, stack=stack, report=proof_report)
    assert not problems, problems


class SlotHog:
    """Holds PostgreSQL connection slots as the service's role, and ends the service's own."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.held: list = []
        self.lock = threading.Lock()
        self.admin = stack.admin()  # a superuser connection, in the reserved slots
        self.left: list[int] = []

    def connect(self) -> bool:
        import psycopg

        try:
            conn = psycopg.connect(
                host="127.0.0.1",
                port=self.stack.postgres.port,
                user="cbp",
                dbname="cbp",
                connect_timeout=2,
            )
        except psycopg.OperationalError:
            return False
        with self.lock:
            self.held.append(conn)
        return True

    def fill(self) -> None:
        for _ in range(MAX_CONNECTIONS):  # bounded: more than there are slots
            if not self.connect():
                return

    def end_service_connections(self) -> int:
        with self.lock:
            mine = [conn.info.backend_pid for conn in self.held]
        return self.admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE usename = 'cbp' AND NOT (pid = ANY(%s))",
            (mine,),
        ).fetchone()[0]

    def spin(self, stop: threading.Event) -> None:
        deadline = time.monotonic() + 3
        while not stop.is_set() and time.monotonic() < deadline:  # bounded
            if not self.connect():
                time.sleep(0.002)

    def exhaust(self) -> None:
        """Take every free slot; then end the service's connections while spinners grab each
        slot that frees (the service reconnects on its next request), until it holds none."""
        self.fill()
        stop = threading.Event()
        spinners = [threading.Thread(target=self.spin, args=(stop,), daemon=True) for _ in range(3)]
        for spinner in spinners:
            spinner.start()
        quiet_since = None
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:  # bounded
            if self.end_service_connections():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.3:
                break
            time.sleep(0.02)
        stop.set()
        for spinner in spinners:
            spinner.join(timeout=5)
        self.left.append(self.end_service_connections())

    def release(self) -> None:
        with self.lock:
            held, self.held = self.held, []
        for conn in held:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        self.release()
        self.admin.close()


def test_drill_connection_exhaustion(stack, proof_report):
    load = Load(stack, "connection_exhaustion")
    hog = SlotHog(stack)
    held = []
    try:
        log = load.run(
            [
                (3.0, "hold every free connection slot, end the service's", hog.exhaust),
                (8.9, "count", lambda: held.append(len(hog.held))),
                (9.0, "release them", hog.release),
            ]
        )
        log.append(f"held {held} connections; service connections left {hog.left}")
    finally:
        hog.close()
    problems = verdict(load, log, database_outage=True, stack=stack, report=proof_report)
    assert held, "the hold never happened"
    assert held[0] > 0, "could not open any connection to hold"
    assert not problems, problems


def test_drill_gunicorn_sigterm(stack, proof_report):
    load = Load(stack, "gunicorn_sigterm")
    exit_after: list[float] = []

    def term():
        os.kill(stack.gunicorn.pid, signal.SIGTERM)
        t0 = time.monotonic()

        def watch():
            try:
                stack.gunicorn.wait(timeout=40)
                exit_after.append(time.monotonic() - t0)
            except subprocess.TimeoutExpired:
                pass

        threading.Thread(target=watch, daemon=True).start()

    log = load.run([(3.0, "SIGTERM to the gunicorn master", term)], seconds=DRILL_SECONDS)
    wait_until(lambda: bool(exit_after), 40, step=0.2)
    log.append(f"master exited {exit_after[0]:.1f}s after SIGTERM" if exit_after else "no exit")
    problems = verdict(load, log, database_outage=False, stack=stack, report=proof_report)
    assert exit_after, "gunicorn did not exit within 40 s of SIGTERM"
    assert exit_after[0] < 25, "gunicorn did not shut down gracefully in 25 s"
    assert not problems, problems
