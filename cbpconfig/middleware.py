"""HTTP plumbing middleware: which forwarded headers to believe, the browser security headers
every response carries, and no body on a HEAD answer.

Order in settings.MIDDLEWARE: ``TrustedProxyHeadersMiddleware`` before Django's
``SecurityMiddleware`` (which reads the scheme for the SSL redirect and HSTS);
``SecurityPolicyHeadersMiddleware`` and ``HeadResponseMiddleware`` outside ``CommonMiddleware``
(so a HEAD answer keeps the Content-Length its GET would have, without the body).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Mapping, Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse

GetResponse = Callable[[HttpRequest], HttpResponseBase]

# The headers a proxy sets to say how the client reached it. Django believes
# X-Forwarded-Proto through SECURE_PROXY_SSL_HEADER (request.is_secure(), the SSL redirect,
# HSTS, secure cookies); like X-Forwarded-For (cbpconfig.audit.client_ip) it is believed only
# when the direct peer is one of CBP_TRUSTED_PROXIES.
_FORWARDED_SCHEME_HEADERS = ("HTTP_X_FORWARDED_PROTO",)


@functools.cache
def _trusted_networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def is_trusted_proxy(address: str | None) -> bool:
    """True when ``address`` (a peer's IP) is in CBP_TRUSTED_PROXIES."""
    proxies = tuple(settings.CBP_TRUSTED_PROXIES or ())
    if not address or not proxies:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _trusted_networks(proxies))


class TrustedProxyHeadersMiddleware:
    """Drop X-Forwarded-Proto unless the direct peer is a trusted proxy, so a client talking
    to the service directly cannot make an http request look like https (or the reverse)."""

    def __init__(self, get_response: GetResponse):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        meta = request.META
        if any(h in meta for h in _FORWARDED_SCHEME_HEADERS) and not is_trusted_proxy(
            meta.get("REMOTE_ADDR")
        ):
            for header in _FORWARDED_SCHEME_HEADERS:
                meta.pop(header, None)
        return self.get_response(request)


def _policy(directives: Mapping[str, Sequence[str]], joiner: str, fmt: str) -> str:
    return joiner.join(fmt.format(name=k, value=" ".join(v)).strip() for k, v in directives.items())


class SecurityPolicyHeadersMiddleware:
    """Content-Security-Policy and Permissions-Policy on every response (pages, the admin, the
    API documentation, the browsable API, JSON, errors), from settings.CBP_CONTENT_SECURITY_POLICY
    and settings.CBP_PERMISSIONS_POLICY. A response that sets its own keeps it."""

    def __init__(self, get_response: GetResponse):
        self.get_response = get_response
        self.csp = _policy(settings.CBP_CONTENT_SECURITY_POLICY, "; ", "{name} {value}")
        self.permissions = _policy(settings.CBP_PERMISSIONS_POLICY, ", ", "{name}=({value})")

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if self.csp:
            response.headers.setdefault("Content-Security-Policy", self.csp)
        if self.permissions:
            response.headers.setdefault("Permissions-Policy", self.permissions)
        return response


class HeadResponseMiddleware:
    """Answer HEAD with the headers of GET and no body.

    Django's WSGI handler sends a view's body for HEAD too (only its development server strips
    it); gunicorn then drops the bytes as RFC 9110 requires and logs a warning on every HEAD
    request ("WSGI app sent body bytes on a no-body response"). Dropping the body here removes
    the cause. Content-Length, already set by CommonMiddleware, stays: HEAD may send the length
    the GET would have."""

    def __init__(self, get_response: GetResponse):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.method == "HEAD":
            if isinstance(response, StreamingHttpResponse):
                # The original iterator is never read; its resources (a FileResponse's file)
                # stay registered with the response, which the server closes as usual.
                response.streaming_content = []
            elif isinstance(response, HttpResponse):
                response.content = b""
        return response
