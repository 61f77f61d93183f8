"""gunicorn under cbpconfig/gunicorn.conf.py recycles workers (max_requests) without failing a
request: a recycled worker is forked from the master, which loaded the application once
(preload_app), and takes its predecessor's slot, so per-worker metrics stay bounded."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.support import servers
from tests.support.web import fetch

pytestmark = pytest.mark.e2e


def _workers(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return {int(pid) for pid in children.read_text().split()}


def _recycled(url: str, master: int, requests: int) -> tuple[list[int], set[int]]:
    """``requests`` sequential requests to /live (a new connection each); their statuses and
    every worker pid seen while they ran."""
    statuses, seen = [], set(_workers(master))
    for _ in range(requests):
        statuses.append(fetch("GET", f"{url}/live")[0])
        seen |= _workers(master)
    return statuses, seen


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("preload", ["true", "false"])
def test_worker_recycling__every_request_answered__slots_stay_bounded(preload):
    env = {
        "GUNICORN_MAX_REQUESTS": "25",
        "GUNICORN_MAX_REQUESTS_JITTER": "0",
        "GUNICORN_PRELOAD": preload,
    }
    with servers.serving(env, workers=2) as served:
        master = served.proc.pid
        deadline = time.monotonic() + 30
        while len(_workers(master)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        first = _workers(master)
        assert len(first) == 2
        statuses, seen = _recycled(served.url, master, 150)
        assert statuses == [200] * 150
        # 150 requests over two workers recycled every 25: at least four new workers.
        assert len(seen - first) >= 4, seen
        status, _, body = fetch("GET", f"{served.url}/metrics")
        assert status == 200
        slots = set(re.findall(rb'worker="([^"]*)"', body))
        assert slots, body[:500]
        assert slots <= {b"0", b"1"}, slots
