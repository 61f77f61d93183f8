"""The Redis client the cache uses: one attempt per call, and a circuit breaker.

The cache is an accelerator: when Redis is slow or gone, every read falls through to the
database (django-redis's IGNORE_EXCEPTIONS turns a connection error into a miss). What must not
happen is that each request pays the socket timeout once per cache call, or that each failed
call writes a traceback. So:

- **One attempt.** Connections are built with ``Retry(NoBackoff(), 0)`` (settings.CACHES), so a
  call costs at most the socket timeout (0.5 s), never a stack of retries with backoff.
- **Circuit breaker.** The first connection error or timeout opens the circuit for
  ``circuit_cooldown`` seconds (5 by default): every call in that time fails at once, as a miss,
  without touching the network. Then one call is let through as a probe; if it succeeds the
  circuit closes, otherwise it stays open for another cooldown. A request therefore waits for a
  dead or paused Redis at most once per cooldown per process.
- **One log line per change of state.** ``cache unavailable`` (ERROR) when the circuit opens and
  ``cache available again`` (WARNING) when it closes, on the ``cbpconfig.cache`` logger, without a
  traceback; django-redis's own per-call logging is turned off (DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS).
  A circuit reopens at most once per cooldown, so even a flapping Redis writes a bounded number
  of lines.

The breaker sits on the redis-py client (``REDIS_CLIENT_CLASS``), below django-redis, so every
use of the cache's connection pool shares it: django-redis's cache calls, pipelines (the
throttle's counters) and ``get_redis_connection().ping()`` (the readiness probe). It is per
process and per connection pool; the state is guarded by a lock for threaded callers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("cbpconfig.cache")

DEFAULT_COOLDOWN = 5.0
_OUTAGE = (RedisConnectionError, RedisTimeoutError)


def _after_recovery() -> None:
    """A token bump may have been lost while Redis was unreachable: renew the epoch, so no
    answer cached before the outage is trusted again (cbpconfig.cache)."""
    from cbpconfig import cache as coherence

    try:
        coherence.renew_epoch()
    except Exception:  # the cache is an accelerator: never fail the caller for this
        logger.warning("could not renew the cache epoch after the outage", exc_info=False)


class CircuitOpen(RedisConnectionError):
    """Raised instead of calling Redis while the circuit is open (a ConnectionError, so
    django-redis treats it as any outage: a miss)."""


class CircuitBreaker:
    """closed → (failure) → open for ``cooldown`` s → one probe → closed, or open again."""

    def __init__(
        self,
        name: str,
        cooldown: float = DEFAULT_COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._open = False
        self._retry_at = 0.0
        self._probing = False
        self._opened_at = 0.0

    @property
    def is_open(self) -> bool:
        return self._open

    def before_call(self) -> bool:
        """Raise CircuitOpen while open; return True when this call is the probe."""
        if not self._open:
            return False
        with self._lock:
            if not self._open:
                return False
            if self._probing or self._clock() < self._retry_at:
                raise CircuitOpen(f"cache circuit open for {self.name}; not calling Redis")
            self._probing = True
            return True

    def succeeded(self) -> None:
        if not self._open:
            return
        with self._lock:
            if not self._open:
                return
            self._open = False
            self._probing = False
            down_for = self._clock() - self._opened_at
        logger.warning("cache available again at %s after %.1f s", self.name, down_for)
        _after_recovery()

    def failed(self, error: BaseException) -> None:
        with self._lock:
            was_open = self._open
            now = self._clock()
            self._open = True
            self._probing = False
            self._retry_at = now + self.cooldown
            if not was_open:
                self._opened_at = now
        if not was_open:
            logger.error(
                "cache unavailable at %s (%s: %s); answering from the database, "
                "next attempt in %.0f s",
                self.name,
                type(error).__name__,
                " ".join(str(error).split())[:200],
                self.cooldown,
            )

    def released(self) -> None:
        """The probe ended without telling whether Redis is up (an unrelated error)."""
        with self._lock:
            self._probing = False

    def call(
        self, fn: Callable[..., Any], *args: Any, operation: str = "command", **kwargs: Any
    ) -> Any:
        probe = self.before_call()
        started = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
        except _OUTAGE as exc:
            _observe(
                operation,
                started,
                "timeout" if isinstance(exc, RedisTimeoutError) else "connection",
            )
            self.failed(exc)
            raise
        except Exception:
            # Redis answered (a ResponseError, say) or the call failed before reaching it.
            if probe:
                self.released()
            raise
        except BaseException:
            if probe:
                self.released()
            raise
        _observe(operation, started, None)
        self.succeeded()
        return result


def _observe(operation: str, started: float, error: str | None) -> None:
    """The Redis dependency's metrics: every call timed, outages counted by kind."""
    from cbpconfig import metrics

    metrics.dependency_call("redis", operation, time.perf_counter() - started)
    if error is not None:
        metrics.dependency_error("redis", error)


_breakers_lock = threading.Lock()


def breaker_for(pool: Any, cooldown: float) -> CircuitBreaker:
    """The breaker of a connection pool (django-redis keeps one pool per URL per process)."""
    breaker = getattr(pool, "_cbp_breaker", None)
    if breaker is None:
        with _breakers_lock:
            breaker = getattr(pool, "_cbp_breaker", None)
            if breaker is None:
                kwargs = pool.connection_kwargs
                where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
                breaker = CircuitBreaker(f"redis://{where}/{kwargs.get('db', 0)}", cooldown)
                pool._cbp_breaker = breaker
    return breaker


class CircuitBreakerRedis(Redis):
    """redis.Redis whose commands and pipelines go through the pool's circuit breaker.

    django-redis builds it with ``REDIS_CLIENT_KWARGS``; ``circuit_cooldown`` (seconds) is ours.
    """

    def __init__(self, *args: Any, circuit_cooldown: float = DEFAULT_COOLDOWN, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.circuit = breaker_for(self.connection_pool, circuit_cooldown)

    def execute_command(self, *args: Any, **options: Any) -> Any:
        return self.circuit.call(super().execute_command, *args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = CircuitBreakerPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.circuit = self.circuit
        return pipe


class CircuitBreakerPipeline(Pipeline):
    circuit: CircuitBreaker

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        if not self.command_stack and not self.watching:
            return []
        result: list[Any] = self.circuit.call(super().execute, raise_on_error, operation="pipeline")
        return result
