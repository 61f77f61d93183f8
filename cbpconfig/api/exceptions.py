"""One error shape, and no 500 for anything a caller can cause.

Django's own exceptions raised by services and models are mapped to the contract's codes:
ValidationError → 400 (field errors), StaleVersion → 412, IntegrityError and protected deletes
→ 409, DataError → 400, a cancelled or failed database operation → 503.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
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


def validation_error_body(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {
            ("detail" if field == "__all__" else field): [str(m) for m in messages]
            for field, messages in exc.message_dict.items()
        }
    return {"detail": " ".join(str(m) for m in exc.messages)}


def exception_handler(exc, context):
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
        logger.error("database unavailable: %s", exc)
        exc = ServiceUnavailable()
    elif isinstance(exc, ObjectDoesNotExist):
        exc = Http404()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
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


__all__ = ["Conflict", "PreconditionFailed", "Response", "exception_handler", "reject"]
