"""API-key authentication: `Authorization: Api-Key <key>` or `Bearer <key>` (OpenFeature).

Keys are stored hashed (djangorestframework-api-key). Verifying one costs a query and a hash,
so a verified key is remembered in process for a few seconds (CBP_API_KEY_CACHE_SECONDS);
a revoked key stops working within that time.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework import authentication, exceptions

from cbpconfig.logging import set_institution
from cbpconfig.models import APIKey

if TYPE_CHECKING:  # DRF's settings import this module (DEFAULT_AUTHENTICATION_CLASSES)
    from rest_framework.request import Request

_CACHE: dict[str, tuple[float, KeyInfo]] = {}
_LOCK = threading.Lock()
_MAX_ENTRIES = 10000


@dataclass(frozen=True)
class KeyInfo:
    """What a request needs to know about its API key (request.auth)."""

    id: str  # the key's primary key (djangorestframework-api-key: a string)
    name: str
    institution_id: int | None
    institution_code: str | None
    can_write: bool

    @property
    def is_platform(self) -> bool:
        return self.institution_id is None

    @property
    def actor_name(self) -> str:
        return f"api-key:{self.name}"


class KeyPrincipal:
    """request.user for an API-key request: authenticated, never staff, no model perms."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, key: KeyInfo):
        self.key = key
        self.username = key.actor_name

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return False

    def has_perms(self, perms: Iterable[str], obj: object = None) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


def forget_keys() -> None:
    """Drop remembered keys (after a revocation in this process, and in tests)."""
    with _LOCK:
        _CACHE.clear()


def _lookup(raw_key: str) -> KeyInfo | None:
    digest = hashlib.sha256(raw_key.encode()).hexdigest()
    now = time.monotonic()
    hit = _CACHE.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    prefix, dot, _ = raw_key.partition(".")
    if not dot:
        return None
    key = (
        APIKey.objects.filter(revoked=False)
        .select_related("institution")
        .filter(prefix=prefix)
        .first()
    )
    if key is None or not key.is_valid(raw_key) or key.has_expired:
        return None
    info = KeyInfo(
        id=key.pk,
        name=key.name,
        institution_id=key.institution_id,
        institution_code=key.institution.code if key.institution is not None else None,
        can_write=key.can_write and key.institution_id is None,
    )
    ttl = getattr(settings, "CBP_API_KEY_CACHE_SECONDS", 5)
    with _LOCK:
        if len(_CACHE) >= _MAX_ENTRIES:
            _CACHE.clear()
        _CACHE[digest] = (now + ttl, info)
    return info


class APIKeyAuthentication(authentication.BaseAuthentication):
    keywords = ("api-key", "bearer")

    def authenticate(self, request: Request) -> tuple[KeyPrincipal, KeyInfo] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() not in self.keywords:
            return None
        raw_key = raw_key.strip()
        if not raw_key or " " in raw_key or len(raw_key) > 200:
            raise exceptions.AuthenticationFailed("Malformed API key.")
        info = _lookup(raw_key)
        if info is None:
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.")
        # The audit middleware reads the actor lazily from the Django request.
        request._request.cbp_actor_name = info.actor_name  # type: ignore[attr-defined]  # ours
        set_institution(info.institution_code)
        return KeyPrincipal(info), info

    def authenticate_header(self, request: Request) -> str:
        return 'Api-Key realm="api"'
