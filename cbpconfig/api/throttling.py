"""Throttling per API key (or per user, or per address for anonymous callers).

A fixed one-window counter costs one Redis round trip (INCR and EXPIRE pipelined) so it stays
cheap on the hot read paths. If Redis is down the request is allowed (and the error logged):
throttling must not turn a cache outage into an API outage.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from cbpconfig.api.permissions import key_of
from cbpconfig.audit import client_ip

logger = logging.getLogger("cbpconfig.throttle")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, unit = rate.partition("/")
    return int(count), _UNITS[unit[0]]


class ClientRateThrottle(BaseThrottle):
    def get_ident_key(self, request) -> str:
        key = key_of(request)
        if key is not None:
            return f"k{key.id}"
        user = request.user
        if user is not None and user.is_authenticated:
            return f"u{user.pk}"
        return f"a{client_ip(request)}"

    def allow_request(self, request, view) -> bool:
        rate = (
            getattr(settings, "CBP_THROTTLE_RATE", None)
            or settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["client"]
        )
        self.num_requests, self.duration = parse_rate(rate)
        window = int(time.time() // self.duration)
        self.window_end = (window + 1) * self.duration
        name = f"throttle:{self.get_ident_key(request)}:{window}"
        try:
            count = self._increment(name)
        except Exception:  # a cache outage must not refuse requests
            logger.warning("throttle counter unavailable; request allowed", exc_info=True)
            return True
        return count <= self.num_requests

    def _increment(self, name: str) -> int:
        if getattr(settings, "CBP_CACHE_IS_REDIS", False):
            from django_redis import get_redis_connection

            prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
            full = f"{prefix}:{name}"
            pipe = get_redis_connection("default").pipeline(transaction=False)
            pipe.incr(full)
            pipe.expire(full, self.duration + 1)
            return int(pipe.execute()[0])
        cache.add(name, 0, self.duration + 1)
        try:
            return cache.incr(name)
        except ValueError:
            cache.set(name, 1, self.duration + 1)
            return 1

    def wait(self):
        return max(0.0, self.window_end - time.time())
