"""The windows app's cache: the shared generation key per window, the in-process compiled
schedules, and invalidation after commit.

How a status answer costs one cache round trip and no query
-----------------------------------------------------------

- The shared cache (Redis) holds, per window code, a **generation** (``win:gen:<code>``): an
  opaque random value that every write of the window, its rules or its overrides replaces
  *after commit* (:func:`publish_change`).
- Each process keeps, per code, the window's state as read from the database (the
  :class:`~windows.scheduling.WindowSpec`, scope, calendar code) together with the generation
  it read *before* reading the database, and the compiled :class:`~windows.scheduling.Schedule`
  per calendar version token (``calendars.selectors``).
- A request reads the window's generation and its calendar's token with ONE ``get_many``.
  Same generation and a schedule for that token: answered in process. Otherwise the state is
  read again (three queries) and/or the calendar rebuilt (``calendars.selectors``).

Why no stale answer survives a commit: the generation is read before the database and a writer
replaces it after its commit, so a state read before a commit is always filed under an older
generation than the one the cache holds from then on. A reader that finds no generation adds
one (``add``: never overwriting a writer's) and reads it back. Generations expire after
``GENERATION_TTL`` seconds (a new random one just makes every process re-read once).
"""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django.db import transaction

from calendars.cache import version_key as calendar_version_key
from cbpconfig.lru import LRU

GENERATION_TTL = 24 * 3600
_PREFIX = "win:gen:"
MAX_WINDOWS_IN_PROCESS = 2048


def generation_key(code: str) -> str:
    """The shared-cache key of a window's generation."""
    return f"{_PREFIX}{code}"


def read_generation(code: str, calendar_code: str | None) -> tuple[str | None, str | None]:
    """One round trip: the window's generation and (when the calendar code is known from a
    previous read in this process) the calendar's member token, each None when not cached."""
    gkey = generation_key(code)
    if calendar_code is None:
        return cache.get(gkey), None
    ckey = calendar_version_key(calendar_code)
    found = cache.get_many([gkey, ckey])
    return found.get(gkey), found.get(ckey)


def ensure_generation(code: str) -> str | None:
    """After a miss: add a fresh generation unless a writer or another reader was first, and
    return the one the cache holds (None when the cache is unavailable)."""
    cache.add(generation_key(code), uuid.uuid4().hex, GENERATION_TTL)
    return cache.get(generation_key(code))


def publish_change(*codes: str) -> None:
    """Give each window a new generation (call after commit)."""
    values = {generation_key(c): uuid.uuid4().hex for c in codes if c}
    if values:
        cache.set_many(values, GENERATION_TTL)


def publish_after_commit(*codes: str) -> None:
    """Schedule :func:`publish_change` for after the current transaction commits; a rollback
    publishes nothing (and nothing needs publishing)."""
    codes_list = [c for c in codes if c]
    transaction.on_commit(lambda: publish_change(*codes_list))


# window code -> selectors._Compiled (state + generation + schedules per calendar token)
compiled_windows = LRU(MAX_WINDOWS_IN_PROCESS)


def clear_local() -> None:
    """Forget this process's compiled windows (tests and benchmarks; never needed for
    correctness, since every use checks the generation)."""
    compiled_windows.clear()
