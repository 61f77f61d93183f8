"""Caching of the compiled flag definitions, and its invalidation.

The hot read (every flag for one institution) must cost at most one cache round trip. Each
process keeps the compiled flag set in memory, tagged with a *generation* token that lives in
the shared cache; a request reads the token (one GET) and uses its in-process copy only when
the tokens match. A committed change writes a new token, so every server sees a kill switch on
its next request.

Invalidation happens twice: once at once (inside the writing transaction, so no reader keeps
using a copy that predates the write; other connections can only read committed rows, so what
they load is never uncommitted) and again after commit (so whatever was loaded while the
transaction was open is thrown away). A process never stores a copy while its own connection
has an un-run flag invalidation pending: it could contain uncommitted rows that are then
rolled back. waffle's own per-flag cache keys are flushed after commit as well.

If the cache is unreachable (django-redis ignores the error and returns None) nothing is
stored and every request loads from the database: slower, never stale.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

GENERATION_KEY = "flags:generation"

# A safety net for a lost invalidation (the cache was down while a writer committed).
DEFAULT_LOCAL_TTL_SECONDS = 30.0

T = TypeVar("T")

_lock = threading.Lock()
_local: tuple[str, float, object] | None = None  # (generation, loaded_at, value)


def _local_ttl() -> float:
    return float(getattr(settings, "CBP_FLAGS_LOCAL_TTL_SECONDS", DEFAULT_LOCAL_TTL_SECONDS))


def _new_token() -> str:
    return uuid.uuid4().hex


def current_generation() -> str | None:
    """The shared generation token (one GET); None when the cache is unavailable."""
    generation = cache.get(GENERATION_KEY)
    if generation is not None:
        return generation
    # First use, eviction or a flushed cache: start a generation (a second round trip only
    # on this rare path). add() so two processes starting at once agree on one token.
    token = _new_token()
    if cache.add(GENERATION_KEY, token, timeout=None):
        return token
    return cache.get(GENERATION_KEY)


def get_or_build(loader: Callable[[], T]) -> T:
    """The compiled flag set of the current generation, from this process or `loader()`."""
    global _local
    generation = current_generation()
    local = _local
    if (
        local is not None
        and generation is not None
        and local[0] == generation
        and time.monotonic() - local[1] < _local_ttl()
    ):
        return local[2]  # type: ignore[return-value]
    value = loader()
    if generation is not None and not _invalidation_pending():
        with _lock:
            _local = (generation, time.monotonic(), value)
    return value


def drop_local() -> None:
    """Forget this process's copy (the next request reloads)."""
    global _local
    with _lock:
        _local = None


def _bump_generation() -> None:
    cache.set(GENERATION_KEY, _new_token(), timeout=None)


class _AfterCommit:
    """The on_commit half of an invalidation; remembers whether it has run."""

    def __init__(self, flag_names: tuple[str, ...]):
        self.flag_names = flag_names
        self.done = False

    def __call__(self) -> None:
        self.done = True
        _bump_generation()
        drop_local()
        flush_waffle(self.flag_names)


def _invalidation_pending() -> bool:
    pending = connection.run_on_commit
    if not pending:
        return False
    return any(isinstance(cb, _AfterCommit) and not cb.done for _, cb, _ in pending)


def invalidate(flag_names: Iterable[str] = ()) -> None:
    """Invalidate the flag caches of every process: now, and again after commit.

    Call it inside the transaction that changes flags (or institutions)."""
    drop_local()
    _bump_generation()
    transaction.on_commit(_AfterCommit(tuple(flag_names)))


def flush_waffle(flag_names: Iterable[str]) -> None:
    """Delete waffle's cached copies of these flags (and its all-flags key)."""
    from waffle.utils import get_cache as waffle_cache

    from flags.models import Flag

    keys: list[str] = []
    for name in flag_names:
        keys.extend(Flag(name=name).get_flush_keys())
    if keys:
        waffle_cache().delete_many(list(dict.fromkeys(keys)))


# -- signal receivers (connected in FlagsConfig.ready) -----------------------------------------


def flag_saved_or_deleted(sender, instance, **kwargs) -> None:
    invalidate([instance.name])


def flag_institutions_changed(sender, instance, action, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        # `instance` is a flag, or an institution when changed from the other side.
        invalidate([instance.name] if hasattr(instance, "everyone") else [])


def institution_saved(sender, instance, created, **kwargs) -> None:
    # The compiled set holds every institution code (evaluation needs no query), so a new
    # institution starts a new generation; other changes do not affect evaluation.
    if created:
        invalidate()


def institution_deleted(sender, instance, **kwargs) -> None:
    invalidate()
