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
import http.client
import itertools
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def free_port(taken: set[int]) -> int:
    for port in PORTS:
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError("no free port in 16400-16499")


def pg_bindir() -> Path | None:
    candidates = []
    if shutil.which("pg_ctl"):
        candidates.append(Path(shutil.which("pg_ctl")).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def wait_until(predicate, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return None


def stop_pid(proc: subprocess.Popen | None, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@dataclass
class Stack:
    tmp: Path
    bindir: Path
    pg_port: int
    redis_port: int
    http_port: int
    env: dict = field(default_factory=dict)
    redis: subprocess.Popen | None = None
    gunicorn: subprocess.Popen | None = None
    keys: dict = field(default_factory=dict)
    started: str = ""

    @property
    def pgdata(self) -> Path:
        return self.tmp / "pgdata"

    # -- PostgreSQL
    def pg_ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), *args]),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def pg_options(self) -> str:
        return (
            f"-p {self.pg_port} -c listen_addresses=127.0.0.1 -k {self.tmp / 'sock'} "
            f"-c max_connections={MAX_CONNECTIONS} -c superuser_reserved_connections=3"
        )

    def start_postgres(self) -> None:
        (self.tmp / "sock").mkdir()
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            for path in (self.tmp, self.tmp / "sock"):
                os.chown(path, pg.pw_uid, pg.pw_gid)
        done = subprocess.run(
            as_postgres(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        started = self.pg_ctl(
            "-l", str(self.tmp / "postgres.log"), "-o", self.pg_options(), "-w", "-t", "60", "start"
        )
        assert started.returncode == 0, started.stderr + self.pg_log()

    def pg_log(self) -> str:
        path = self.tmp / "postgres.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def postmaster_pid(self) -> int | None:
        path = self.pgdata / "postmaster.pid"
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def admin(self, dbname: str = "cbp", timeout: float = 2):
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.pg_port,
            user="postgres",
            dbname=dbname,
            autocommit=True,
            connect_timeout=timeout,
        )

    # -- Redis
    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "local",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_until(self.redis_answers, 10), "redis-server did not start"

    def redis_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    # -- the service
    def manage(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start_gunicorn(self) -> None:
        metrics = self.tmp / "metrics"
        shutil.rmtree(metrics, ignore_errors=True)
        metrics.mkdir()
        env = dict(self.env, PROMETHEUS_MULTIPROC_DIR=str(metrics))
        log = open(self.tmp / "gunicorn.log", "ab")  # noqa: SIM115 - closed with the process
        self.gunicorn = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "cbpconfig" / "gunicorn.conf.py"),
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{self.http_port}",
                "cbpconfig.wsgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        log.close()
        ok = wait_until(lambda: http_status(self.http_port, "/live") == 200, 40)
        assert ok, f"gunicorn did not start: {self.gunicorn_log()}"

    def gunicorn_log(self) -> str:
        path = self.tmp / "gunicorn.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        stop_pid(self.gunicorn)
        stop_pid(self.redis)
        if self.pgdata.exists():
            self.pg_ctl("-m", "immediate", "-w", "stop", timeout=30)
            pid = self.postmaster_pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def stack():
    bindir = pg_bindir()
    missing = [
        name
        for name, ok in (
            ("PostgreSQL server binaries (initdb, pg_ctl)", bindir),
            ("redis-server", shutil.which("redis-server")),
            ("redis-cli", shutil.which("redis-cli")),
            ("runuser and a postgres user", os.geteuid() != 0 or _has_postgres_user()),
        )
        if not ok
    ]
    if missing:
        message = "fault drills need " + ", ".join(missing)
        pytest.fail(message) if REQUIRE else pytest.skip(message)
    taken: set[int] = set()
    tmp = Path(tempfile.mkdtemp(prefix="cbp-proof-drills-"))
    stack = Stack(
        tmp=tmp,
        bindir=bindir,
        pg_port=free_port(taken),
        redis_port=free_port(taken),
        http_port=free_port(taken),
    )
    started = time.monotonic()
    try:
        stack.start_postgres()
        with stack.admin("postgres") as conn:
            conn.execute("CREATE ROLE cbp LOGIN")
            conn.execute("CREATE DATABASE cbp OWNER cbp")
        stack.start_redis()
        stack.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "CBP_TEST_DB_NAME", "CBP_CACHE_PREFIX")
            and not k.startswith(("PYTEST", "GUNICORN_"))
        }
        stack.env.update(
            {
                "DATABASE_URL": f"postgres://cbp@127.0.0.1:{stack.pg_port}/cbp",
                "REDIS_URL": f"redis://127.0.0.1:{stack.redis_port}/0",
                "CBP_CACHE_PREFIX": "proof-drills",
                "CBP_ENVIRONMENT": "development",
                "DEBUG": "false",
                "LOG_LEVEL": "ERROR",
                "CBP_THROTTLE_RATE": "1000000/minute",
                "DJANGO_SETTINGS_MODULE": "cbpconfig.settings",
            }
        )
        migrated = stack.manage("manage.py", "migrate", "--noinput")
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        seeded = stack.manage(
            "-c",
            "import json, django; django.setup(); from tests.proof.world import seed; "
            "print('KEYS=' + json.dumps(seed().keys))",
        )
        assert seeded.returncode == 0, seeded.stderr[-3000:]
        line = next(x for x in seeded.stdout.splitlines() if x.startswith("KEYS="))
        stack.keys = json.loads(line[5:])
        stack.start_gunicorn()
        stack.started = (
            f"stack up in {time.monotonic() - started:.1f}s: postgres :{stack.pg_port}"
            f" (pid {stack.postmaster_pid()}), redis :{stack.redis_port} (pid {stack.redis.pid}),"
            f" gunicorn :{stack.http_port} (pid {stack.gunicorn.pid})"
        )
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _has_postgres_user() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return shutil.which("runuser") is not None


# ----------------------------------------------------------------------------- load

_dates = itertools.count()
_dates_lock = threading.Lock()


def next_write_date() -> str:
    with _dates_lock:
        n = next(_dates)
    return (date(2100, 1, 1) + timedelta(days=n)).isoformat()


@dataclass
class Outcome:
    method: str
    path: str
    result: int | str  # status code, or refused / dropped / timeout / error:...
    seconds: float


class Load:
    """LOAD_THREADS threads, each: 3 reads then 1 write, until stopped or the count is hit."""

    def __init__(self, stack: Stack, drill: str):
        self.stack = stack
        self.drill = drill
        self.stop = threading.Event()
        self.outcomes: list[Outcome] = []
        self.acked: list[str] = []
        self.lock = threading.Lock()
        k = stack.keys
        self.reads = [
            ("/api/v1/calendars/TARGET2/business-days/check?date=2026-12-24", k["platform_read"]),
            ("/api/v1/windows/A-WIN/status?at=2026-12-23T10:00:00Z", k["a_read"]),
            ("/api/v1/flags/evaluate", k["a_read"]),
            ("/api/v1/institutions/DEUTDEFF/configuration", k["a_read"]),
            ("/api/v1/calendars/", k["platform_read"]),
            ("/api/v1/windows/SCT/", k["platform_read"]),
        ]

    def call(self, method, path, key, body=None) -> Outcome:
        conn = http.client.HTTPConnection("127.0.0.1", self.stack.http_port, timeout=CLIENT_TIMEOUT)
        headers = {"Authorization": f"Api-Key {key}", "Connection": "close"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        started = time.monotonic()
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            response.read()
            result: int | str = response.status
        except ConnectionRefusedError:
            result = "refused"
        except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
            result = "dropped"
        except TimeoutError:
            result = "timeout"
        except OSError as exc:
            result = f"error:{type(exc).__name__}"
        finally:
            conn.close()
        return Outcome(method, path, result, time.monotonic() - started)

    def worker(self, index: int) -> None:
        for i in range(MAX_REQUESTS_PER_THREAD):
            if self.stop.is_set():
                return
            if i % 4 == 3:
                day = next_write_date()
                name = f"drill-{self.drill}-{index}-{i}"
                outcome = self.call(
                    "POST",
                    "/api/v1/calendars/USFED/holidays/",
                    self.stack.keys["platform_write"],
                    {"date": day, "name": name},
                )
                if isinstance(outcome.result, int) and 200 <= outcome.result < 300:
                    with self.lock:
                        self.acked.append(name)
            else:
                path, key = self.reads[(i + index) % len(self.reads)]
                outcome = self.call("GET", path, key)
            with self.lock:
                self.outcomes.append(outcome)
            time.sleep(PAUSE_BETWEEN_REQUESTS)

    def run(self, schedule: list[tuple[float, str, callable]], seconds: float = DRILL_SECONDS):
        """Run the load for `seconds`, calling each scheduled action at its offset."""
        threads = [
            threading.Thread(target=self.worker, args=(i,), daemon=True)
            for i in range(LOAD_THREADS)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        log = []
        try:
            for offset, label, action in sorted(schedule, key=lambda s: s[0]):
                delay = started + offset - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                t0 = time.monotonic()
                action()
                log.append(f"t={t0 - started:.1f}s {label} ({time.monotonic() - t0:.1f}s)")
            delay = started + seconds - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=CLIENT_TIMEOUT + 2)
        return log


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
    if not stack.redis_answers():
        stop_pid(stack.redis)
        stack.start_redis()
    if stack.gunicorn is None or stack.gunicorn.poll() is not None:
        stack.start_gunicorn()
    assert wait_until(lambda: http_status(stack.http_port, "/ready") == 200, 30), (
        f"service not ready before the drill: {stack.gunicorn_log()}"
    )


# ----------------------------------------------------------------------------- drills


def test_drill_redis_stopped(stack, proof_report):
    ensure_up(stack)
    load = Load(stack, "redis_stopped")
    log = load.run(
        [
            (3.0, "redis stopped (SIGTERM)", lambda: stop_pid(stack.redis)),
            (9.0, "redis started again", stack.start_redis),
        ]
    )
    problems = verdict(load, log, database_outage=False, stack=stack, report=proof_report)
    assert not problems, problems


def test_drill_redis_paused(stack, proof_report):
    ensure_up(stack)
    load = Load(stack, "redis_paused")
    sleeper: list[subprocess.Popen] = []

    def pause():
        sleeper.append(
            subprocess.Popen(
                ["redis-cli", "-p", str(stack.redis_port), "DEBUG", "SLEEP", "5"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    try:
        log = load.run([(3.0, "redis DEBUG SLEEP 5", pause)])
    finally:
        for proc in sleeper:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                stop_pid(proc)
    problems = verdict(load, log, database_outage=False, stack=stack, report=proof_report)
    assert not problems, problems


def test_drill_postgres_restarted(stack, proof_report):
    ensure_up(stack)
    load = Load(stack, "postgres_restarted")
    restarted: list[subprocess.CompletedProcess] = []
    log = load.run(
        [
            (
                3.0,
                "pg_ctl restart -m fast",
                lambda: restarted.append(
                    stack.pg_ctl(
                        "-l",
                        str(stack.tmp / "postgres.log"),
                        "-o",
                        stack.pg_options(),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        "60",
                        "restart",
                    )
                ),
            )
        ]
    )
    assert restarted, "pg_ctl restart never ran"
    assert restarted[0].returncode == 0, (restarted, stack.pg_log())
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
                port=self.stack.pg_port,
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
    ensure_up(stack)
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
    ensure_up(stack)
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
    wait_until(lambda: bool(exit_after), 40)
    log.append(f"master exited {exit_after[0]:.1f}s after SIGTERM" if exit_after else "no exit")
    problems = verdict(load, log, database_outage=False, stack=stack, report=proof_report)
    assert exit_after, "gunicorn did not exit within 40 s of SIGTERM"
    assert exit_after[0] < 25, "gunicorn did not shut down gracefully in 25 s"
    assert not problems, problems
