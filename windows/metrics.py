"""Prometheus metrics of the windows app (bounded labels: kind, action — never codes or dates)."""

from __future__ import annotations

from prometheus_client import Counter

WINDOW_CHANGES = Counter(
    "cbp_window_changes_total",
    "Processing windows and overrides created, updated or deleted (API, admin, command).",
    ["kind", "action"],
)
STATUS_REQUESTS = Counter(
    "cbp_window_status_requests_total",
    "Window status answers computed (GET /api/v1/windows/{code}/status).",
)
OVERRIDE_DECISIONS = Counter(
    "cbp_window_override_decisions_total",
    "Status answers whose current or next session came from an override.",
)
SESSIONS_REQUESTS = Counter(
    "cbp_window_sessions_requests_total",
    "Window session lists computed (GET /api/v1/windows/{code}/sessions).",
)
COMPILE = Counter(
    "cbp_window_compile_total",
    "Window look-ups by the computed endpoints: hit = answered from this process's compiled "
    "schedule; state = the window re-read from the database; calendar = schedule rebuilt for "
    "a new calendar version.",
    ["result"],
)

KINDS = ("window", "override")
ACTIONS = ("create", "update", "delete")

# Pre-bound children: `.labels()` costs a dict look-up and a lock on every call.
_CHANGES = {(k, a): WINDOW_CHANGES.labels(kind=k, action=a) for k in KINDS for a in ACTIONS}
COMPILE_HIT = COMPILE.labels(result="hit")
COMPILE_STATE = COMPILE.labels(result="state")
COMPILE_CALENDAR = COMPILE.labels(result="calendar")


def changed(kind: str, action: str) -> None:
    """Count a committed change of a window or an override."""
    _CHANGES[(kind, action)].inc()
