"""Request ids, the request's context, JSON logs and the access log.

Every response carries X-Request-ID (the caller's, when it is a sane token, else a new UUID).
The id, the request, the actor and the calling institution travel in context variables, so any
log line and any audit entry can name them without passing the request around. Every JSON line
carries the same context: request id, actor, institution, and the system's environment,
release and host (null where there is none, e.g. outside a request).

What is logged at which level (docs/monitoring.md has the table):

- ERROR: system errors (unhandled exceptions, the database or the cache unavailable),
  integration failures (a failed database statement), business-rule violations (a request
  answered 400, 409, 412 or 422: the rule's fields are named, never the values sent);
- WARNING: performance issues (a request over ``CBP_SLOW_REQUEST_SECONDS``, a statement over
  ``CBP_SLOW_QUERY_SECONDS``), resource pressure (a worker's memory over
  ``CBP_WORKER_MEMORY_WARNING_BYTES``) and business warnings (a request refused: 401, 403, 429);
- INFO: the access log (one line per request), and one line per committed write naming the
  object, the actor and the change (:mod:`cbpconfig.audit`);
- DEBUG: the flow (request started), performance data (per request: duration, statements,
  database time) and integration details (each statement's duration inside a request), and
  the access lines of the operations endpoints (/live, /ready, /health, /metrics).

This module imports nothing of Django at import time: gunicorn's master uses the formatter too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

request_id_var: ContextVar[str | None] = ContextVar("cbp_request_id", default=None)
institution_var: ContextVar[str | None] = ContextVar("cbp_institution", default=None)
actor_var: ContextVar[str | None] = ContextVar("cbp_actor", default=None)
request_var: ContextVar[HttpRequest | None] = ContextVar("cbp_request", default=None)

# A caller's id is accepted only when it is a short printable token, so it cannot smuggle
# new lines into logs or headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

access_logger = logging.getLogger("cbpconfig.access")
rules_logger = logging.getLogger("cbpconfig.rules")
performance_logger = logging.getLogger("cbpconfig.performance")
flow_logger = logging.getLogger("cbpconfig.flow")

# Answers that mean the caller broke a rule of the API (logged at ERROR) and answers that refuse
# the caller (a business warning).
RULE_VIOLATIONS = frozenset({400, 409, 412, 422})
REFUSALS = frozenset({401, 403, 429})
# Probes and scrapes: their access lines are DEBUG, so INFO is not a stream of health checks.
OPERATIONS_PATHS = frozenset({"/live", "/ready", "/health", "/health/", "/metrics"})


def get_request_id() -> str | None:
    """The current request's id (auditlog's correlation-id getter)."""
    return request_id_var.get()


def set_institution(code: str | None) -> None:
    institution_var.set(code)


def current_request() -> HttpRequest | None:
    """The Django request being served by this thread, or None."""
    return request_var.get()


def _actor_of(request: object) -> str | None:
    """The actor of a request, without triggering authentication (no query from a log call)."""
    name = getattr(request, "cbp_actor_name", None)
    if name:
        return str(name)
    user = getattr(request, "__dict__", {}).get("user")
    if user is None:
        return None
    from django.utils.functional import empty

    wrapped = getattr(user, "_wrapped", user)  # AuthenticationMiddleware's lazy user
    if wrapped is None or wrapped is empty:  # not evaluated yet: never trigger a query here
        return None
    if getattr(wrapped, "is_authenticated", False):
        try:
            return str(wrapped.get_username())
        except Exception:  # a principal without a user name
            return None
    return None


def current_actor(request: object = None) -> str | None:
    """Who is acting: `system:<command>` inside a command, else the request's user or key."""
    actor = actor_var.get()
    if actor:
        return actor
    request = request if request is not None else request_var.get()
    return _actor_of(request) if request is not None else None


# -- the system's context: environment, release and host -----------------------------------------

_system: dict[str, str] | None = None


def system_context() -> dict[str, str]:
    """{"environment", "release", "host"} of this process (from the settings once Django is
    configured, from the environment before that, e.g. in gunicorn's master)."""
    global _system
    if _system is not None:
        return _system
    environment = os.environ.get("CBP_ENVIRONMENT") or "development"
    release = os.environ.get("CBP_RELEASE") or "unreleased"
    configured = False
    try:
        from django.conf import settings

        if settings.configured:
            environment = getattr(settings, "CBP_ENVIRONMENT", environment)
            release = getattr(settings, "CBP_RELEASE", release)
            configured = True
    except Exception:  # noqa: S110 - Django absent or settings broken: the environment will do
        pass
    context = {"environment": environment, "release": release, "host": socket.gethostname()}
    if configured:
        _system = context
    return context


def reset_system_context() -> None:
    global _system
    _system = None


# -- log records ---------------------------------------------------------------------------------


class RequestContextFilter(logging.Filter):
    """Attach the request id, actor and institution to every record. Django's own lines
    (django.request) are written after the middleware has returned; they carry the request,
    which then supplies the context."""

    def __init__(self, name: str = ""):
        super().__init__(name)
        install_receivers()

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if request is not None and not hasattr(request, "META"):
            request = None  # django.server passes a socket
        # A line may bring its own context (a write logged after commit names the request and
        # actor of the change); otherwise the current request's.
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or getattr(request, "request_id", None)
        if not hasattr(record, "actor"):
            record.actor = current_actor(request)
        if not hasattr(record, "institution"):
            record.institution = institution_var.get() or getattr(request, "cbp_institution", None)
        return True


_BASE_FIELDS = ("time", "level", "logger", "message", "request_id", "actor", "institution")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, actor, institution,
    environment, release, host; then the event's own fields (``extra={"cbp": {...}}``)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "actor": getattr(record, "actor", None),
            "institution": getattr(record, "institution", None),
        }
        payload.update(system_context())
        fields = getattr(record, "cbp", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                if key not in payload:
                    payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["exception"] = record.exc_text
        return json.dumps(payload, default=str)


# -- the request middleware ----------------------------------------------------------------------


def _request_bytes(request: HttpRequest) -> int:
    """Bytes of the request as it came over the wire (request line, headers, body)."""
    meta = request.META
    target = meta.get("RAW_URI") or f"{meta.get('PATH_INFO', '')}?{meta.get('QUERY_STRING', '')}"
    size = len(request.method or "") + len(target) + 12
    for key, value in meta.items():
        if key[:5] == "HTTP_":
            size += len(key) - 1 + len(value)
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        value = meta.get(key)
        if value:
            size += len(key) + len(str(value)) + 4
    with contextlib.suppress(ValueError):
        size += int(meta.get("CONTENT_LENGTH") or 0)
    return size + 2


def _response_bytes(response: HttpResponseBase) -> int:
    size = 17 + len(response.reason_phrase or "")
    for key, value in response.items():
        size += len(key) + len(str(value)) + 4
    content = getattr(response, "content", None)
    if not getattr(response, "streaming", False) and isinstance(content, bytes):
        size += len(content)
    return size + 2


def _rule_fields(response: HttpResponseBase) -> list[str]:
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        return sorted(str(key) for key in data)[:20]
    return []


class RequestIdMiddleware:
    """Assign the request id before anything else runs and echo it on the response; then log
    the request (access line, rule violations, refusals, slow requests) and count it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        from django.conf import settings

        from cbpconfig import dbstats, metrics

        self.get_response = get_response
        self.metrics = metrics
        self.dbstats = dbstats
        self.settings = settings

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else str(uuid.uuid4())
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset when this returns: Django writes its own error lines after the middleware;
        # request_finished clears them (see clear_request_context).
        request_id_var.set(request_id)
        request_var.set(request)
        institution_var.set(None)
        actor_var.set(None)
        self.dbstats.begin_request()
        debug = flow_logger.isEnabledFor(logging.DEBUG)
        if debug:
            flow_logger.debug(
                "request started: %s %s",
                request.method,
                request.path,
                extra={"cbp": {"event": "request_started", "method": request.method}},
            )
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        elapsed = time.perf_counter() - started
        request.cbp_institution = institution_var.get()  # type: ignore[attr-defined]
        try:
            self._observe(request, response, elapsed, debug)
        except Exception:  # observability must never fail the request
            logging.getLogger("cbpconfig.metrics").exception("could not observe the request")
        return response

    def _observe(
        self, request: HttpRequest, response: HttpResponseBase, elapsed: float, debug: bool
    ) -> None:
        status = response.status_code
        path = request.path
        self.metrics.observe_request(
            request, status, elapsed, _request_bytes(request), _response_bytes(response)
        )
        queries, db_seconds = self.dbstats.request_totals()
        duration_ms = round(elapsed * 1000, 2)
        fields = {
            "event": "access",
            "method": request.method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "remote_addr": request.META.get("REMOTE_ADDR"),
        }
        level = logging.DEBUG if path in OPERATIONS_PATHS else logging.INFO
        if access_logger.isEnabledFor(level):
            access_logger.log(
                level,
                "%s %s %d %.1fms",
                request.method,
                path,
                status,
                duration_ms,
                extra={"cbp": fields},
            )
        if status in RULE_VIOLATIONS:
            fields_named = _rule_fields(response)
            rules_logger.error(
                "business rule violated: %s %s answered %d (%s)",
                request.method,
                path,
                status,
                ", ".join(fields_named) or "no field named",
                extra={
                    "cbp": {"event": "rule_violation", "status": status, "fields": fields_named}
                },
            )
        elif status in REFUSALS:
            rules_logger.warning(
                "request refused: %s %s answered %d",
                request.method,
                path,
                status,
                extra={"cbp": {"event": "refused", "status": status}},
            )
        slow = self.settings.CBP_SLOW_REQUEST_SECONDS
        if elapsed > slow:
            performance_logger.warning(
                "slow request: %s %s took %.0f ms (threshold %.0f ms)",
                request.method,
                path,
                elapsed * 1000,
                slow * 1000,
                extra={"cbp": {"event": "slow_request", "duration_ms": duration_ms}},
            )
        self.metrics.check_worker_memory()
        if debug:
            performance_logger.debug(
                "request finished: %d in %.1f ms, %d statements, %.1f ms in the database",
                status,
                duration_ms,
                queries,
                db_seconds * 1000,
                extra={
                    "cbp": {
                        "event": "request_finished",
                        "duration_ms": duration_ms,
                        "db_statements": queries,
                        "db_ms": round(db_seconds * 1000, 2),
                    }
                },
            )


def clear_request_context(**kwargs: object) -> None:
    """request_finished receiver: the request's context ends with its response."""
    request_id_var.set(None)
    request_var.set(None)
    institution_var.set(None)
    actor_var.set(None)


# -- receivers -----------------------------------------------------------------------------------

_installed = False


def install_receivers() -> None:
    """Connect the observability receivers once per process: the request context's end, the
    audit entries' system context and write lines (cbpconfig.audit), and the database
    statement timer (cbpconfig.dbstats). Called when the logging configuration is applied,
    which every Django process (server, command, shell, test) does during setup."""
    global _installed
    if _installed:
        return
    try:
        from django.conf import settings

        if not settings.configured:
            return
    except ImportError:
        return
    _installed = True
    from django.core.signals import request_finished

    from cbpconfig import audit, dbstats

    request_finished.connect(clear_request_context, dispatch_uid="cbpconfig.logging.clear")
    audit.connect()
    dbstats.connect()
