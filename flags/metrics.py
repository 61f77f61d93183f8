"""Prometheus metrics of the flags app (bounded labels: flag names are bounded by the table).

Every evaluation is added to ``cbp_flag_evaluations_total`` before the answer leaves the worker,
so the counter summed over gunicorn's workers is exact at every scrape. (It once kept the counts
of a bulk evaluation in the worker and added them at most once a second, on the worker's next
evaluation: a worker that fell idle kept its last second of counts to itself, and a scrape,
answered by another worker, under-counted.) An increment in multiprocess mode is a write to
the worker's memory-mapped file, well under a microsecond; a bulk answer of 50 flags costs some
tens of microseconds.
"""

from __future__ import annotations

import threading

from prometheus_client import Counter

UNKNOWN_FLAG = "(unknown)"

FLAG_EVALUATIONS = Counter(
    "cbp_flag_evaluations_total",
    "Flag evaluations answered, by flag and result (enabled, disabled, or not_found for a "
    "name that is not a flag, counted under flag='(unknown)').",
    ["flag", "result"],
)
FLAG_CHANGES = Counter(
    "cbp_flag_changes_total",
    "Committed flag changes, by action (create, update, delete).",
    ["action"],
)

for _action in ("create", "update", "delete"):  # zeros from the start, not gaps
    FLAG_CHANGES.labels(action=_action)

_lock = threading.Lock()
_children: dict[tuple[str, bool], object] = {}
_batches: dict[int, tuple[tuple, list]] = {}  # id(pairs) -> (pairs, their counter children)


def _child(flag: str, enabled: bool):
    child = _children.get((flag, enabled))
    if child is None:
        with _lock:
            if len(_children) > 20000:  # flags renamed or deleted many times: start afresh
                _children.clear()
            child = _children[(flag, enabled)] = FLAG_EVALUATIONS.labels(
                flag=flag, result="enabled" if enabled else "disabled"
            )
    return child


def record_batch(pairs: tuple[tuple[str, bool], ...]) -> None:
    """Count one evaluation of each (flag name, enabled) pair. The same tuple object for the
    same answer lets its counter children be looked up once."""
    entry = _batches.get(id(pairs))
    if entry is None or entry[0] is not pairs:
        children = [_child(name, enabled) for name, enabled in pairs]
        with _lock:
            if len(_batches) > 5000:
                _batches.clear()
            _batches[id(pairs)] = entry = (pairs, children)
    for child in entry[1]:
        child.inc()


def record_evaluation(name: str, enabled: bool) -> None:
    """Count one evaluation of one flag."""
    _child(name, enabled).inc()


def record_not_found() -> None:
    FLAG_EVALUATIONS.labels(flag=UNKNOWN_FLAG, result="not_found").inc()


def flush() -> None:
    """Nothing is held back any more; kept for callers of the former batching."""


def record_change(action: str) -> None:
    FLAG_CHANGES.labels(action=action).inc()
