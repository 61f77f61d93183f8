"""The one cache-coherence primitive: named generation tokens, bumped after commit.

Every cached answer of the service (a compiled window, a built business calendar, a resolved
configuration, the compiled flag set) is filed under the **token** of the data it was computed
from. A token is an opaque random value kept in the shared cache (Redis) under a **name**
(``"configuration"``, ``"flags"``, ``"calendar:TARGET2"``, ``"window:FEDWIRE"``). Whenever a
row behind a name changes, the name gets a new token *after the transaction commits*, so every
answer filed under the old token is never used again, on any worker, without enumerating keys.

How the pieces fit
------------------

- :func:`read` returns the current tokens of some names plus any other cache keys in ONE
  ``get_many`` (one round trip per request). A name the cache does not hold yet gets a fresh
  token installed with ``add`` (never overwriting a writer's) and read back — a second round
  trip, only on that cold path.
- Every token a reader sees is combined with the **epoch** (the name ``"*"``, read in the
  same ``get_many``): :func:`bump_all` changes the epoch and with it every token at once. Paths
  that change rows without model signals call it: ``restore``, ``dbrestore``, ``flush`` and
  every ``migrate`` (a data migration saves through historical models, whose signals no
  receiver of ours hears).
- :func:`bump` gives names a new token after the current transaction commits (at once in
  autocommit). Calls within one transaction are deduplicated: one cache write per transaction,
  whatever the number of rows saved. A rollback bumps nothing (and nothing needs bumping).
  Only public Django APIs are used (``transaction.on_commit``, ``in_atomic_block``).
- Each domain app connects ``post_save``, ``post_delete`` and ``m2m_changed`` of every model it
  owns to :func:`bump` in its ``signals.py``. Services never invalidate by hand; the admin, the
  API, commands, ``loaddata``, a shell and a restore all save rows and so fire the signals.
- :class:`Memory` is the per-process memory (an LRU) keyed by ``(key, token)``: an entry is
  used only while its token is current, so it never needs invalidating.

The guarantee
-------------

- **After a commit, on every worker**: the next request that starts after the writer's
  commit has returned sees the change. The bump happens before ``on_commit`` returns control
  to the writer, readers read the token before they read the database, and an answer computed
  from rows read before the commit is filed under a token that is no longer current.
- **Inside the writing transaction**: the writer reads its own writes. A name bumped in an
  open transaction reads as "no token" there, so its answers are computed from the database
  (uncommitted rows included) and never kept: a rollback, of the transaction or of a
  savepoint, leaves nothing behind.
- **During a Redis outage**: the cache client answers nothing (a miss); with no token nothing
  is trusted from memory or stored, so every answer is computed from the database — slower,
  never stale. When Redis answers again, the process that notices renews the epoch
  (:func:`renew_epoch`, called by ``cbpconfig.redis_client``), so a bump lost during the
  outage is covered; as a last bound every token lives ``CBP_CACHE_TOKEN_TTL`` (600 s by
  default: an expired token is replaced by a fresh one, at the cost of one rebuild).
- **In development without Redis** (local-memory cache): tokens live in each process, so a
  write is seen at once by the process that made it and by no other. Run one process there
  (``runserver`` is one); every other environment requires Redis.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Hashable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from cbpconfig.lru import LRU

__all__ = [
    "EPOCH",
    "Memory",
    "Snapshot",
    "bump",
    "bump_all",
    "forget",
    "read",
    "recorder",
    "renew_epoch",
    "token_key",
]

EPOCH = "*"
_PREFIX = "gen:"


def token_ttl() -> int:
    """Seconds a token lives in the shared cache; expiry only makes readers start a new one."""
    return int(getattr(settings, "CBP_CACHE_TOKEN_TTL", 600))


def token_key(name: str) -> str:
    """The shared-cache key of a name's token."""
    return f"{_PREFIX}{name}"


def _new_token() -> str:
    return uuid.uuid4().hex[:16]


# -- writers ---------------------------------------------------------------------------------


class _Batch:
    """The names bumped in one transaction of this thread, not yet published."""

    __slots__ = ("closed", "names")

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.closed = False

    def publish(self) -> None:
        # Several callbacks of one transaction may run; the first publishes every name.
        if self.closed:
            return
        self.closed = True
        _set_tokens(self.names)


_local = threading.local()


def _open_batch() -> _Batch | None:
    """This thread's batch, when it belongs to a transaction still open."""
    batch: _Batch | None = getattr(_local, "batch", None)
    if batch is None or batch.closed:
        return None
    if not transaction.get_connection().in_atomic_block:
        # Its transaction rolled back (callbacks dropped): forget it.
        _local.batch = None
        return None
    return batch


def _set_tokens(names: Iterable[str]) -> None:
    values = {token_key(name): _new_token() for name in names}
    if values:
        cache.set_many(values, token_ttl())


def bump(*names: str) -> None:
    """Give ``names`` new tokens once the current transaction commits (at once outside one)."""
    if not names:
        return
    if not transaction.get_connection().in_atomic_block:
        _set_tokens(names)
        return
    batch = _open_batch()
    if batch is None:
        batch = _local.batch = _Batch()
    batch.names.update(names)
    # One callback per call (a rolled-back savepoint drops its own); all but the first are
    # no-ops. robust: a cache failure after the commit must not fail the committed request.
    transaction.on_commit(batch.publish, robust=True)


def bump_all() -> None:
    """Invalidate every cached answer of every app (after commit). Hot reads go to the primary
    for a while too (cbpconfig.routers): writes made with an explicit database alias, such as a
    restore's, set no read-your-writes pin of their own."""
    from cbpconfig.routers import pin_primary

    transaction.on_commit(pin_primary, robust=True)
    bump(EPOCH)


def renew_epoch() -> None:
    """Invalidate every cached answer now, whatever the transaction (the cache client calls
    it when Redis answers again after an outage: bumps lost meanwhile are covered)."""
    _set_tokens([EPOCH])


def forget(*names: str) -> None:
    """Drop names' tokens now (always safe: a missing token is replaced by a fresh one).
    Used after a miss found no object, so made-up names leave no keys behind."""
    cache.delete_many([token_key(n) for n in names])


# -- readers ---------------------------------------------------------------------------------

# While set (cbpconfig.ready, around one request), every token read is written here: the
# shared-cache key of each name read and the raw value found (None: nothing may be kept).
recorder: ContextVar[dict[str, Any] | None] = ContextVar("cbp_token_recorder", default=None)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Tokens of some names and the values of the extra keys read with them. A token is None
    when nothing may be kept or trusted for the name: the cache is unavailable, or the name
    changed in this thread's open transaction."""

    tokens: dict[str, str | None]
    values: dict[str, Any]

    def token(self, name: str) -> str | None:
        return self.tokens[name]


def read(names: Sequence[str], keys: Sequence[str] = ()) -> Snapshot:
    """The current tokens of ``names`` and the values of ``keys``, in one round trip when
    every token is in the cache."""
    token_keys = [token_key(EPOCH), *(token_key(n) for n in names)]
    found = cache.get_many([*token_keys, *keys])
    missing = [k for k in token_keys if k not in found]
    if missing:
        found.update(_install(missing))
    epoch = found.get(token_keys[0])
    batch = _open_batch()
    tokens: dict[str, str | None] = {}
    for name, key in zip(names, token_keys[1:], strict=True):
        shared = found.get(key)
        if shared is None or epoch is None:
            tokens[name] = None
            continue
        if batch is not None and (name in batch.names or EPOCH in batch.names):
            # Changed in this open transaction: computed from the database, never kept.
            tokens[name] = None
            continue
        token = f"{epoch}.{shared}"
        tokens[name] = token
    recorded = recorder.get()
    if recorded is not None:
        _record(recorded, token_keys[0], epoch)
        for name, key in zip(names, token_keys[1:], strict=True):
            _record(recorded, key, None if tokens[name] is None else found.get(key))
    return Snapshot(tokens, {k: found[k] for k in keys if k in found})


def _record(recorded: dict[str, Any], key: str, value: Any) -> None:
    # A token that changed between two reads of one request: the answer may mix both.
    if key in recorded and recorded[key] != value:
        value = None
    recorded[key] = value


def _install(keys: list[str]) -> dict[str, Any]:
    ttl = token_ttl()
    for key in keys:
        cache.add(key, _new_token(), ttl)
    return cache.get_many(keys)


# -- per-process memory ----------------------------------------------------------------------


class Memory:
    """A per-process LRU of values computed under a token: ``get`` finds a value only under
    the token it was stored with, so a new token makes old entries unreachable (they age out).
    Nothing is stored or found without a token (cache unavailable)."""

    def __init__(self, maxsize: int):
        self._lru: LRU[Any] = LRU(maxsize)

    def get(self, key: Hashable, token: str | None) -> Any:
        if token is None:
            return None
        return self._lru.get((key, token))

    def put(self, key: Hashable, token: str | None, value: Any) -> None:
        if token is not None:
            self._lru.put((key, token), value)

    def clear(self) -> None:
        self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru)


def connect() -> None:
    """Bump the epoch after the commands that change rows without our models' signals:
    ``migrate`` and ``flush`` (``post_migrate``), django-dbbackup's ``dbrestore``."""
    from dbbackup.signals import post_restore
    from django.db.models.signals import post_migrate

    post_migrate.connect(_after_migrate, dispatch_uid="cbpconfig.cache.after_migrate")
    post_restore.connect(_after_restore, dispatch_uid="cbpconfig.cache.after_dbrestore")


def _after_migrate(sender: object, **kwargs: object) -> None:
    # Sent once per app config; once is enough.
    if getattr(sender, "label", None) == "cbpconfig":
        bump_all()


def _after_restore(sender: object, **kwargs: object) -> None:
    bump_all()
