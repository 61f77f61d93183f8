"""The processes the drills start and stop: PostgreSQL clusters, redis-servers, sentinels,
gunicorn and HAProxy, all on 127.0.0.1 ports 17300-17499 and under one temporary directory
owned by the `postgres` user; and the bounded load every drill runs.

Every process is started here with a known pid and stopped by that pid (``Processes.stop_all``
in the drills' teardown); data directories are removed with the temporary directory. Nothing
here touches the shared PostgreSQL (5432) or Redis (6379).
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PORTS = range(17300, 17500)
HOST = "127.0.0.1"
REQUIRE = os.environ.get("CBP_REQUIRE_SERVICES") == "1"


# ----------------------------------------------------------------------------- basics


def wait_until(predicate: Callable[[], object], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


class Ports:
    """Free ports of 17300-17499, none handed out twice in a run."""

    taken: set[int] = set()

    @classmethod
    def take(cls) -> int:
        for port in PORTS:
            if port in cls.taken:
                continue
            with socket.socket() as s:
                try:
                    s.bind((HOST, port))
                except OSError:
                    continue
            cls.taken.add(port)
            return port
        raise RuntimeError("no free port in 17300-17499")


def pg_bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL and pgBackRest refuse to run as root: run them as `postgres` then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def chown_postgres(*paths: Path) -> None:
    if os.geteuid() != 0:
        return
    pg = pwd.getpwnam("postgres")
    for path in paths:
        os.chown(path, pg.pw_uid, pg.pw_gid)


def run(cmd: list[str], *, timeout: float = 120, env: dict | None = None, check: bool = True):
    done = subprocess.run(
        cmd, capture_output=True, text=True, errors="replace", timeout=timeout, env=env
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
    return done


def stop_process(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 25):
    """Stop one process we started, by its pid."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


# ----------------------------------------------------------------------------- PostgreSQL


@dataclass
class Cluster:
    """A scratch PostgreSQL cluster run as `postgres` on its own port and socket directory."""

    root: Path
    name: str
    port: int
    bindir: Path
    env: dict = field(default_factory=dict)  # extra environment of the postmaster

    @property
    def datadir(self) -> Path:
        return self.root / self.name

    @property
    def sockdir(self) -> Path:
        return self.root / f"{self.name}-sock"

    @property
    def logfile(self) -> Path:
        return self.root / f"{self.name}.log"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def tool(self, name: str, *args: str) -> list[str]:
        command = [str(self.bindir / name), *args]
        if self.env:
            command = ["env", *(f"{k}={v}" for k, v in self.env.items()), *command]
        return as_postgres(command)

    def initdb(self) -> None:
        run(
            self.tool(
                "initdb",
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
        )

    def configure(self, *lines: str) -> None:
        with open(self.datadir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n" + "\n".join(lines) + "\n")

    def include(self, path: Path) -> None:
        """Include a file of deploy/ unchanged (a copy the postgres user can read)."""
        copy = self.root / f"{self.name}-{path.name}"
        shutil.copyfile(path, copy)
        chown_postgres(copy)
        self.configure(f"include '{copy}'")

    def options(self) -> str:
        return f"-p {self.port} -c listen_addresses={HOST} -k {self.sockdir}"

    def start(self) -> None:
        self.sockdir.mkdir(exist_ok=True)
        chown_postgres(self.sockdir)
        done = run(
            self.tool(
                "pg_ctl",
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-o",
                self.options(),
                "-w",
                "-t",
                "120",
                "start",
            ),
            timeout=150,
            check=False,
        )
        assert done.returncode == 0, f"{self.name} did not start: {done.stderr}\n{self.log_tail()}"

    def stop(self, mode: str = "fast") -> None:
        if (self.datadir / "postmaster.pid").exists():
            run(
                self.tool("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop"),
                timeout=60,
                check=False,
            )

    def promote(self) -> None:
        run(self.tool("pg_ctl", "-D", str(self.datadir), "-w", "promote"), timeout=60)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        """Teardown: stop it whatever state it is in, by its postmaster's pid."""
        self.stop("immediate")
        pid = self.postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def connect(self, dbname: str = "cbp", timeout: float = 3):
        import psycopg

        return psycopg.connect(
            host=HOST,
            port=self.port,
            user="postgres",
            dbname=dbname,
            autocommit=True,
            connect_timeout=timeout,
        )

    def query(self, sql: str, params=None, dbname: str = "cbp") -> list[tuple]:
        with self.connect(dbname) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def log_tail(self) -> str:
        return self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""


# ----------------------------------------------------------------------------- Redis


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


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


class Processes:
    """Everything a drill started: stopped by pid, in reverse order, in teardown."""

    def __init__(self, root: Path):
        self.root = root
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.clusters: list[Cluster] = []
        _live.append(self)

    def popen(self, name: str, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed below, kept by the child
        try:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            log.close()
        self.procs.append((name, proc))
        return proc

    def log_tail(self, name: str, size: int = 3000) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

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
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "cbpconfig" / "gunicorn.conf.py"),
                "--workers",
                str(workers),
                "--bind",
                f"{HOST}:{port}",
                "cbpconfig.wsgi:application",
            ],
            env={**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
        )
        ok = wait_until(lambda: get(port, "/live")[0] == 200 or proc.poll() is not None, 60)
        assert ok, f"gunicorn {name} did not start: {self.log_tail(name)}"
        assert proc.poll() is None, f"gunicorn {name} did not start: {self.log_tail(name)}"
        return proc, port

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            stop_process(proc)
        for cluster in reversed(self.clusters):
            cluster.kill()
        with contextlib.suppress(ValueError):
            _live.remove(self)


def django_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a gunicorn or manage.py of the drill: its own database and Redis."""
    drop = (
        "DATABASE_URL",
        "DATABASE_REPLICA_URL",
        "REDIS_URL",
        "CBP_TEST_DB_NAME",
        "CBP_CACHE_PREFIX",
        "PROMETHEUS_MULTIPROC_DIR",
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not k.startswith(("PYTEST", "GUNICORN_"))
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CBP_CACHE_PREFIX": "drill",
            "CBP_ENVIRONMENT": "development",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "CBP_THROTTLE_RATE": "1000000/minute",
            "DJANGO_SETTINGS_MODULE": "cbpconfig.settings",
        }
    )
    env.update(extra)
    return env


def manage(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", *args], env=env, timeout=timeout)


# ----------------------------------------------------------------------------- HTTP


def request(
    port: int,
    method: str,
    path: str,
    key: str | None = None,
    body: object | None = None,
    timeout: float = 10,
    headers: dict | None = None,
) -> tuple[int | str, dict, bytes]:
    """(status or failure kind, headers, body); one request per connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    sent = {"Connection": "close", **(headers or {})}
    if key:
        sent["Authorization"] = f"Api-Key {key}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        payload = response.read()
        return response.status, dict(response.getheaders()), payload
    except ConnectionRefusedError:
        return "refused", {}, b""
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
        return "dropped", {}, b""
    except TimeoutError:
        return "timeout", {}, b""
    except OSError as exc:
        return f"error:{type(exc).__name__}", {}, b""
    finally:
        conn.close()


def get(port: int, path: str, key: str | None = None, timeout: float = 5):
    return request(port, "GET", path, key, timeout=timeout)


def ready(port: int) -> tuple[int | str, dict]:
    status, _, body = get(port, "/ready", timeout=3)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {}


# ----------------------------------------------------------------------------- load


@dataclass
class Outcome:
    at: float  # seconds since the load started
    method: str
    path: str
    result: int | str
    seconds: float

    @property
    def ok(self) -> bool:
        return isinstance(self.result, int) and self.result < 400


class Figures:
    """Requests made and what they got: count, failed, p99, longest."""

    outcomes: list[Outcome]
    acked: list[str]

    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def figures(self) -> dict:
        durations = sorted(o.seconds for o in self.outcomes)
        p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))] if durations else 0
        longest = max(self.outcomes, key=lambda o: o.seconds, default=None)
        kinds = Counter(str(o.result) for o in self.failed())
        return {
            "requests": len(self.outcomes),
            "failed": len(self.failed()),
            "failed_by_kind": dict(kinds),
            "p99": p99,
            "longest": longest.seconds if longest else 0.0,
            "longest_request": (
                f"{longest.method} {longest.path} -> {longest.result}" if longest else ""
            ),
            "acknowledged_writes": len(self.acked),
        }


class Calls(Figures):
    """The requests of a drill without a load (one at a time), timed like the load's."""

    def __init__(self) -> None:
        self.outcomes = []
        self.acked = []
        self.started = time.monotonic()

    def request(self, port: int, method: str, path: str, key: str | None = None, body=None):
        t0 = time.monotonic()
        answer = request(port, method, path, key, body)
        self.outcomes.append(
            Outcome(t0 - self.started, method, path, answer[0], time.monotonic() - t0)
        )
        return answer


class Load(Figures):
    """THREADS client threads against one port, each: 3 reads then 1 write (a new holiday of
    USFED, with a name of its own), a short pause between requests, until stopped or at most
    MAX_PER_THREAD requests. Acknowledged (2xx) writes are kept to check none was lost."""

    THREADS = 4
    MAX_PER_THREAD = 1500
    PAUSE = 0.01
    TIMEOUT = 10.0

    _counter = 0
    _counter_lock = threading.Lock()

    def __init__(self, port: int, keys: dict, drill: str, writes: bool = True):
        self.port = port
        self.keys = keys
        self.drill = drill
        self.writes = writes
        self.outcomes: list[Outcome] = []
        self.acked: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.started = 0.0
        self.reads = [
            ("/api/v1/calendars/TARGET2/business-days/check?date=2026-12-24", "platform_read"),
            ("/api/v1/windows/A-WIN/status?at=2026-12-23T10:00:00Z", "a_read"),
            ("/api/v1/flags/evaluate", "a_read"),
            ("/api/v1/institutions/DEUTDEFF/configuration?at=2026-06-01T00:00:00Z", "a_read"),
            ("/api/v1/calendars/USFED/business-days/next?date=2026-07-02", "platform_read"),
            ("/api/v1/calendars/", "platform_read"),
        ]

    @classmethod
    def _next_date(cls) -> str:
        from datetime import date, timedelta

        with cls._counter_lock:
            cls._counter += 1
            n = cls._counter
        return (date(2120, 1, 1) + timedelta(days=n)).isoformat()

    def call(self, method: str, path: str, key: str, body=None) -> Outcome:
        t0 = time.monotonic()
        result, _, _ = request(self.port, method, path, key, body, timeout=self.TIMEOUT)
        return Outcome(t0 - self.started, method, path, result, time.monotonic() - t0)

    def worker(self, index: int) -> None:
        for i in range(self.MAX_PER_THREAD):
            if self.stop.is_set():
                return
            if self.writes and i % 4 == 3:
                name = f"drill-{self.drill}-{index}-{i}"
                outcome = self.call(
                    "POST",
                    "/api/v1/calendars/USFED/holidays/",
                    self.keys["platform_write"],
                    {"date": self._next_date(), "name": name},
                )
                if isinstance(outcome.result, int) and 200 <= outcome.result < 300:
                    with self.lock:
                        self.acked.append(name)
            else:
                path, key = self.reads[(i + index) % len(self.reads)]
                outcome = self.call("GET", path, self.keys[key])
            with self.lock:
                self.outcomes.append(outcome)
            time.sleep(self.PAUSE)

    def run(
        self,
        actions: list[tuple[float, str, Callable[[], object]]],
        *,
        seconds: float,
        limit: float,
    ) -> list[str]:
        """Run the load; call each action (in order, each at its offset or when the previous one
        is done); keep the load on until `seconds` have passed, never past `limit`."""
        threads = [
            threading.Thread(target=self.worker, args=(i,), daemon=True)
            for i in range(self.THREADS)
        ]
        self.started = time.monotonic()
        for thread in threads:
            thread.start()
        log: list[str] = []
        try:
            for offset, label, action in actions:
                delay = self.started + offset - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                t0 = time.monotonic()
                action()
                log.append(f"t={t0 - self.started:.1f}s {label} ({time.monotonic() - t0:.1f}s)")
                if time.monotonic() - self.started > limit:
                    log.append(f"stopped: past the {limit:.0f}s bound")
                    break
            delay = min(self.started + seconds, self.started + limit) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=self.TIMEOUT + 2)
        return log


def missing_rows(cluster: Cluster, names: list[str]) -> list[str]:
    """Acknowledged holiday writes that are not in the database (read as the superuser)."""
    if not names:
        return []
    rows = cluster.query("SELECT name FROM calendars_holiday WHERE name = ANY(%s)", (names,))
    present = {row[0] for row in rows}
    return [name for name in names if name not in present]
