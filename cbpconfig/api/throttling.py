"""Throttling per API key (or per user, or per address for anonymous callers).

A fixed-window counter shared by every worker in Redis. To keep the hot read paths at one
cache round trip, each worker counts locally and adds its count to Redis (INCRBY and EXPIRE,
pipelined: one round trip) every `batch` requests or every second, whichever comes first; the
batch is 1% of the limit (at most 20), so a small limit is counted exactly and a large one may
be overshot by at most workers × batch requests in a window. If Redis is down the request is
allowed and the error logged: throttling must not turn a cache outage into an API outage.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.throttling import BaseThrottle

from cbpconfig.api.permissions import key_of
from cbpconfig.audit import client_ip

if TYPE_CHECKING:  # DRF's views import this module (DEFAULT_THROTTLE_CLASSES)
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger("cbpconfig.throttle")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FLUSH_SECONDS = 1.0
_MAX_BATCH = 20


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, unit = rate.partition("/")
    return int(count), _UNITS[unit[0]]


class _Window:
    __slots__ = ("flushed_at", "known", "number", "pending")

    def __init__(self, number: int):
        self.number = number
        self.pending = 0
        self.known = 0  # the shared count as of the last flush
        self.flushed_at = 0.0


_windows: dict[str, _Window] = {}
_lock = threading.Lock()


def reset_local_counts() -> None:
    """Forget this worker's unflushed counts (tests)."""
    with _lock:
        _windows.clear()


# The WSGI environ key under which cbpconfig.ready hands its verdict (allowed, window end) to
# the full path, so a request is counted once whichever path answers it.
DECIDED = "cbp.throttle_decided"


def count(ident: str) -> tuple[bool, float]:
    """Count one request of ``ident``: (allowed, end of the current window as a Unix time)."""
    framework: dict[str, Any] = settings.REST_FRAMEWORK
    rate = (
        getattr(settings, "CBP_THROTTLE_RATE", None)
        or framework["DEFAULT_THROTTLE_RATES"]["client"]
    )
    limit, duration = parse_rate(rate)
    now = time.time()
    number = int(now // duration)
    window_end = (number + 1) * duration
    batch = max(1, min(_MAX_BATCH, limit // 100))
    with _lock:
        window = _windows.get(ident)
        if window is None or window.number != number:
            if len(_windows) > 50000:
                _windows.clear()
            window = _windows[ident] = _Window(number)
        window.pending += 1
        flush = window.pending >= batch or now - window.flushed_at >= _FLUSH_SECONDS
        pending = window.pending
        if flush:
            window.pending = 0
            window.flushed_at = now
    if flush:
        try:
            total = _add(f"throttle:{ident}:{number}", pending, duration)
        except (RedisConnectionError, RedisTimeoutError):
            # A cache outage must not refuse requests; the cache client's circuit breaker
            # logs the outage once (cbpconfig.redis_client), so nothing more here.
            return True, window_end
        except Exception:
            logger.warning("throttle counter failed; request allowed", exc_info=True)
            return True, window_end
        with _lock:
            window.known = total
        return total <= limit, window_end
    return window.known + pending <= limit, window_end


def _add(name: str, amount: int, duration: int) -> int:
    if getattr(settings, "CBP_CACHE_IS_REDIS", False):
        from django_redis import get_redis_connection

        prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
        full = f"{prefix}:{name}"
        pipe = get_redis_connection("default").pipeline(transaction=False)
        pipe.incrby(full, amount)
        pipe.expire(full, duration + 1)
        return int(pipe.execute()[0])
    cache.add(name, 0, duration + 1)
    try:
        return cache.incr(name, amount)
    except ValueError:
        cache.set(name, amount, duration + 1)
        return amount


class ClientRateThrottle(BaseThrottle):
    window_end: float = 0.0

    def get_ident_key(self, request: Request) -> str:
        key = key_of(request)
        if key is not None:
            return f"k{key.id}"
        user = request.user
        if user is not None and user.is_authenticated:
            return f"u{user.pk}"
        return f"a{client_ip(request)}"

    def allow_request(self, request: Request, view: APIView) -> bool:
        decided = request.META.pop(DECIDED, None)
        if decided is not None:
            # The ready-response path (cbpconfig.ready) counted this request already.
            allowed, window_end = decided
            self.window_end = float(window_end)
            return bool(allowed)
        allowed, self.window_end = count(self.get_ident_key(request))
        return allowed

    def wait(self) -> float:
        return max(0.0, self.window_end - time.time())
