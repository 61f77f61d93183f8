"""Scope: who may do what (the contract's "Authentication and scope").

- Platform key: reads everything; writes when created with --write.
- Institution key: reads shared reference data and its own institution's objects; never writes.
  Views hide other institutions' objects by scoping their querysets (so they are 404).
- Staff user (session): reads; writes with Django model permissions.
"""

from __future__ import annotations

from rest_framework import exceptions, permissions

from cbpconfig.api.authentication import KeyInfo

SAFE_METHODS = permissions.SAFE_METHODS

_PERMS_MAP = {
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


def key_of(request) -> KeyInfo | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, KeyInfo) else None


def institution_scope(request) -> int | None:
    """The institution id the caller is confined to, or None for platform-wide callers."""
    key = key_of(request)
    return key.institution_id if key is not None else None


def institution_code_scope(request) -> str | None:
    key = key_of(request)
    return key.institution_code if key is not None else None


def _is_read(request, view) -> bool:
    # Evaluation endpoints answer a POST without changing anything (OFREP).
    return request.method in SAFE_METHODS or (
        request.method == "POST" and getattr(view, "post_is_read", False)
    )


class ScopedPermission(permissions.BasePermission):
    """The permission of every API view. A view may set `platform_only = True` (institution
    keys get 403), `write_permission = (app_label, model_name)` for model permissions of a
    non-model action, and `post_is_read = True` for evaluation endpoints."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request, view) -> bool:
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
        return user.has_perms(self._required_perms(request, view))

    def _required_perms(self, request, view) -> list[str]:
        action = _PERMS_MAP.get(request.method)
        if action is None:
            return ["__never__"]
        target = getattr(view, "write_permission", None)
        if target is None:
            model = view.get_queryset().model
            target = (model._meta.app_label, model._meta.model_name)
        app_label, model_name = target
        return [f"{app_label}.{action}_{model_name}"]
