"""Prometheus metrics of the configuration app (bounded labels only)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter

from cbpconfig.logging import current_request, institution_var

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
INSTITUTION_READS = Counter(
    "cbp_institution_configuration_reads_total",
    "Resolved configuration served, by the institution it was resolved for ((global) for the "
    "global scope). Counted after the institution was found, so the label is always a "
    "registered institution.",
    ["institution"],
)

OPERATION_KINDS = ("create", "update", "delete", "resolve")
CACHE_RESULTS = ("hit", "miss")
GLOBAL_SCOPE = "(global)"

# Export every label value from the start, so dashboards see zeros rather than gaps.
for _kind in OPERATION_KINDS:
    OPERATIONS.labels(kind=_kind)
for _result in CACHE_RESULTS:
    RESOLUTION_CACHE.labels(result=_result)
INSTITUTION_READS.labels(institution=GLOBAL_SCOPE)


def operation(kind: str) -> None:
    for count in operation_counters(kind):
        count()


def operation_counters(kind: str) -> tuple[Callable[[], None], ...]:
    """The counts `operation(kind)` makes now, bound to their labels (for cbpconfig.ready to
    repeat for each kept answer it serves)."""
    counters: tuple[Callable[[], None], ...] = (OPERATIONS.labels(kind=kind).inc,)
    if kind == "resolve":
        counters += (INSTITUTION_READS.labels(institution=_resolved_for()).inc,)
    return counters


def _resolved_for() -> str:
    """The institution of the resolution being answered: the URL's code
    (/institutions/{code}/configuration), else the `institution` parameter (/resolve), else the
    calling institution key's own; the views count only after the institution was found."""
    request = current_request()
    code = None
    if request is not None:
        match = getattr(request, "resolver_match", None)
        code = (match.kwargs.get("code") if match is not None else None) or request.GET.get(
            "institution"
        )
    code = code or institution_var.get()
    return code.upper() if code else GLOBAL_SCOPE


def cache_result(hit: bool) -> None:
    RESOLUTION_CACHE.labels(result="hit" if hit else "miss").inc()
