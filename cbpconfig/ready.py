"""Ready responses: a warm hot read answered from per-process memory, before Django and DRF.

Integrators call the hot reads (window status and sessions, business-day answers, resolved
configuration, flag evaluation) many times a second with the same questions. Once such an
answer has been computed, it is a function of the request and of the generation tokens it was
computed under (:mod:`cbpconfig.cache`): nothing else. So the lean dispatcher
(:mod:`cbpconfig.lean`) keeps the **ready response** — status, headers and body bytes exactly as
the full path sent them, with their ETag — and answers the next identical request itself:

1. The request must be a GET or HEAD under the lean path (``Authorization: Api-Key …``) with an
   ``Accept`` of none, ``*/*`` or ``application/json``; anything else goes the full way. A POST
   qualifies too when its body has a ``Content-Length`` of at most 8 KiB (an evaluation such
   as OFREP's is a read sent by POST): the body is read once, handed on unchanged to the full
   path, and its SHA-256 and ``Content-Type`` become part of the entry's key. Only a view that
   calls :func:`keep` is ever kept, and no write does.
2. The entry is looked up by (method, path, query string, host, scheme, Accept, the key's
   SHA-256, and for a POST the body's). Its key must have been verified in this process
   (``authentication.remembered``).
3. ONE cache round trip (``get_many``) reads the current tokens the answer was computed under,
   the epoch and the keys' token. All must equal the recorded ones, else the full path
   answers (and records the answer again). A changed keys' token (a key was issued, changed
   or revoked) makes the key be verified again from the database.
4. Throttling counts the request as the full path would (``throttling.count``); a refusal is
   handed to the full path, which sends the 429 without counting again.
5. The answer: 304 when ``If-None-Match`` names the ETag, else 200 — each variant exactly as
   the full path once sent it (a variant not seen yet goes the full way once), with this
   request's ``X-Request-ID``; the metrics, the access log line and the counters of the view
   (registered with :func:`keep`) are recorded as the full path records them.

What is kept: a view calls :func:`keep` when its answer depends only on the request and the
tokens it read. An answer for "now" is kept only where its body does not name the instant and
the view knows when the data make another answer (a configuration key's next scheduled
value: ``keep(until=...)``); it is not served from that instant on. Window status for "now"
and an institution's configuration for "now" are never kept. The dispatcher keeps a 200 or
304 whose tokens were all read from the cache (none changed in the request, none missing). An error,
a write, a cold cache, an unknown parameter: the full path, as before.

``CBP_READY_RESPONSES=false`` turns the whole mechanism off (the full lean path answers).
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.http import HttpResponse

from cbpconfig import cache as coherence
from cbpconfig import metrics as cbp_metrics
from cbpconfig.api import authentication, throttling
from cbpconfig.api.etag import none_match
from cbpconfig.logging import (
    _VALID_REQUEST_ID,
    _request_bytes,
    access_logger,
    current_request,
    flow_logger,
    performance_logger,
)
from cbpconfig.middleware import is_trusted_proxy

StartResponse = Callable[..., Any]
Replay = Callable[[], object]

MAX_ENTRIES = 4096
MAX_BODY_BYTES = 256 * 1024
MAX_POST_BYTES = 8 * 1024  # a POST read (OFREP's evaluation body) larger than this: full path
MAX_TOTAL_BYTES = 48 * 1024 * 1024
_ACCEPTED = frozenset({"", "*/*", "application/json"})
_METHODS = frozenset({"GET", "HEAD", "POST"})
_KEYS_TOKEN = coherence.token_key(authentication.KEYS)
_EPOCH_TOKEN = coherence.token_key(coherence.EPOCH)


# -- what a view says about its answer ---------------------------------------------------------


@dataclass(slots=True)
class _Recording:
    keep: bool = False
    replay: list[Replay] = field(default_factory=list)
    until: float | None = None  # a Unix time after which the answer may differ


_recording: ContextVar[_Recording | None] = ContextVar("cbp_ready_recording", default=None)


def keep(*replay: Replay, until: datetime | None = None) -> None:
    """The answer being computed depends only on the request and the tokens read: it may be
    kept. ``replay``: the view's own counters, called again for each answer served ready.
    ``until``: the instant from which the answer may differ though no token moved (a read for
    "now" whose data schedule a change); it is not served from then on."""
    recording = _recording.get()
    if recording is not None:
        recording.keep = True
        recording.replay.extend(replay)
        if until is not None:
            moment = until.timestamp()
            if recording.until is None or moment < recording.until:
                recording.until = moment


def replay(*calls: Replay) -> None:
    """Counters of the view to repeat for each answer served ready (without marking it)."""
    recording = _recording.get()
    if recording is not None:
        recording.replay.extend(calls)


# -- the kept answers ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Variant:
    status: str  # "200 OK"
    status_code: int
    headers: list[tuple[str, str]]  # without X-Request-ID
    request_id_at: int  # where X-Request-ID goes in the list
    body: bytes
    reason: str
    charset: str
    replay: tuple[Replay, ...]
    observed: _Observed


@dataclass(slots=True)
class _Entry:
    tokens: dict[str, Any]  # token key -> raw value the answer was computed under
    etag: str
    variants: dict[bool, _Variant]  # not-modified? -> variant
    until: float | None = None  # not served from this Unix time on (keep(until=...))
    size: int = 0


@dataclass(slots=True)
class _Observed:
    """What the full path's metrics and access line named, bound once per variant."""

    view: str
    operation: str
    family: str
    institution: str | None  # the calling key's institution (log context)
    institution_label: str  # the metrics' label
    actor: str
    children: tuple[Any, ...]  # counters bound to their labels (see _observe)


class _Memory:
    """Kept answers, bounded by entries and by bytes; the oldest kept goes first (a look-up
    takes no lock: a worker serves one request at a time, gthread a few)."""

    def __init__(self) -> None:
        self._data: OrderedDict[tuple[str, ...], _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> _Entry | None:
        return self._data.get(key)

    def put(self, key: tuple[str, ...], entry: _Entry) -> None:
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            entry.size = sum(len(v.body) + 512 for v in entry.variants.values())
            self._data[key] = entry
            self._bytes += entry.size
            while self._data and (len(self._data) > MAX_ENTRIES or self._bytes > MAX_TOTAL_BYTES):
                _, dropped = self._data.popitem(last=False)
                self._bytes -= dropped.size

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)


_memory = _Memory()


def clear() -> None:
    """Forget every kept answer of this process (tests)."""
    _memory.clear()


# -- the dispatcher's side -------------------------------------------------------------------------


class _Meta:
    """Just enough of a request for the helpers that read ``META``."""

    __slots__ = ("META", "method")

    def __init__(self, environ: dict[str, Any]):
        self.META = environ
        self.method = environ.get("REQUEST_METHOD", "")


def _memo_key(environ: dict[str, Any]) -> tuple[tuple[str, ...], str] | None:
    """(the entry's key, the key's digest), or None when this request is not for here."""
    method = environ.get("REQUEST_METHOD", "")
    if method not in _METHODS or environ.get("HTTP_ACCEPT", "") not in _ACCEPTED:
        return None
    scheme, _, raw_key = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    raw_key = raw_key.strip()
    if not raw_key or " " in raw_key or len(raw_key) > 200:
        return None
    forwarded = environ.get("HTTP_X_FORWARDED_PROTO")
    if forwarded is not None and not is_trusted_proxy(environ.get("REMOTE_ADDR")):
        forwarded = None  # TrustedProxyHeadersMiddleware drops it
    body_digest = content_type = ""
    if method == "POST":
        body = _post_body(environ)
        if body is None:
            return None
        body_digest = hashlib.sha256(body).hexdigest()
        content_type = environ.get("CONTENT_TYPE", "")
    digest = authentication.digest_of(raw_key)
    key = (
        method,
        environ.get("SCRIPT_NAME", ""),
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
        environ.get("HTTP_HOST", ""),
        environ.get("SERVER_NAME", ""),
        environ.get("SERVER_PORT", ""),
        environ.get("wsgi.url_scheme", ""),
        forwarded or "",
        environ.get("HTTP_ACCEPT", ""),
        environ.get("HTTP_X_REQUESTED_WITH", ""),
        digest,
        content_type,
        body_digest,
    )
    return key, digest


def _post_body(environ: dict[str, Any]) -> bytes | None:
    """A small POST's body, read once and put back for the full path; None when the body is
    not a small one of known length (chunked, too large, unreadable): the full way, untouched."""
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return None
    length = environ.get("CONTENT_LENGTH") or ""
    if not length.isdigit() or int(length) > MAX_POST_BYTES:
        return None
    size = int(length)
    try:
        body = environ["wsgi.input"].read(size) if size else b""
    except Exception:  # a broken client connection: let the full path answer it
        return None
    environ["wsgi.input"] = io.BytesIO(body)
    return body if len(body) == size else None  # a short read: the full path sees the same


class ReadyResponses:
    """Serve kept answers; record the full path's answers (see the module)."""

    def __init__(self, handler: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]):
        self.handler = handler

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        found = _memo_key(environ)
        if found is None:
            return self.handler(environ, start_response)
        key, digest = found
        entry = _memory.get(key)
        if entry is not None:
            served = self._serve(environ, start_response, entry, digest)
            if served is not None:
                return served
        return self._record(environ, start_response, key, digest, entry)

    # -- a kept answer ---------------------------------------------------------------------------

    def _serve(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        entry: _Entry,
        digest: str,
    ) -> Iterable[bytes] | None:
        started = time.perf_counter()
        if entry.until is not None and time.time() >= entry.until:
            return None
        known = authentication.remembered(digest)
        if known is None:
            return None
        info, key_token, expiry = known
        if key_token is None or (expiry is not None and expiry <= time.time()):
            return None
        not_modified = none_match(_Meta(environ), entry.etag)  # type: ignore[arg-type]  # META
        variant = entry.variants.get(not_modified)
        if variant is None:
            return None
        names = list(entry.tokens)
        current = cache.get_many([*names, _EPOCH_TOKEN, _KEYS_TOKEN])
        if f"{current.get(_EPOCH_TOKEN)}.{current.get(_KEYS_TOKEN)}" != key_token:
            # A key was issued, changed or revoked since this one was verified: verify it
            # again (the full path then reads it from the database).
            authentication.forget_key(digest)
            return None
        for name in names:
            if current.get(name) != entry.tokens[name]:
                return None
        allowed, window_end = throttling.count(f"k{info.id}")
        if not allowed:
            environ[throttling.DECIDED] = (False, window_end)
            return self.handler(environ, start_response)
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else str(uuid.uuid4())
        headers = list(variant.headers)
        headers.insert(variant.request_id_at, ("X-Request-ID", request_id))
        debug = flow_logger.isEnabledFor(logging.DEBUG)
        if debug:
            _debug_started(environ, variant.observed, request_id)
        for call in variant.replay:
            call()
        start_response(variant.status, headers)
        _observe(environ, variant, headers, request_id, time.perf_counter() - started, debug)
        READY.hit.inc()
        return [variant.body]

    # -- the full path, recorded -------------------------------------------------------------------

    def _record(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        key: tuple[str, ...],
        digest: str,
        entry: _Entry | None,
    ) -> Iterable[bytes]:
        sent: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            sent["status"] = status
            sent["headers"] = headers
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        tokens: dict[str, Any] = {}
        recording = _Recording()
        token_reset = coherence.recorder.set(tokens)
        recording_reset = _recording.set(recording)
        try:
            response = self.handler(environ, capture)
        finally:
            coherence.recorder.reset(token_reset)
            _recording.reset(recording_reset)
        READY.miss.inc()
        try:
            self._keep(key, digest, entry, response, sent, tokens, recording)
        except Exception:  # keeping an answer must never fail the request
            logging.getLogger("cbpconfig.ready").exception("could not keep the answer")
        return response

    def _keep(
        self,
        key: tuple[str, ...],
        digest: str,
        entry: _Entry | None,
        response: Iterable[bytes],
        sent: dict[str, Any],
        tokens: dict[str, Any],
        recording: _Recording,
    ) -> None:
        if not recording.keep or not tokens or "status" not in sent:
            return
        if not isinstance(response, HttpResponse) or response.cookies:
            return
        status_code = response.status_code
        if status_code not in (200, 304) or any(v is None for v in tokens.values()):
            return
        etag = response.get("ETag")
        body = response.content
        if not etag or len(body) > MAX_BODY_BYTES:
            return
        known = authentication.remembered(digest)
        request = current_request()
        if known is None or known[1] is None or request is None:
            return
        headers = [(k, v) for k, v in sent["headers"]]
        at = next((i for i, (k, _) in enumerate(headers) if k.lower() == "x-request-id"), None)
        if at is None:
            return
        del headers[at]
        variant = _Variant(
            status=sent["status"],
            status_code=status_code,
            headers=headers,
            request_id_at=at,
            body=body,
            reason=response.reason_phrase,
            charset=response.charset or "",
            replay=tuple(recording.replay),
            observed=_observed(request, response, known[0]),
        )
        not_modified = status_code == 304
        if (
            entry is not None
            and entry.tokens == tokens
            and entry.etag == etag
            and entry.until == recording.until
        ):
            variants = dict(entry.variants)
            variants[not_modified] = variant
        else:
            variants = {not_modified: variant}
        _memory.put(
            key, _Entry(tokens=dict(tokens), etag=etag, variants=variants, until=recording.until)
        )


# -- metrics and the access line, as the full path records them -----------------------------------


def _observed(request: Any, response: HttpResponse, info: authentication.KeyInfo) -> _Observed:
    from django_prometheus.middleware import Metrics  # type: ignore[import-untyped]

    status = response.status_code
    charset = response.charset

    family = cbp_metrics.family_of(request.path)
    operation = cbp_metrics.operation_of(request, family)
    match = getattr(request, "resolver_match", None)
    view = (match.view_name if match is not None else None) or "<unnamed view>"
    from cbpconfig.logging import current_actor, institution_var

    institution = institution_var.get()
    label = institution or ("(platform)" if current_actor(request) else "(anonymous)")
    method = request.method
    transport = "https" if request.is_secure() else "http"
    m = Metrics.get_instance()
    templatename = None
    if callable(getattr(response, "render", None)) and hasattr(response, "template_name"):
        # Django ran the template-response middleware (a DRF Response is one).
        templatename = m.responses_by_templatename.labels(templatename=str(response.template_name))
    children = (
        m.requests_total,
        m.responses_total,
        m.requests_latency_before,
        m.requests_by_method.labels(method=method),
        m.requests_by_transport.labels(transport=transport),
        m.requests_body_bytes,
        m.requests_by_view_transport_method.labels(view=view, transport=transport, method=method),
        m.responses_by_status.labels(status=str(status)),
        m.responses_by_status_view_method.labels(status=str(status), view=view, method=method),
        m.responses_by_charset.labels(charset=str(charset)),
        m.responses_body_bytes,
        m.requests_latency_by_view_method.labels(view=view, method=method),
        m.requests_ajax,
        templatename,
    )
    return _Observed(
        view=view,
        operation=operation,
        family=family,
        institution=institution,
        institution_label=label,
        actor=info.actor_name,
        children=children,
    )


def _context(observed: _Observed, request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "actor": observed.actor,
        "institution": observed.institution,
    }


def _debug_started(environ: dict[str, Any], observed: _Observed, request_id: str) -> None:
    method = environ.get("REQUEST_METHOD", "")
    flow_logger.debug(
        "request started: %s %s",
        method,
        environ.get("PATH_INFO", ""),
        extra={
            **_context(observed, request_id),
            "cbp": {"event": "request_started", "method": method},
        },
    )


def _observe(
    environ: dict[str, Any],
    variant: _Variant,
    headers: list[tuple[str, str]],
    request_id: str,
    elapsed: float,
    debug: bool,
) -> None:
    """django-prometheus's two middlewares and RequestIdMiddleware, for one answer served."""
    try:
        observed = variant.observed
        (
            requests_total,
            responses_total,
            latency_before,
            by_method,
            by_transport,
            body_bytes_in,
            by_view,
            by_status,
            by_status_view,
            by_charset,
            body_bytes_out,
            latency_by_view,
            ajax,
            templatename,
        ) = observed.children
        requests_total.inc()
        by_method.inc()
        by_transport.inc()
        if environ.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest":
            ajax.inc()
        body_bytes_in.observe(int(environ.get("CONTENT_LENGTH") or 0))
        by_view.inc()
        if templatename is not None:
            templatename.inc()
        by_status.inc()
        by_status_view.inc()
        by_charset.inc()
        body_bytes_out.observe(len(variant.body))
        latency_by_view.observe(elapsed)
        status = variant.status_code
        received = _request_bytes(_Meta(environ))  # type: ignore[arg-type]  # reads META only
        sent = 17 + len(variant.reason) + len(variant.body) + 2
        for name, value in headers:
            sent += len(name) + len(value) + 4
        cbp_metrics.observe_served(
            observed.family,
            observed.operation,
            observed.institution_label,
            status,
            elapsed,
            received,
            sent,
        )
        duration_ms = round(elapsed * 1000, 2)
        if access_logger.isEnabledFor(logging.INFO):
            path = environ.get("PATH_INFO", "")
            method = environ.get("REQUEST_METHOD", "")
            access_logger.info(
                "%s %s %d %.1fms",
                method,
                path,
                status,
                duration_ms,
                extra={
                    **_context(observed, request_id),
                    "cbp": {
                        "event": "access",
                        "method": method,
                        "path": path,
                        "status": status,
                        "duration_ms": duration_ms,
                        "remote_addr": environ.get("REMOTE_ADDR"),
                    },
                },
            )
        slow = _slow_seconds()
        if elapsed > slow:
            performance_logger.warning(
                "slow request: %s %s took %.0f ms (threshold %.0f ms)",
                environ.get("REQUEST_METHOD", ""),
                environ.get("PATH_INFO", ""),
                elapsed * 1000,
                slow * 1000,
                extra={
                    **_context(observed, request_id),
                    "cbp": {"event": "slow_request", "duration_ms": duration_ms},
                },
            )
        cbp_metrics.check_worker_memory()
        if debug:
            performance_logger.debug(
                "request finished: %d in %.1f ms, %d statements, %.1f ms in the database",
                status,
                duration_ms,
                0,
                0.0,
                extra={
                    **_context(observed, request_id),
                    "cbp": {
                        "event": "request_finished",
                        "duration_ms": duration_ms,
                        "db_statements": 0,
                        "db_ms": 0.0,
                    },
                },
            )
        responses_total.inc()
        latency_before.observe(elapsed)
    except Exception:  # observability must never fail the request
        logging.getLogger("cbpconfig.metrics").exception("could not observe the request")


def _slow_seconds() -> float:
    from django.conf import settings

    return float(settings.CBP_SLOW_REQUEST_SECONDS)


class _Counters:
    def __init__(self) -> None:
        from prometheus_client import Counter

        metric = Counter(
            "cbp_ready_responses_total",
            "API-key hot reads by how they were answered: hit (a kept answer, served before "
            "Django and DRF) or miss (the full path answered; kept when it could be).",
            ["result"],
        )
        self.hit = metric.labels(result="hit")
        self.miss = metric.labels(result="miss")


READY = _Counters()


def enabled() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "CBP_READY_RESPONSES", True))
