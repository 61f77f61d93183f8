"""/live, /ready and /health.

- /live touches no dependency: it answers while the process can serve.
- /ready: 200 when the database answers and no migration is pending; 503 otherwise. A cache
  outage alone keeps it 200 with status `degraded`: reads fall through to the database.
- /health: django-health-check's page (JSON on `Accept: application/json`) for the database,
  cache, migrations and backup storage; 503 when any of them fails.
"""

from __future__ import annotations

import dataclasses
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
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
def live(request):
    return JsonResponse({"status": "ok"})


@never_cache
def ready(request):
    checks = {}
    db_problem = database_ok()
    checks["database"] = db_problem or "ok"
    if db_problem is None:
        try:
            pending = pending_migrations()
            checks["migrations"] = f"pending: {', '.join(pending)}" if pending else "ok"
        except Exception as exc:
            checks["migrations"] = f"unknown: {type(exc).__name__}"
    else:
        checks["migrations"] = "unknown"
    cache_problem = cache_ok()
    checks["cache"] = cache_problem or "ok"
    if checks["database"] != "ok" or checks["migrations"] != "ok":
        return JsonResponse({"status": "unavailable", "checks": checks}, status=503)
    status = "degraded" if cache_problem else "ok"
    return JsonResponse({"status": status, "checks": checks}, status=200)


@dataclasses.dataclass
class CacheCheck(HealthCheck):
    """The cache answers a ping (django-redis hides outages from cache.get by design)."""

    def run(self):
        problem = cache_ok()
        if problem:
            raise ServiceUnavailable(problem)


@dataclasses.dataclass
class MigrationsCheck(HealthCheck):
    """No migration is waiting to be applied."""

    def run(self):
        pending = pending_migrations()
        if pending:
            raise ServiceUnavailable(f"pending: {', '.join(pending)}")


class HealthView(HealthCheckView):
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

    def render_to_response_json(self, status):
        body = {
            self.COMPONENT_NAMES.get(type(result.check).__name__, type(result.check).__name__): (
                "ok" if not result.error else str(result.error)
            )
            for result in self.results
        }
        return JsonResponse(body, status=503 if status >= 500 else status)

    async def get(self, request, *args, **kwargs):
        response = await super().get(request, *args, **kwargs)
        # The contract (and load balancers) want 503 for an unhealthy service, not 500.
        if response.status_code == 500:
            response.status_code = 503
        return response
