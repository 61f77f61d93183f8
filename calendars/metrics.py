"""Prometheus metrics of the calendars app (labels are bounded: calendar codes, operations,
actions and hit/miss — never dates)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter

if TYPE_CHECKING:
    from cbpconfig.metrics import dependency_timer

HOLIDAY_CHANGES = Counter(
    "cbp_calendar_holiday_changes_total",
    "Holidays created, updated or deleted (API, admin, import, command), by calendar and action.",
    ["calendar", "action"],
)
BUSINESSDAY_REQUESTS = Counter(
    "cbp_businessday_requests_total",
    "Business-day API requests, by operation (check, add, adjust, next, previous, count, list).",
    ["operation"],
)
BUSINESSDAY_CACHE = Counter(
    "cbp_businessday_cache_total",
    "Business calendar look-ups: hit = answered from this process's built calendar with the "
    "version tokens from the shared cache (no database query); miss = a database read.",
    ["result"],
)

OPERATIONS = ("check", "add", "adjust", "next", "previous", "count", "list")

# Pre-bind the children: `.labels()` costs a dict look-up and a lock on every call.
_REQUESTS = {op: BUSINESSDAY_REQUESTS.labels(operation=op) for op in OPERATIONS}
CACHE_HIT = BUSINESSDAY_CACHE.labels(result="hit")
CACHE_MISS = BUSINESSDAY_CACHE.labels(result="miss")


def businessday_request(operation: str) -> None:
    _REQUESTS[operation].inc()


def holiday_import() -> dependency_timer:
    """``with metrics.holiday_import(): entries = source.fetch()``: the call to the holidays
    package timed and its failure counted as the `holidays` dependency
    (cbp_dependency_request_duration_seconds, cbp_dependency_errors_total)."""
    from cbpconfig.metrics import dependency_timer

    return dependency_timer("holidays", "import")


def holiday_changed(calendar_code: str, action: str, count: int = 1) -> None:
    """Count holiday changes after commit; `action` is create, update or delete."""
    if count:
        HOLIDAY_CHANGES.labels(calendar=calendar_code, action=action).inc(count)
