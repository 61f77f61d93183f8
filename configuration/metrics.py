"""Prometheus metrics of the configuration app (bounded labels only)."""

from __future__ import annotations

from prometheus_client import Counter

OPERATIONS = Counter(
    "cbp_configuration_operations_total",
    "Configuration operations: writes of definitions and values, and resolutions served.",
    ["kind"],
)
RESOLUTION_CACHE = Counter(
    "cbp_configuration_resolution_cache_total",
    "Resolved-configuration cache lookups by result.",
    ["result"],
)

OPERATION_KINDS = ("create", "update", "delete", "resolve")
CACHE_RESULTS = ("hit", "miss")

# Export every label value from the start, so dashboards see zeros rather than gaps.
for _kind in OPERATION_KINDS:
    OPERATIONS.labels(kind=_kind)
for _result in CACHE_RESULTS:
    RESOLUTION_CACHE.labels(result=_result)


def operation(kind: str) -> None:
    OPERATIONS.labels(kind=kind).inc()


def cache_result(hit: bool) -> None:
    RESOLUTION_CACHE.labels(result="hit" if hit else "miss").inc()
