"""One error shape, and no 500 for anything a caller can cause.

Django's own exceptions raised by services and models are mapped to the contract's codes:
ValidationError → 400 (field errors), StaleVersion → 412, IntegrityError and protected deletes
→ 409, DataError → 400, a cancelled or failed database operation → 503, a body over the upload
limit → 413.

Failures that never reach a DRF view (an unknown path, a body Django refuses before the view,
a CSRF refusal, an unhandled error) go to Django's error handlers; the ones here answer JSON
for every `/api/` and `/ofrep/` path — the API's `{"detail": ...}` shape, or OFREP's
`{"errorCode", "errorDetails"}` (with `key` on the single-flag path) — and Django's own pages
everywhere else (the admin, the pages we render).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpRequest, HttpResponseBase, JsonResponse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from cbpconfig.versioning import StaleVersion

logger = logging.getLogger("cbpconfig.api")


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "If-Match does not match the current version."
    default_code = "precondition_failed"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with existing data."
    default_code = "conflict"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable; retry shortly."
    default_code = "unavailable"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def validation_error_body(exc: DjangoValidationError) -> dict[str, Any]:
    if hasattr(exc, "error_dict"):
        return {
            ("detail" if field == "__all__" else field): [str(m) for m in messages]
            for field, messages in exc.message_dict.items()
        }
    return {"detail": " ".join(str(m) for m in exc.messages)}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(validation_error_body(exc))
    elif isinstance(exc, StaleVersion):
        exc = PreconditionFailed(str(exc))
    elif isinstance(exc, ProtectedError | RestrictedError):
        names = sorted(
            {type(o)._meta.verbose_name for o in getattr(exc, "protected_objects", [])}
            | {type(o)._meta.verbose_name for o in getattr(exc, "restricted_objects", [])}
        )
        exc = Conflict(f"Cannot delete: still referenced by {', '.join(names) or 'other objects'}.")
    elif isinstance(exc, IntegrityError):
        logger.info("integrity conflict: %s", exc)
        exc = Conflict("Conflicts with an existing object (a uniqueness or reference rule).")
    elif isinstance(exc, DataError):
        exc = exceptions.ValidationError({"detail": "A value is out of range for its field."})
    elif isinstance(exc, OperationalError):
        from cbpconfig import dbstats

        dbstats.count_failure(exc)
        logger.error("database unavailable: %s", exc)
        exc = ServiceUnavailable()
    elif isinstance(exc, ObjectDoesNotExist):
        exc = Http404()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        # Raised by request.body when DRF reads a body over DATA_UPLOAD_MAX_MEMORY_SIZE.
        exc = PayloadTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    set_rollback()
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = "5"
    return response


def reject(field: str, message: str) -> exceptions.ValidationError:
    """A 400 naming the field: `raise reject("date", "...")`."""
    return exceptions.ValidationError({field: [message]})


# -- Django's error handlers (cbpconfig.urls names them) -----------------------------------------

_OFREP_FLAG_PATH = re.compile(r"^/ofrep/v1/evaluate/flags/(?P<key>[^/]+)/?$")


def _family(request: HttpRequest) -> str | None:
    path = request.path_info or request.path
    if path.startswith("/ofrep/"):
        return "ofrep"
    if path.startswith("/api/"):
        return "api"
    return None


def _json_error(
    request: HttpRequest, status_code: int, detail: str, ofrep_code: str = "GENERAL"
) -> JsonResponse | None:
    """The error body of the path's family, or None when the path is not an API path."""
    family = _family(request)
    if family == "api":
        return JsonResponse({"detail": detail}, status=status_code)
    if family == "ofrep":
        body: dict[str, Any] = {}
        match = _OFREP_FLAG_PATH.match(request.path_info or request.path)
        if match:
            body["key"] = match["key"]
        body.update({"errorCode": ofrep_code, "errorDetails": detail})
        return JsonResponse(body, status=status_code)
    return None


def bad_request(
    request: HttpRequest,
    exception: Exception,
    template_name: str = defaults.ERROR_400_TEMPLATE_NAME,
) -> HttpResponseBase:
    """handler400: Django refused the request before any view ran (e.g. a body over the upload
    limit read by middleware, too many form fields): 413 for a body too large, else 400."""
    if isinstance(exception, RequestDataTooBig):
        response = _json_error(
            request, 413, "The request body is too large.", ofrep_code="PARSE_ERROR"
        )
        if response is not None and _family(request) == "ofrep":
            response.status_code = 400  # OFREP has no 413: a body it cannot parse is PARSE_ERROR
    else:
        response = _json_error(request, 400, "Bad request.", ofrep_code="PARSE_ERROR")
    return response or defaults.bad_request(request, exception, template_name)


def _json_or_page(
    status_code: int,
    detail: str,
    page: Callable[[HttpRequest, Exception, str], HttpResponseBase],
    default_template: str,
) -> Callable[..., HttpResponseBase]:
    """A handler403/handler404: the JSON ``detail`` under /api/ and /ofrep/, Django's ``page``
    elsewhere (with Django's signature: request, exception, template_name)."""

    def handler(
        request: HttpRequest, exception: Exception, template_name: str = default_template
    ) -> HttpResponseBase:
        response = _json_error(request, status_code, detail)
        return response or page(request, exception, template_name)

    handler.__name__ = handler.__qualname__ = page.__name__
    handler.__doc__ = f"handler{status_code}: {detail}"
    return handler


permission_denied = _json_or_page(
    403,
    "You do not have permission to perform this action.",
    defaults.permission_denied,
    defaults.ERROR_403_TEMPLATE_NAME,
)
page_not_found = _json_or_page(
    404, "Not found.", defaults.page_not_found, defaults.ERROR_404_TEMPLATE_NAME
)


def server_error(
    request: HttpRequest, template_name: str = defaults.ERROR_500_TEMPLATE_NAME
) -> HttpResponseBase:
    response = _json_error(
        request, 500, "Internal server error; the request id names it in the logs."
    )
    return response or defaults.server_error(request, template_name)


def csrf_failure(
    request: HttpRequest, reason: str = "", template_name: str = "403_csrf.html"
) -> HttpResponseBase:
    """CSRF_FAILURE_VIEW: JSON under /api/ and /ofrep/ (DRF's own session check already answers
    there; this covers any non-DRF view), Django's page elsewhere."""
    response = _json_error(request, 403, f"CSRF Failed: {reason}" if reason else "CSRF Failed.")
    return response or django_csrf_failure(request, reason, template_name)


__all__ = [
    "Conflict",
    "PayloadTooLarge",
    "PreconditionFailed",
    "Response",
    "bad_request",
    "csrf_failure",
    "exception_handler",
    "page_not_found",
    "permission_denied",
    "reject",
    "server_error",
]
