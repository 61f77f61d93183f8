"""Scope: who may do what (the contract's "Authentication and scope").

- Platform key: reads everything; writes when created with --write.
- Institution key: reads shared reference data and its own institution's objects; never writes.
  Views hide other institutions' objects by scoping their querysets (so they are 404).
- Staff user (session): reads; writes with Django model permissions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast, overload

from rest_framework import exceptions, permissions

from cbpconfig.api.authentication import KeyInfo

if TYPE_CHECKING:  # DRF's views import this module (DEFAULT_PERMISSION_CLASSES)
    from rest_framework.generics import GenericAPIView
    from rest_framework.request import Request
    from rest_framework.views import APIView

SAFE_METHODS = permissions.SAFE_METHODS

_PERMS_MAP = {
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


# The scope helpers read only `request.auth`: a DRF request, or a Django one (no key).


def key_of(request: object) -> KeyInfo | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, KeyInfo) else None


def institution_scope(request: object) -> int | None:
    """The institution id the caller is confined to, or None for platform-wide callers."""
    key = key_of(request)
    return key.institution_id if key is not None else None


def institution_code_scope(request: object) -> str | None:
    """The code of the institution the caller is confined to, or None for platform-wide
    callers."""
    key = key_of(request)
    return key.institution_code if key is not None else None


@overload
def institution_for(request: object, requested: str, *, refuse: Exception) -> str: ...
@overload
def institution_for(request: object, requested: str | None, *, refuse: Exception) -> str | None: ...
def institution_for(request: object, requested: str | None, *, refuse: Exception) -> str | None:
    """The institution a request about one institution is answered for: `requested` (a code,
    or None when the caller named none); for an institution key, its own institution when it
    named none, and `refuse` raised when it named another (404 or 403, as the endpoint says).
    None only for a platform-wide caller that named none."""
    own = institution_code_scope(request)
    if own is None:
        return requested
    if requested is not None and requested != own:
        raise refuse
    return own


def _is_read(request: Request, view: APIView) -> bool:
    # Evaluation endpoints answer a POST without changing anything (OFREP).
    return request.method in SAFE_METHODS or (
        request.method == "POST" and getattr(view, "post_is_read", False)
    )


class ScopedPermission(permissions.BasePermission):
    """The permission of every API view. A view may set `platform_only = True` (institution
    keys get 403), `write_permission = (app_label, model_name)` for model permissions of a
    non-model action, and `post_is_read = True` for evaluation endpoints."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        key = key_of(request)
        if key is not None:
            if getattr(view, "platform_only", False) and not key.is_platform:
                raise exceptions.PermissionDenied(
                    "This endpoint is for platform keys and staff only."
                )
            if _is_read(request, view):
                return True
            if not key.is_platform:
                raise exceptions.PermissionDenied("Institution keys are read-only.")
            if not key.can_write:
                raise exceptions.PermissionDenied("This API key may not write.")
            return True
        if not (user.is_active and user.is_staff):
            raise exceptions.PermissionDenied("Staff access only.")
        if _is_read(request, view):
            return True
        return bool(user.has_perms(self._required_perms(request, view)))

    def _required_perms(self, request: Request, view: APIView) -> list[str]:
        action = _PERMS_MAP.get(request.method or "")
        if action is None:
            return ["__never__"]
        target = getattr(view, "write_permission", None)
        if target is None and not hasattr(view, (request.method or "").lower()):
            # The view has no handler for this method: no permission is needed to be told
            # so, and DRF answers 405 (a non-model view has no model to name a permission).
            return []
        if target is None:
            # Without write_permission the view is a model view (a GenericAPIView).
            model = cast("GenericAPIView[Any]", view).get_queryset().model
            target = (model._meta.app_label, model._meta.model_name)
        app_label, model_name = target
        return [f"{app_label}.{action}_{model_name}"]
