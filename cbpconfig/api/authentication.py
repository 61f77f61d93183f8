"""API-key authentication: `Authorization: Api-Key <key>` or `Bearer <key>` (OpenFeature).

Keys are stored hashed (djangorestframework-api-key). Verifying one costs a query and a hash,
so a verified key is remembered in process for a few seconds (CBP_API_KEY_CACHE_SECONDS);
a revoked key stops working within that time. Each remembered key also carries the generation
token of the keys (:data:`KEYS`, bumped by every save or delete of a key) read before it was
verified: the ready-response path (cbpconfig.ready) trusts a remembered key only while that
token is current, so there a revocation is seen by the next request on every worker.
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

from cbpconfig import cache as coherence
from cbpconfig.logging import set_institution
from cbpconfig.models import APIKey

if TYPE_CHECKING:  # DRF's settings import this module (DEFAULT_AUTHENTICATION_CLASSES)
    from rest_framework.request import Request

# sha256 of the raw key -> (remembered until (monotonic), the key, the keys' token read before it
# was verified, its expiry as a Unix time or None)
_CACHE: dict[str, tuple[float, KeyInfo, str | None, float | None]] = {}
_LOCK = threading.Lock()
_MAX_ENTRIES = 10000
KEYS = "apikeys"  # the coherence name of every API key (cbpconfig.cache)


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


def digest_of(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def remembered(digest: str) -> tuple[KeyInfo, str | None, float | None] | None:
    """A key verified in this process (whatever its age): the key, the keys' token it was
    verified under, its expiry (Unix time) or None."""
    hit = _CACHE.get(digest)
    return None if hit is None else (hit[1], hit[2], hit[3])


def forget_key(digest: str) -> None:
    """Verify this key again on its next use (its token is no longer current)."""
    with _LOCK:
        _CACHE.pop(digest, None)


def _lookup(raw_key: str) -> KeyInfo | None:
    digest = digest_of(raw_key)
    now = time.monotonic()
    hit = _CACHE.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    prefix, dot, _ = raw_key.partition(".")
    if not dot:
        return None
    # The keys' token is read before the key: a revocation committed after this read gives
    # the keys a new token, under which this verification is never trusted.
    token = coherence.read([KEYS]).token(KEYS)
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
    expiry = key.expiry_date.timestamp() if key.expiry_date is not None else None
    with _LOCK:
        if len(_CACHE) >= _MAX_ENTRIES:
            _CACHE.clear()
        _CACHE[digest] = (now + ttl, info, token, expiry)
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
