"""gunicorn under cbpconfig/gunicorn.conf.py: SIGTERM drains, HEAD logs nothing.

- SIGTERM while requests are in flight and waiting in the listen backlog: every one of them is
  answered (gunicorn's own sync worker stops accepting at once and the backlog is reset when the
  listening socket closes).
- HEAD requests are answered without the body, so gunicorn has nothing to drop and no warning
  to log.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
import urllib.request
from contextlib import contextmanager

import pytest

from tests.support import servers
from tests.support.web import fetch

pytestmark = pytest.mark.e2e

REQUEST = b"GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@contextmanager
def serving(workers: int = 1, loglevel: str = "info", app_log_level: str = "ERROR"):
    """gunicorn with the project's config on a free port; yields (process, port, stderr path)."""
    env = {"LOG_LEVEL": app_log_level, "GUNICORN_LOGLEVEL": loglevel}
    with servers.serving(env, workers=workers, stop_timeout=30) as served:
        yield served.proc, served.port, served.log


def _exchange(port: int, connected: threading.Barrier, trickle: float = 0.0) -> str:
    """One request on its own connection; the status line, or the error that ended it.
    With ``trickle`` the request is sent a byte at a time over that many seconds, keeping the
    worker busy reading it (a request in flight)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            connected.wait(timeout=10)
            if trickle:
                step = trickle / len(REQUEST)
                for i in range(len(REQUEST)):
                    sock.sendall(REQUEST[i : i + 1])
                    time.sleep(step)
            else:
                sock.sendall(REQUEST)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        if not data:
            return "empty reply"
        return data.split(b"\r\n", 1)[0].decode("latin-1")
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def test_sigterm__requests_in_flight_and_in_the_backlog__all_answered():
    """Given one worker busy reading a slow request and 49 more connections waiting in the
    listen backlog, when gunicorn gets SIGTERM, then all 50 are answered 200 and gunicorn
    exits cleanly within the grace period."""
    total = 50
    with serving(workers=1) as (proc, port, _):
        connected = threading.Barrier(total + 1)
        results: list[str] = []
        lock = threading.Lock()

        def run(trickle: float) -> None:
            status = _exchange(port, connected, trickle)
            with lock:
                results.append(status)

        threads = [threading.Thread(target=run, args=(1.0,))]
        threads += [threading.Thread(target=run, args=(0.0,)) for _ in range(total - 1)]
        threads[0].start()
        time.sleep(0.2)  # the slow one is accepted first and holds the only worker
        for thread in threads[1:]:
            thread.start()
        connected.wait(timeout=10)  # every connection is established (accepted or queued)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        for thread in threads:
            thread.join(timeout=30)
        proc.wait(timeout=30)
        took = time.monotonic() - started

    failed = [r for r in results if not r.startswith("HTTP/1.1 200")]
    assert len(results) == total
    assert failed == [], f"{len(failed)} of {total} failed: {sorted(set(failed))}"
    assert proc.returncode == 0
    assert took < 20  # within graceful_timeout


def test_sigterm__idle__exits_promptly():
    with serving(workers=2) as (proc, _port, _):
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == 0
        assert time.monotonic() - started < 5


def test_head__answered_without_body_and_without_a_warning():
    # gunicorn's warning goes through Python logging (logger gunicorn.http.wsgi), i.e. the
    # project's JSON log at WARNING; LOG_LEVEL=INFO is production's level.
    with serving(workers=1, loglevel="info", app_log_level="INFO") as (proc, port, stderr_path):
        for path in ("/live", "/api/schema/", "/admin/login/", "/nothing-here"):
            status, _, body = fetch("HEAD", f"http://127.0.0.1:{port}{path}", timeout=10)
            assert status in (200, 404), (path, status)
            assert body == b""
        # The good case: GET still has its body.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/live", timeout=10) as response:
            assert response.read() == b'{"status": "ok"}'
        proc.terminate()
        proc.wait(timeout=30)
        log = stderr_path.read_text()
    assert "no-body response" not in log, log
    assert "[WARNING]" not in log, log
    assert '"level": "WARNING"' not in log, log
