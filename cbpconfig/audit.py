"""Audit plumbing: who did it, from where, in which request.

django-auditlog writes the entries; this module fills in the actor for every path a change can
take: a session user (admin, browsable API), an API key (authenticated inside DRF, after the
middleware has run, so auditlog's own middleware would miss it), and a management command.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator

from auditlog.context import set_extra_data
from django.conf import settings

from cbpconfig.logging import get_request_id


def _trusted(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(net, strict=False) for net in settings.CBP_TRUSTED_PROXIES
    )


def client_ip(request) -> str | None:
    """The client's address. X-Forwarded-For is believed only when the direct peer is a
    configured trusted proxy; then the right-most address that is not itself a proxy wins."""
    remote = request.META.get("REMOTE_ADDR") or None
    if remote and settings.CBP_TRUSTED_PROXIES and _trusted(remote):
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        for candidate in reversed([p for p in forwarded if p]):
            try:
                ipaddress.ip_address(candidate)
            except ValueError:
                break
            if not _trusted(candidate):
                return candidate
    return remote


def actor_name_for(request) -> str | None:
    name = getattr(request, "cbp_actor_name", None)
    if name:
        return name
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user.get_username()
    return None


class AuditContextMiddleware:
    """Open an auditlog context for each writing request; the actor is read lazily at save
    time so an API key authenticated later by DRF is still named."""

    SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
    # OFREP evaluations are POSTs that change nothing; skipping them saves ~0.1 ms each.
    READ_ONLY_PREFIXES = ("/ofrep/",)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in self.SAFE or request.path.startswith(self.READ_ONLY_PREFIXES):
            return self.get_response(request)

        def actor():
            user = getattr(request, "user", None)
            return user if user is not None and user.is_authenticated else None

        context = {
            "actor": actor(),
            "actor_name": lambda: actor_name_for(request),
            "remote_addr": client_ip(request),
            "cid": get_request_id,
        }
        with set_extra_data(context):
            return self.get_response(request)


@contextlib.contextmanager
def system_actor(command: str) -> Iterator[None]:
    """Attribute every change made inside to `system:<command>`."""
    with set_extra_data({"actor_name": f"system:{command}", "cid": get_request_id}):
        yield
