"""Cache keys and entries of resolved configuration.

One **generation token** names the state of all configuration data. Every write to a
definition, a value or an institution replaces it (services.py, after commit), and every
cached answer carries the token it was computed under, so one change invalidates every
answer at once without enumerating keys. A reader fetches the token and its entry in one
MGET (one cache round trip per request): the entry is used only when its token is the
current one.

Entries hold the answer already encoded as JSON bytes plus the interval of instants
``[valid_from, valid_until)`` over which it stays true (between two ``effective_from``
values the answer cannot change). An answer cached for "now" is therefore used only while
now < ``valid_until`` and its TTL ends there too: a scheduled value takes effect at its
instant without any write.

Keys with per-institution content include the institution code; masked and clear answers
live under separate keys (and have different ETags).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache

GENERATION_KEY = "conf:gen"
# Upper bound on any entry's life: limits how long a stale entry could survive a cache outage
# that swallowed a generation bump (IGNORE_EXCEPTIONS turns failed writes into no-ops).
MAX_TTL_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached answer: the generation it was computed under, its validity interval
    (None = unbounded), its ETag, and its JSON body (None: the key resolves to nothing)."""

    generation: str
    valid_from: datetime | None
    valid_until: datetime | None
    etag: str
    body: bytes | None

    def covers(self, generation: str | None, at: datetime) -> bool:
        if generation is None or self.generation != generation:
            return False
        if self.valid_from is not None and at < self.valid_from:
            return False
        return self.valid_until is None or at < self.valid_until


def _mode(mask: bool) -> str:
    return "masked" if mask else "clear"


def _slots(base: str, at: datetime | None) -> list[str]:
    """Slots to look in: the answer computed at "now"; for an explicit ``at`` also the most
    recent explicit answer (any ``at`` in its interval may use it) and the one for exactly
    this ``at`` (repeated requests for one instant, interleaved with others)."""
    keys = [f"{base}:now"]
    if at is not None:
        keys.append(f"{base}:recent")
        keys.append(f"{base}:at:{at.isoformat()}")
    return keys


def institution_keys(code: str, mask: bool, at: datetime | None) -> list[str]:
    return _slots(f"conf:res:inst:{code}:{_mode(mask)}", at)


def key_keys(key: str, code: str | None, mask: bool, at: datetime | None) -> list[str]:
    return _slots(f"conf:res:key:{key}:{code or '-'}:{_mode(mask)}", at)


def lookup(keys: list[str]) -> tuple[str | None, list[Entry | None]]:
    """The current generation and the entries under ``keys``, in one round trip."""
    found = cache.get_many([GENERATION_KEY, *keys])
    return found.get(GENERATION_KEY), [found.get(k) for k in keys]


def current_generation(known: str | None) -> str:
    """The generation to tag a new entry with. When the token is missing (cache flushed or
    evicted), a fresh random one is installed: it can never equal a stale entry's token."""
    if known is not None:
        return known
    cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    return cache.get(GENERATION_KEY) or uuid.uuid4().hex


def store(keys: list[str], entry: Entry, ttl_seconds: float) -> None:
    ttl = min(float(MAX_TTL_SECONDS), ttl_seconds)
    if ttl > 0:
        if len(keys) == 1:
            cache.set(keys[0], entry, timeout=ttl)
        else:
            cache.set_many(dict.fromkeys(keys, entry), timeout=ttl)


def bump_generation() -> None:
    """Invalidate every cached configuration answer."""
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
