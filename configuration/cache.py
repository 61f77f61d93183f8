"""Cache keys and entries of resolved configuration.

One coherence name, ``"configuration"`` (:mod:`cbpconfig.cache`), covers all configuration
data: ``configuration.signals`` bumps it after every committed change of a definition, a value
or an institution, and every cached answer carries the token it was computed under, so one
change invalidates every answer at once without enumerating keys. A reader fetches the token
and its entries in one round trip: an entry is used only when its token is the current one.

Entries hold the answer already encoded as JSON bytes plus the interval of instants
``[valid_from, valid_until)`` over which it stays true (between two ``effective_from``
values the answer cannot change). An answer cached for "now" is therefore used only while
now < ``valid_until`` and its TTL ends there too: a scheduled value takes effect at its
instant without any write.

Keys with per-institution content include the institution code; masked and clear answers
live under separate keys (and have different ETags).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache

from cbpconfig import cache as coherence

NAME = "configuration"
# Upper bound on any entry's life: limits how long a stale entry could survive a cache outage
# that swallowed a token bump (IGNORE_EXCEPTIONS turns failed writes into no-ops).
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
    """The current token (None: cache unavailable) and the entries under ``keys``, in one
    round trip."""
    snapshot = coherence.read([NAME], keys)
    return snapshot.token(NAME), [snapshot.values.get(k) for k in keys]


def store(keys: list[str], entry: Entry, ttl_seconds: float) -> None:
    ttl = min(float(MAX_TTL_SECONDS), ttl_seconds)
    if ttl > 0:
        if len(keys) == 1:
            cache.set(keys[0], entry, timeout=ttl)
        else:
            cache.set_many(dict.fromkeys(keys, entry), timeout=ttl)
