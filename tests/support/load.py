"""The bounded client load of the fault drills, and its figures: THREADS client threads against
one port, one request per connection; acknowledged (2xx) writes are kept to check afterwards
that none was lost."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from tests.support.web import request


@dataclass
class Outcome:
    at: float  # seconds since the load started
    method: str
    path: str
    result: int | str  # the status, or the failure kind (tests.support.web.request)
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

    def request(
        self, port: int, method: str, path: str, key: str | None = None, body: object = None
    ) -> tuple[int | str, dict[str, str], bytes]:
        t0 = time.monotonic()
        answer = request(port, method, path, key, body)
        self.outcomes.append(
            Outcome(t0 - self.started, method, path, answer[0], time.monotonic() - t0)
        )
        return answer


class Load(Figures):
    """THREADS client threads against one port, each: 3 reads then 1 write (a new holiday of
    USFED, with a name of its own), a short pause between requests, until stopped or at most
    MAX_PER_THREAD requests. Acknowledged (2xx) writes are kept to check none was lost.

    ``keys`` maps the key names of READS and "platform_write" to raw API keys
    (tests.proof.world's seed)."""

    THREADS = 4
    MAX_PER_THREAD = 1500
    PAUSE = 0.01
    TIMEOUT = 10.0
    FIRST_WRITE_DATE = date(2120, 1, 1)  # the written holidays' dates count up from here
    READS = [
        ("/api/v1/calendars/TARGET2/business-days/check?date=2026-12-24", "platform_read"),
        ("/api/v1/windows/A-WIN/status?at=2026-12-23T10:00:00Z", "a_read"),
        ("/api/v1/flags/evaluate", "a_read"),
        ("/api/v1/institutions/DEUTDEFF/configuration?at=2026-06-01T00:00:00Z", "a_read"),
        ("/api/v1/calendars/USFED/business-days/next?date=2026-07-02", "platform_read"),
        ("/api/v1/calendars/", "platform_read"),
    ]

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
        self.reads = list(self.READS)

    @classmethod
    def _next_date(cls) -> str:
        with cls._counter_lock:
            cls._counter += 1
            n = cls._counter
        return (cls.FIRST_WRITE_DATE + timedelta(days=n)).isoformat()

    def call(self, method: str, path: str, key: str, body: object = None) -> Outcome:
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
        limit: float = math.inf,
    ) -> list[str]:
        """Run the load; call each action (in order, each at its offset or when the previous one
        is done); keep the load on until `seconds` have passed, never past `limit`. The log:
        one line per action, with when it started and how long it took."""
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
