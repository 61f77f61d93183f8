"""Request ids and JSON logs.

Every response carries X-Request-ID (the caller's, when it is a sane token, else a new UUID);
the id and the calling institution travel in context variables so log lines and audit entries
can name them without passing the request around.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("cbp_request_id", default=None)
institution_var: ContextVar[str | None] = ContextVar("cbp_institution", default=None)

# A caller's id is accepted only when it is a short printable token, so it cannot smuggle
# new lines into logs or headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def get_request_id() -> str | None:
    """The current request's id (auditlog's correlation-id getter)."""
    return request_id_var.get()


def set_institution(code: str | None) -> None:
    institution_var.set(code)


class RequestIdMiddleware:
    """Assign the request id before anything else runs and echo it on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else str(uuid.uuid4())
        request.request_id = request_id
        token = request_id_var.set(request_id)
        institution_token = institution_var.set(None)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
            institution_var.reset(institution_token)
        response["X-Request-ID"] = request_id
        return response


class RequestContextFilter(logging.Filter):
    """Attach the request id and institution to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.institution = institution_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, institution."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "institution": getattr(record, "institution", None),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)
