"""Processes the tests start themselves: free ports, waiting for them to answer, output in a
log file, stopping them by their pid, and the environment they are given.

Every process is stopped by the pid it was started with (never by name), so a test never
touches a server it did not start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


# ----------------------------------------------------------------------------- ports


def port_is_free(port: int, *, host: str = HOST, reuse_address: bool = False) -> bool:
    """Whether ``port`` of ``host`` can be bound now (with SO_REUSEADDR when
    ``reuse_address``: a port in TIME_WAIT counts as free)."""
    with socket.socket() as s:
        if reuse_address:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(
    ports: range | None = None, *, taken: set[int] | None = None, purpose: str = ""
) -> int:
    """A port of 127.0.0.1 nobody listens on.

    Without ``ports``: one the kernel picks. With ``ports``: the first of them that can be
    bound and is not in ``taken`` (it is added to ``taken``, so a run never hands it out twice).
    RuntimeError when none is free (``purpose`` is added to the message).
    """
    if ports is None:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port: int = s.getsockname()[1]
            return port
    for port in ports:
        if taken is not None and port in taken:
            continue
        if port_is_free(port):
            if taken is not None:
                taken.add(port)
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}{purpose}")


# ----------------------------------------------------------------------------- waiting


def wait_until(predicate: Callable[[], object], timeout: float, step: float = 0.1) -> bool:
    """Poll ``predicate`` every ``step`` seconds until it is true or ``timeout`` has passed;
    whether it became true (it is asked once more at the end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def wait_for_port(port: int, timeout: float, *, host: str = HOST, step: float = 0.1) -> bool:
    """Whether something accepts TCP connections on ``host:port`` within ``timeout``."""

    def accepts() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    return wait_until(accepts, timeout, step)


def wait_for_http(
    url: str,
    *,
    proc: subprocess.Popen | None = None,
    timeout: float = 30.0,
    attempt_timeout: float = 1.0,
    step: float = 0.2,
    any_status: bool = False,
) -> bool:
    """Whether ``url`` answers a GET with a 2xx (any status with ``any_status``) within
    ``timeout``; False as soon as ``proc`` (the server, when given) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=attempt_timeout):
                return True
        except urllib.error.HTTPError:
            if any_status:
                return True
        except OSError:
            pass
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            return False
        time.sleep(step)


# ----------------------------------------------------------------------------- starting, stopping


def log_tail(path: Path, size: int = 3000) -> str:
    """The last ``size`` characters of a log file ("" when there is none)."""
    return path.read_text(errors="replace")[-size:] if path.exists() else ""


def start_logged(
    cmd: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = ROOT,
    stdout_too: bool = True,
    new_session: bool = False,
) -> subprocess.Popen:
    """Start ``cmd`` with its stderr (and stdout, unless ``stdout_too`` is False: then it is
    discarded) appended to ``log``. With ``new_session`` it leads a process group of its own."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=out if stdout_too else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if stdout_too else out,
            start_new_session=new_session,
        )


def _signal(proc: subprocess.Popen, sig: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)


def stop_process(
    proc: subprocess.Popen | None,
    sig: int = signal.SIGTERM,
    timeout: float = 25,
    *,
    group: bool = False,
) -> None:
    """Stop one process we started, by its pid: ``sig`` (SIGTERM), then SIGKILL if it has not
    exited after ``timeout`` seconds. With ``group`` the signals go to its process group (it
    must have been started with ``new_session``). Nothing happens when it has exited."""
    if proc is None or proc.poll() is not None:
        return
    _signal(proc, sig, group)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL, group)
        proc.wait(timeout=5)


class Processes:
    """Processes started with their output in ``<root>/<name>.log``, stopped by pid."""

    def __init__(self, root: Path, *, new_session: bool = False):
        self.root = root
        self.new_session = new_session
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def log_path(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def popen(
        self,
        name: str,
        cmd: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = ROOT,
    ) -> subprocess.Popen:
        """Start ``cmd`` (output in the log of ``name``) and keep it to be stopped."""
        proc = start_logged(
            cmd, self.log_path(name), env=env, cwd=cwd, new_session=self.new_session
        )
        self.procs.append((name, proc))
        return proc

    def log_tail(self, name: str, size: int = 3000) -> str:
        return log_tail(self.log_path(name), size)

    def stop_all(self, timeout: float = 25, *, together: bool = False) -> None:
        """Stop every process, the last started first. ``together``: send SIGTERM to all of
        them first, then wait for each (at most ``timeout`` seconds, then SIGKILL)."""
        running = [proc for _, proc in reversed(self.procs)]
        if together:
            for proc in running:
                if proc.poll() is None:
                    _signal(proc, signal.SIGTERM, False)
        for proc in running:
            stop_process(proc, timeout=timeout)


# ----------------------------------------------------------------------------- environment, commands


def child_env(
    drop: Iterable[str] = (), *, drop_prefixes: tuple[str, ...] = (), **changes: str
) -> dict[str, str]:
    """This process's environment without the ``drop`` variables (and those starting with one
    of ``drop_prefixes``), updated with ``changes``."""
    dropped = set(drop)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in dropped and not (drop_prefixes and k.startswith(drop_prefixes))
    }
    env.update(changes)
    return env


def database_url_of_test_db() -> str:
    """A DATABASE_URL for the test database pytest-django created (Django must be set up)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    return (
        f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


def python(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` (this interpreter) in the repository root, output captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run(
    cmd: Sequence[str],
    *,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (output captured as text); AssertionError with its output when ``check``
    and it fails."""
    done = subprocess.run(
        list(cmd),
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        env=dict(env) if env is not None else None,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
    return done
