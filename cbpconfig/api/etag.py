"""ETag, If-Match and If-None-Match.

Stored objects: `ETag: "<version>"`; PUT/PATCH/DELETE with `If-Match: "<version>"` pass the
expected version to the service, which checks it under a row lock (412 if stale).
Computed answers: a strong ETag derived from the answer (or from the versions it was computed
from), and 304 when If-None-Match names it. Every conditional read, of a stored object or of
a computed answer, is sent by :func:`conditional_response`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponseBase, HttpResponseNotModified
from rest_framework.response import Response

from cbpconfig.api.exceptions import PreconditionFailed

if TYPE_CHECKING:
    from rest_framework.request import Request

_TAG = re.compile(r'^\s*(?:W/)?"([^"]*)"\s*$')


def version_etag(version: int) -> str:
    return f'"{version}"'


def expected_version(request: HttpRequest | Request) -> int | None:
    """The version named by If-Match, None when absent. `*` means any version. A malformed or
    non-numeric tag cannot match any version: 412."""
    raw = request.META.get("HTTP_IF_MATCH")
    if raw is None:
        return None
    raw = raw.strip()
    if raw == "*":
        return None
    tags = [t for t in raw.split(",") if t.strip()]
    if len(tags) != 1:
        raise PreconditionFailed('If-Match must name exactly one version, e.g. If-Match: "3".')
    match = _TAG.match(tags[0])
    if not match or not match.group(1).isdigit():
        raise PreconditionFailed(f'If-Match {raw!r} does not name a version such as "3".')
    return int(match.group(1))


def none_match(request: HttpRequest | Request, etag: str) -> bool:
    """True when If-None-Match names this ETag (or is *)."""
    raw = request.META.get("HTTP_IF_NONE_MATCH")
    if not raw:
        return False
    if raw.strip() == "*":
        return True
    wanted = etag.strip('"')
    for tag in raw.split(","):
        match = _TAG.match(tag)
        if match and match.group(1) == wanted:
            return True
    return False


def digest_etag(*parts: object) -> str:
    h = hashlib.blake2b(digest_size=12)
    for part in parts:
        h.update(str(part).encode())
        h.update(b"\x1f")
    return f'"{h.hexdigest()}"'


def conditional_response(
    request: HttpRequest | Request, etag: str, answer: Callable[[], Any]
) -> HttpResponseBase:
    """The one conditional (304) answer of the API, with `ETag: <etag>` either way.

    304 Not Modified when If-None-Match names `etag` — `answer` is not called, so a 304 costs
    no computation —, else what `answer()` returns: a response as it is (a pre-encoded body,
    an iCalendar document), or data for a DRF `Response`."""
    response: HttpResponseBase
    if none_match(request, etag):
        response = HttpResponseNotModified()
    else:
        response = answer()
        if not isinstance(response, HttpResponseBase):
            response = Response(response)
    response["ETag"] = etag
    return response
