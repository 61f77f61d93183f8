"""Dependency metrics move when the dependency is called: Redis commands and pipelines (timed in
the cache client's circuit breaker), the holiday import, and failed database connections."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from prometheus_client import REGISTRY

from calendars import services as calendar_services


def _count(dependency: str, operation: str) -> float:
    value = REGISTRY.get_sample_value(
        "cbp_dependency_request_duration_seconds_count",
        {"dependency": dependency, "operation": operation},
    )
    return value or 0.0


@pytest.mark.redis
def test_redis_commands_and_pipelines__timed():
    from django_redis import get_redis_connection

    commands = _count("redis", "command")
    pipelines = _count("redis", "pipeline")
    cache.set("metrics:probe", 1)
    assert cache.get("metrics:probe") == 1
    pipe = get_redis_connection("default").pipeline(transaction=False)
    pipe.incr("metrics:counter")
    pipe.execute()
    assert _count("redis", "command") >= commands + 2
    assert _count("redis", "pipeline") == pipelines + 1


@pytest.mark.django_db
def test_holiday_import__timed_as_a_dependency_call():
    calendar = calendar_services.create_calendar(data={"code": "TGT", "name": "Test"})
    before = _count("holidays", "import")
    source = calendar_services.holiday_source(market="ECB", years=[2026])
    result = calendar_services.import_holidays(calendar=calendar, source=source)
    assert result.created > 0
    assert _count("holidays", "import") == before + 1
