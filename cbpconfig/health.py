"""/live, /ready and /health.

- /live touches no dependency: it answers while the process can serve.
- /ready: 200 when the database answers and no migration is pending; 503 otherwise. A cache
  outage alone keeps it 200 with status `degraded`: reads fall through to the database.
  `database_server` names the host:port that answered (after a failover, the promoted one).
  It answers within READY_BUDGET seconds whatever the dependencies do: the database and cache
  probes run on background threads (one per kind, at most one probe in flight each) and a
  probe that has not answered in time counts as a failure, so a hung PostgreSQL or a paused
  Redis makes /ready say so quickly instead of holding the load balancer's check (and a worker).
- /health: django-health-check's page (JSON on `Accept: application/json`) for the database,
  cache, migrations and backup storage; 503 when any of them fails.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from health_check.base import HealthCheck
from health_check.checks import Database, Storage
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

logger = logging.getLogger("cbpconfig.health")

_migrations_clean = False


def database_ok() -> str | None:
    """None when the database answers, else the reason."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"
    return None


def pending_migrations() -> list[str]:
    """Unapplied migrations. Once the plan is empty it stays empty for this process (new
    migrations arrive only with new code, i.e. a new process), so the check is paid once."""
    global _migrations_clean
    if _migrations_clean:
        return []
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    pending = [f"{m.app_label}.{m.name}" for m, _ in plan]
    _migrations_clean = not pending
    return pending


def cache_ok() -> str | None:
    try:
        if getattr(settings, "CBP_CACHE_IS_REDIS", False):
            from django_redis import get_redis_connection

            get_redis_connection("default").ping()
        else:
            cache.set("health:probe", 1, 5)
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"
    return None


@never_cache
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


# /ready answers within this many seconds (load balancers and kubelets time out at 1 s).
READY_BUDGET = 0.8
# A probe stuck this long (a TCP connection to a frozen server) is abandoned to its thread and a
# new probe thread started, so readiness can come back once the dependency does.
ABANDON_AFTER = 30.0


class _Job:
    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn
        self.started = time.monotonic()
        self.done = threading.Event()
        self.result: Any = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except Exception as exc:  # a probe reports, it never raises
            self.result = exc
        finally:
            self.done.set()


class Prober:
    """A daemon thread (started lazily, once per process) that runs one kind of probe, at most
    one at a time. While an earlier probe is still running, no new one is queued: the caller is
    told at once that the dependency has not answered. Daemon, so a probe stuck on a frozen
    server never holds up the worker's exit."""

    def __init__(self, name: str):
        self.name = name
        self._wake = threading.Condition()
        self._pid: int | None = None
        self._generation = 0
        self._job: _Job | None = None
        self._next: _Job | None = None

    def _loop(self, me: int) -> None:
        while True:
            with self._wake:
                while self._next is None:
                    self._wake.wait()
                job, self._next = self._next, None
            job.run()
            if me != self._generation:  # abandoned while it was stuck: a new thread took over
                return

    def _start_thread(self) -> None:
        self._generation += 1
        thread = threading.Thread(
            target=self._loop,
            args=(self._generation,),
            name=f"cbp-ready-{self.name}",
            daemon=True,
        )
        thread.start()
        self._pid = os.getpid()

    def submit(self, fn: Callable[[], Any]) -> _Job | None:
        with self._wake:
            job = self._job
            if job is not None and not job.done.is_set():
                if time.monotonic() - job.started < ABANDON_AFTER and self._pid == os.getpid():
                    return None
                self._pid = None  # stuck for too long (or forked): leave it, start afresh
            if self._pid != os.getpid():
                self._start_thread()
            self._job = self._next = _Job(fn)
            self._wake.notify()
            return self._job

    def probe(self, fn: Callable[[], Any], deadline: float) -> tuple[bool, Any]:
        """(True, result) when the probe answered in time, else (False, None)."""
        job = self.submit(fn)
        if job is None:
            return False, None
        if job.done.wait(max(0.0, deadline - time.monotonic())):
            return True, job.result
        return False, None


_database_prober = Prober("database")
_cache_prober = Prober("cache")


def _database_checks() -> dict[str, str]:
    """Runs on the database probe thread, on its own connection (closed afterwards, so no
    connection outlives the probe)."""
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        problem = database_ok()
        checks = {"database": problem or "ok", "migrations": "unknown"}
        if problem is None:
            checks["database_server"] = database_server(connection)
            try:
                pending = pending_migrations()
                checks["migrations"] = f"pending: {', '.join(pending)}" if pending else "ok"
            except Exception as exc:
                checks["migrations"] = f"unknown: {type(exc).__name__}"
        return checks
    finally:
        connection.close()


def database_server(connection: BaseDatabaseWrapper) -> str:
    """host:port of the server a connection reached: with several hosts in DATABASE_URL, the
    one that accepted a read-write session (after a failover, the promoted replica)."""
    try:
        info = connection.connection.info
        return f"{info.host}:{info.port}"
    except Exception:  # not psycopg (SQLite in development), or the connection just closed
        return connection.vendor


@never_cache
def ready(request: HttpRequest) -> JsonResponse:
    deadline = time.monotonic() + READY_BUDGET
    # Both probes start now and run side by side; each has until the same deadline.
    db_job = _database_prober.submit(_database_checks)
    cache_answered, cache_problem = _cache_prober.probe(cache_ok, deadline)
    if db_job is not None and db_job.done.wait(max(0.0, deadline - time.monotonic())):
        checks = db_job.result
        if isinstance(checks, Exception):
            checks = {"database": f"unavailable: {type(checks).__name__}", "migrations": "unknown"}
    else:
        checks = {
            "database": f"unavailable: no answer within {READY_BUDGET} s",
            "migrations": "unknown",
        }
    if not cache_answered:
        cache_problem = f"unavailable: no answer within {READY_BUDGET} s"
    elif isinstance(cache_problem, Exception):
        cache_problem = f"unavailable: {type(cache_problem).__name__}"
    checks = {**checks, "cache": cache_problem or "ok"}
    # Which database server answered (a failover shows here as a new host:port).
    server = checks.pop("database_server", None)
    where = {"database_server": server} if server else {}
    if checks["database"] != "ok" or checks["migrations"] != "ok":
        return JsonResponse({"status": "unavailable", "checks": checks, **where}, status=503)
    status = "degraded" if cache_problem else "ok"
    return JsonResponse({"status": status, "checks": checks, **where}, status=200)


@dataclasses.dataclass
class CacheCheck(HealthCheck):  # type: ignore[misc]  # django-health-check ships no types
    """The cache answers a ping (django-redis hides outages from cache.get by design)."""

    def run(self) -> None:
        problem = cache_ok()
        if problem:
            raise ServiceUnavailable(problem)


@dataclasses.dataclass
class MigrationsCheck(HealthCheck):  # type: ignore[misc]  # django-health-check ships no types
    """No migration is waiting to be applied."""

    def run(self) -> None:
        pending = pending_migrations()
        if pending:
            raise ServiceUnavailable(f"pending: {', '.join(pending)}")


class HealthView(HealthCheckView):  # type: ignore[misc]  # django-health-check ships no types
    checks = (
        Database,
        CacheCheck,
        MigrationsCheck,
        (Storage, {"alias": "dbbackup"}),
    )
    # The JSON body names each component as operators know it.
    COMPONENT_NAMES = {
        "Database": "database",
        "CacheCheck": "cache",
        "MigrationsCheck": "migrations",
        "Storage": "backup_storage",
    }

    def render_to_response_json(self, status: int) -> JsonResponse:
        body = {
            self.COMPONENT_NAMES.get(type(result.check).__name__, type(result.check).__name__): (
                "ok" if not result.error else str(result.error)
            )
            for result in self.results
        }
        return JsonResponse(body, status=503 if status >= 500 else status)

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = await super().get(request, *args, **kwargs)
        # The contract (and load balancers) want 503 for an unhealthy service, not 500.
        if response.status_code == 500:
            response.status_code = 503
        return response
