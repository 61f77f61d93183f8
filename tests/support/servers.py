"""Servers the tests start themselves, on 127.0.0.1, stopped by their pid: gunicorn serving
cbpconfig.wsgi with cbpconfig/gunicorn.conf.py, a redis-server of a test's own, and a scratch
PostgreSQL cluster run as the `postgres` user."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.processes import (
    HOST,
    ROOT,
    child_env,
    database_url_of_test_db,
    free_port,
    log_tail,
    run,
    start_logged,
    stop_process,
    wait_for_http,
    wait_until,
)

GUNICORN_CONF = ROOT / "cbpconfig" / "gunicorn.conf.py"


# ----------------------------------------------------------------------------- gunicorn


def gunicorn_command(
    port: int | None = None, workers: int | None = None, host: str = HOST
) -> list[str]:
    """This interpreter's gunicorn with the project's config serving cbpconfig.wsgi; without
    ``port``/``workers`` the config's own (GUNICORN_BIND, GUNICORN_WORKERS) apply."""
    cmd = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if port is not None:
        cmd += ["--bind", f"{host}:{port}"]
    return [*cmd, "cbpconfig.wsgi:application"]


@dataclass
class Served:
    """A running gunicorn of :func:`serving`."""

    proc: subprocess.Popen
    port: int
    log: Path  # its stderr

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@contextlib.contextmanager
def serving(
    env: Mapping[str, str],
    *,
    workers: int = 1,
    port: int | None = None,
    start_timeout: float = 30,
    stop_timeout: float = 15,
) -> Iterator[Served]:
    """gunicorn on ``port`` (a free one by default) until the block ends.

    Its environment is this process's without DATABASE_URL, REDIS_URL and CBP_TEST_DB_NAME, in
    development with DEBUG off and LOG_LEVEL=ERROR, then ``env``, and a metrics directory of
    its own. stdout is discarded, stderr kept in a file (``Served.log``). RuntimeError with the
    end of its stderr when /live does not answer 2xx within ``start_timeout`` seconds. At the
    end it is stopped by pid (SIGTERM, SIGKILL after ``stop_timeout``) and its files removed.
    """
    port = port or free_port()
    scratch = Path(tempfile.mkdtemp(prefix="cbp-e2e-"))
    metrics = scratch / "metrics"
    metrics.mkdir()
    full_env = child_env(
        ("DATABASE_URL", "REDIS_URL", "CBP_TEST_DB_NAME"),
        CBP_ENVIRONMENT="development",
        DEBUG="false",
        LOG_LEVEL="ERROR",
    )
    full_env.update(env)
    full_env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    log = scratch / "stderr"
    proc = start_logged(gunicorn_command(port, workers), log, env=full_env, stdout_too=False)
    served = Served(proc, port, log)
    try:
        if not wait_for_http(f"{served.url}/live", proc=proc, timeout=start_timeout):
            raise RuntimeError(f"gunicorn did not start: {log_tail(log, 2000)}")
        yield served
    finally:
        stop_process(proc, timeout=stop_timeout)
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def gunicorn(env: Mapping[str, str], workers: int = 1, port: int | None = None) -> Iterator[str]:
    """:func:`serving`, yielding only its base URL (``http://127.0.0.1:PORT``)."""
    with serving(env, workers=workers, port=port) as served:
        yield served.url


def services_env() -> dict[str, str]:
    """DATABASE_URL and REDIS_URL of this test run: the test database and this process's Redis
    (Django must be set up)."""
    from django.conf import settings

    return {
        "DATABASE_URL": database_url_of_test_db(),
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
    }


def stack_env(
    database_url: str, redis_url: str, *, cache_prefix: str, log_level: str, **extra: str
) -> dict[str, str]:
    """The environment of a gunicorn or manage.py of a stack a test started itself (its own
    database and Redis): this process's, without its database, Redis, cache prefix, metrics
    directory and PYTEST*/GUNICORN_* variables, in development with DEBUG off and no throttling
    to speak of; then ``extra``."""
    env = child_env(
        (
            "DATABASE_URL",
            "DATABASE_REPLICA_URL",
            "REDIS_URL",
            "CBP_TEST_DB_NAME",
            "CBP_CACHE_PREFIX",
            "PROMETHEUS_MULTIPROC_DIR",
        ),
        drop_prefixes=("PYTEST", "GUNICORN_"),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CBP_CACHE_PREFIX=cache_prefix,
        CBP_ENVIRONMENT="development",
        DEBUG="false",
        LOG_LEVEL=log_level,
        CBP_THROTTLE_RATE="1000000/minute",
        DJANGO_SETTINGS_MODULE="cbpconfig.settings",
    )
    env.update(extra)
    return env


OPERATOR_SECRET = "Vq3x-9fLr_Zp2Wm8Kt5Yb7Nc4Hd6Gj1Ae0Su3Ri9Oo2Lw7Qx-r4Tz8Ue1"


def operator_env(environment: str, drop: Iterable[str] = (), **changes: str) -> dict[str, str]:
    """The environment of ``manage.py`` as an operator runs it in ``environment`` settings
    (staging, production): a strong SECRET_KEY, one allowed host, the test database and this
    process's Redis; this process's environment without ``drop``, then ``changes``."""
    env = child_env(
        drop,
        CBP_ENVIRONMENT=environment,
        SECRET_KEY=OPERATOR_SECRET,
        ALLOWED_HOSTS="cbp.example",
    )
    env.update(services_env())
    env.update(changes)
    return env


# ----------------------------------------------------------------------------- Redis


def redis_answers(port: int, host: str = HOST) -> bool:
    """Whether a Redis on ``host:port`` answers PING."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class OwnRedis:
    """A redis-server of a test's own on 127.0.0.1:``port``: no persistence, DEBUG allowed
    from 127.0.0.1, output discarded; started and stopped by its pid."""

    def __init__(self, port: int):
        self.port = port
        self.db = 0  # the database redis-cli talks to
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> None:
        """Start it and wait until it answers PING (RuntimeError after ``timeout``)."""
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                HOST,
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
        if not wait_until(self.answers, timeout, step=0.05):
            raise RuntimeError(f"test redis-server on port {self.port} did not start")

    def answers(self) -> bool:
        return redis_answers(self.port)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM to its pid (SIGKILL after ``timeout``)."""
        stop_process(self.proc, timeout=timeout)
        self.proc = None

    def cli(self, *args: str) -> str:
        """redis-cli's answer, on database ``db``."""
        result = subprocess.run(
            ["redis-cli", "-p", str(self.port), "-n", str(self.db), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return result.stdout.strip()

    def pause(self, seconds: int, settle: float = 0.2) -> subprocess.Popen:
        """DEBUG SLEEP in the background (alive but unresponsive for ``seconds``); returns the
        redis-cli process after ``settle`` seconds, by when the server is asleep."""
        sleeper = subprocess.Popen(
            ["redis-cli", "-p", str(self.port), "DEBUG", "SLEEP", str(seconds)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(settle)
        return sleeper


# ----------------------------------------------------------------------------- PostgreSQL


def pg_bindir(search_path: bool = False) -> Path | None:
    """The directory of the PostgreSQL server binaries (initdb, pg_ctl): the newest of
    /usr/lib/postgresql/*/bin, or first pg_ctl's on PATH with ``search_path``."""
    candidates = []
    pg_ctl = shutil.which("pg_ctl") if search_path else None
    if pg_ctl:
        candidates.append(Path(pg_ctl).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def has_postgres_user() -> bool:
    """Whether there is a `postgres` user and runuser to become it."""
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return shutil.which("runuser") is not None


def as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL and pgBackRest refuse to run as root: run them as `postgres` then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def chown_postgres(*paths: Path) -> None:
    """Give ``paths`` to the `postgres` user (when we are root)."""
    if os.geteuid() != 0:
        return
    pg = pwd.getpwnam("postgres")
    for path in paths:
        os.chown(path, pg.pw_uid, pg.pw_gid)


@dataclass
class Cluster:
    """A scratch PostgreSQL cluster run as `postgres` on its own port and socket directory:
    data in ``root/name``, socket in ``root/name-sock``, log in ``root/name.log``."""

    root: Path
    name: str
    port: int
    bindir: Path
    env: dict = field(default_factory=dict)  # extra environment of the postmaster
    extra_options: str = ""  # more postgres options on the command line (``-c name=value``)

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
        options = f"-p {self.port} -c listen_addresses={HOST} -k {self.sockdir}"
        return f"{options} {self.extra_options}" if self.extra_options else options

    def pg_ctl(self, *args: str, wait: int, mode: str | None = None) -> subprocess.CompletedProcess:
        """``pg_ctl -D datadir -l logfile -o options [-m mode] -w -t wait ARGS``."""
        modes = ["-m", mode] if mode else []
        return run(
            self.tool(
                "pg_ctl",
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-o",
                self.options(),
                *modes,
                "-w",
                "-t",
                str(wait),
                *args,
            ),
            timeout=wait + 30,
            check=False,
        )

    def start(self, wait: int = 120) -> None:
        self.sockdir.mkdir(exist_ok=True)
        chown_postgres(self.sockdir)
        done = self.pg_ctl("start", wait=wait)
        assert done.returncode == 0, f"{self.name} did not start: {done.stderr}\n{self.log_tail()}"

    def restart(self, mode: str = "fast", wait: int = 60) -> subprocess.CompletedProcess:
        return self.pg_ctl("restart", wait=wait, mode=mode)

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

    def connect(self, dbname: str = "cbp", timeout: int = 3) -> Any:
        """A psycopg connection (autocommit) as the superuser."""
        import psycopg

        return psycopg.connect(
            host=HOST,
            port=self.port,
            user="postgres",
            dbname=dbname,
            autocommit=True,
            connect_timeout=timeout,
        )

    def query(self, sql: str, params: Any = None, dbname: str = "cbp") -> list[tuple]:
        with self.connect(dbname) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def log_tail(self) -> str:
        return log_tail(self.logfile)
