"""Prometheus metrics of the flags app (bounded labels: flag names are bounded by the table).

The bulk evaluation answers dozens of flags per request; bumping one counter child per flag per
request would cost more than the rest of the evaluation (in gunicorn's multiprocess mode each
increment writes to a shared file). Evaluations are therefore counted per *batch* (the memoised
answer for one institution: one dict update per request) and added to the counters at most once
a second, and at every scrape of this process's registry, and at exit.
"""

from __future__ import annotations

import atexit
import threading
import time

from prometheus_client import REGISTRY, Counter
from prometheus_client.registry import Collector

FLUSH_SECONDS = 1.0
UNKNOWN_FLAG = "(unknown)"


class _FlushOnCollect(Collector):
    """Adds pending counts before the counters are read (registered before them)."""

    def describe(self):
        return []  # no metrics of its own (and register() must not call collect() yet)

    def collect(self):
        flush()
        return []


REGISTRY.register(_FlushOnCollect())

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

_lock = threading.Lock()
_pending: dict[int, list] = {}  # id(pairs) -> [count, pairs]; the entry keeps pairs alive
_last_flush = 0.0
_children: dict[tuple[str, str], object] = {}


def _child(flag: str, result: str):
    child = _children.get((flag, result))
    if child is None:
        if len(_children) > 20000:  # flags renamed or deleted many times: start afresh
            _children.clear()
        child = _children[(flag, result)] = FLAG_EVALUATIONS.labels(flag=flag, result=result)
    return child


def record_batch(pairs: tuple[tuple[str, bool], ...]) -> None:
    """Count one evaluation of each (flag name, enabled) pair. Pass the same tuple object for
    the same answer (it is the batch's identity)."""
    with _lock:
        entry = _pending.get(id(pairs))
        if entry is None:
            _pending[id(pairs)] = [1, pairs]
        else:
            entry[0] += 1
        due = time.monotonic() - _last_flush >= FLUSH_SECONDS
    if due:
        flush()


def record_evaluation(name: str, enabled: bool) -> None:
    """Count one evaluation of one flag."""
    _child(name, "enabled" if enabled else "disabled").inc()


def record_not_found() -> None:
    _child(UNKNOWN_FLAG, "not_found").inc()


def flush() -> None:
    """Add the pending evaluation counts to the counters."""
    global _pending, _last_flush
    with _lock:
        pending, _pending = _pending, {}
        _last_flush = time.monotonic()
    for count, pairs in pending.values():
        for name, enabled in pairs:
            _child(name, "enabled" if enabled else "disabled").inc(count)


atexit.register(flush)


def record_change(action: str) -> None:
    FLAG_CHANGES.labels(action=action).inc()
