"""A lean middleware path for machine clients.

Integrators call the hot reads with an API key many times a second. Sessions, CSRF, Django's
user authentication, messages, waffle's cookies and the console's log-in throttling serve the
console and the session-authenticated browsable API, and cost every request about 1 ms before
any of our code runs. So the WSGI application is a dispatcher over two Django handlers built
from the same settings:

- **lean** (``CBP_LEAN_MIDDLEWARE``): requests under ``/api/`` or ``/ofrep/`` that carry an
  ``Authorization: Api-Key …`` header. They keep everything the contract promises: request id,
  security and policy headers, trusted-proxy handling, the host check (CommonMiddleware), the
  audit context of writes, the metrics; ETag/304, throttling and scope live in DRF and our
  views, which both paths share.
- **full** (``MIDDLEWARE``): everything else — the console, the landing page, health, metrics,
  the docs, and API requests authenticated by a session.

The choice is made from the request line and headers only, before Django sees the request.
A warm hot read on the lean path is answered before either handler, from the answers kept in
process (:mod:`cbpconfig.ready`), unless ``CBP_READY_RESPONSES`` is false.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

LEAN_PREFIXES = ("/api/", "/ofrep/")
API_KEY_PREFIX = "Api-Key "

StartResponse = Callable[..., Any]


def is_lean(environ: dict[str, Any]) -> bool:
    """An API-key request to the API or OFREP."""
    path: str = environ.get("PATH_INFO", "")
    auth: str = environ.get("HTTP_AUTHORIZATION", "")
    return path.startswith(LEAN_PREFIXES) and auth.startswith(API_KEY_PREFIX)


class LeanHandler(WSGIHandler):
    """Django's WSGI handler with ``CBP_LEAN_MIDDLEWARE`` instead of ``MIDDLEWARE``."""

    def load_middleware(self, is_async: bool = False) -> None:
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.CBP_LEAN_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


class Dispatcher:
    """The WSGI application: API-key requests to the lean handler, the rest to the full one."""

    def __init__(self, full: WSGIHandler, lean: WSGIHandler, *, ready: bool | None = None):
        from cbpconfig import ready as kept

        self.full = full
        self.lean = lean
        if ready is None:
            ready = kept.enabled()
        # The lean handler behind the kept answers (cbpconfig.ready), or the lean handler alone.
        self.api: Callable[[dict[str, Any], StartResponse], Iterable[bytes]] = (
            kept.ReadyResponses(lean) if ready else lean
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if is_lean(environ):
            return self.api(environ, start_response)
        return self.full(environ, start_response)


def application(*, ready: bool | None = None) -> Dispatcher:
    """Build both handlers (call after django.setup(), as get_wsgi_application does).
    ``ready``: answer warm hot reads from kept answers (default: CBP_READY_RESPONSES)."""
    from django.core.wsgi import get_wsgi_application

    full = get_wsgi_application()
    return Dispatcher(full, LeanHandler(), ready=ready)
