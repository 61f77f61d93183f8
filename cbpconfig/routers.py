"""Read scaling on PostgreSQL streaming replication: the hot reads go to a replica.

Installed (settings.DATABASE_ROUTERS) only when ``DATABASE_REPLICA_URL`` names a replica (the
``replica`` alias); without it every query goes to ``default`` and this module is never loaded.

Which reads go to the replica
-----------------------------

A query goes to the replica only when every one of these holds, else to the primary:

1. It is made while serving a **hot read**: ``GET``/``HEAD`` of a computed answer
   (business days, sessions, status, resolved configuration, flag evaluation) or an OFREP
   evaluation (``POST`` that writes nothing). Everything else — writes, the reads of a request
   that writes (``If-Match`` must compare with the primary's row), lists, the admin, the audit
   log, management commands — reads the primary.
2. It is not inside a transaction on the primary (a transaction reads its own writes).
3. **No write is pinned** (read-your-writes): every write the ORM routes (``db_for_write``, any
   caller, any worker, API, admin or command) sets a short-lived marker in the shared cache
   when its transaction commits, before the commit's cache bump; while the marker lives
   (``CBP_REPLICA_PIN_SECONDS``, 5 s by default, counted from the commit) **every** hot read, on
   every worker, goes to the primary. So the caller who just wrote reads its write — and so does
   everyone else. The pin is global rather than per caller on purpose: the shared cache files
   answers under generation tokens that a write bumps after its commit (cbpconfig.cache); a
   reader that saw the new token but read a replica that has not replayed the commit yet would
   file the old state under the new token, for every caller, until the next change. The marker
   is checked before each replica query (queries that feed a cached answer run after the token
   read), and a request that finds it stays on the primary. A cache that does not answer (no
   marker can be seen, the epoch token is missing) also means the primary.
4. **The replica is caught up**: at most once a second per process the router reads the
   primary's current WAL position and then asks the replica whether it has replayed up to it
   (or has been promoted). A replica that is behind, unreachable or unknown is not used until a
   later check finds it caught up. Together with the pin this bounds what the replica can miss:
   every commit older than the last check (≤ 1 s) is on it, every newer one is pinned.

Writes the ORM does not route (``QuerySet.using(...)``, raw SQL, a database-level restore, a
point-in-time recovery) set no pin; the caught-up check covers them from its next run on. The
``restore``/``dbrestore`` commands and ``clear_caches`` renew the cache epoch.

The writer never needs a cookie or header: the marker lives in the cache every worker shares.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model

logger = logging.getLogger("cbpconfig.db")

REPLICA = "replica"
PIN_KEY = "db:primary-pin"
CHECK_INTERVAL = 1.0  # seconds between caught-up checks, per process

# The computed answers (API.md) and OFREP's evaluation, with or without a trailing slash.
_HOT_READS = re.compile(
    r"^/api/v1/(?:"
    r"calendars/[^/]+/business-days(?:/[a-z]+)?"
    r"|windows/[^/]+/(?:sessions|status)"
    r"|institutions/[^/]+/configuration"
    r"|configurations/[^/]+/resolve"
    r"|flags/evaluate"
    r")/?$"
)
_OFREP = re.compile(r"^/ofrep/v1/evaluate/flags(?:/[^/]+)?/?$")


def pin_seconds() -> float:
    return float(getattr(settings, "CBP_REPLICA_PIN_SECONDS", 5))


def is_hot(method: str, path: str) -> bool:
    """A request whose reads may go to the replica."""
    if method in ("GET", "HEAD"):
        return bool(_HOT_READS.match(path))
    return method == "POST" and bool(_OFREP.match(path))


# -- the request being served (set from request_started, per thread/context) ----------------


@dataclass
class _Request:
    hot: bool
    primary: bool = False  # sticky: once a query of this request went to the primary
    replica_queries: int = 0


_request: contextvars.ContextVar[_Request | None] = contextvars.ContextVar(
    "cbp_db_request", default=None
)


def _started(
    sender: object,
    environ: Mapping[str, Any] | None = None,
    scope: Mapping[str, Any] | None = None,
    **kwargs: object,
) -> None:
    if environ is not None:
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
    elif scope is not None:
        method, path = scope.get("method", ""), scope.get("path", "")
    else:
        method, path = "", ""
    _request.set(_Request(hot=is_hot(method.upper(), path)))


def _finished(sender: object, **kwargs: object) -> None:
    _request.set(None)


def connect() -> None:
    """Follow requests (idempotent). Called when the router is built; the app's ready() may call
    it earlier so that even a process's first request is routed."""
    request_started.connect(_started, dispatch_uid="cbpconfig.routers.started")
    request_finished.connect(_finished, dispatch_uid="cbpconfig.routers.finished")


# -- the pin (read-your-writes) ---------------------------------------------------------------


class _Pending:
    """The after-commit pin of one transaction of this thread (one cache write, however many
    rows it saves; a rolled-back savepoint drops its own callback, hence one per call)."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def publish(self) -> None:
        if not self.done:
            self.done = True
            pin_primary()


_local = threading.local()


def pin_primary() -> None:
    """Send every hot read, on every worker, to the primary for CBP_REPLICA_PIN_SECONDS."""
    cache.set(PIN_KEY, 1, max(1, round(pin_seconds())))


def _pin_for_write() -> None:
    primary = connections[DEFAULT_DB_ALIAS]
    if not primary.in_atomic_block:
        pin_primary()  # autocommit: the write commits as it runs; pinned before it does
        return
    # Registered before the save's own signals register the cache bump, so the pin is in the
    # cache before the new token is; it lasts CBP_REPLICA_PIN_SECONDS from the commit.
    pending: _Pending | None = getattr(_local, "pending", None)
    if pending is None or pending.done:
        pending = _local.pending = _Pending()
    transaction.on_commit(pending.publish, robust=True)


def pinned() -> bool:
    """True while a write is pinned, or when the cache cannot tell (unreachable, cold)."""
    from cbpconfig.cache import EPOCH, token_key

    epoch = token_key(EPOCH)
    found = cache.get_many([PIN_KEY, epoch])
    return PIN_KEY in found or epoch not in found


# -- is the replica caught up? ----------------------------------------------------------------


class _Replica:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.checked_at = float("-inf")
        self.caught_up = False
        self.reason = "not checked yet"


_replica = _Replica()


def _lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def check_replica() -> tuple[bool, str]:
    """(caught up, why not): the replica has replayed the primary's WAL as of now, or has been
    promoted. Never raises."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            target = _lsn(cursor.fetchone()[0])
    except Exception as exc:
        return False, f"primary unavailable ({type(exc).__name__})"
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")
            in_recovery, replayed = cursor.fetchone()
    except Exception as exc:
        connections[REPLICA].close()
        return False, f"replica unavailable ({type(exc).__name__})"
    if not in_recovery:
        return True, "promoted"
    if replayed is None or _lsn(replayed) < target:
        return (
            False,
            f"replica behind ({replayed or 'nothing'} < {target >> 32:X}/{target & 0xFFFFFFFF:X})",
        )
    return True, "caught up"


def replica_caught_up() -> bool:
    """The latest check's verdict, re-checked when older than CHECK_INTERVAL."""
    now = time.monotonic()
    if now - _replica.checked_at < CHECK_INTERVAL:
        return _replica.caught_up
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return False  # never query inside someone's transaction
    if not _replica.lock.acquire(blocking=False):
        return _replica.caught_up  # another thread is checking
    try:
        caught_up, reason = check_replica()
        if caught_up != _replica.caught_up:
            if caught_up:
                logger.info("reading hot answers from the replica again (%s)", reason)
            else:
                logger.warning("not reading from the replica: %s", reason)
        _replica.caught_up, _replica.reason = caught_up, reason
        _replica.checked_at = time.monotonic()
    finally:
        _replica.lock.release()
    return _replica.caught_up


# -- the router -------------------------------------------------------------------------------


class PrimaryReplicaRouter:
    """Writes, migrations and most reads on ``default``; hot reads on ``replica`` (see above)."""

    def __init__(self) -> None:
        connect()

    def db_for_read(self, model: type[Model], **hints: object) -> str:
        request = _request.get()
        if request is None or not request.hot or request.primary:
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        if not replica_caught_up() or pinned():
            request.primary = True
            return DEFAULT_DB_ALIAS
        request.replica_queries += 1
        return REPLICA

    def db_for_write(self, model: type[Model], **hints: object) -> str:
        _pin_for_write()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: object) -> bool:
        return True  # the replica holds the primary's rows

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: object
    ) -> bool:
        return db == DEFAULT_DB_ALIAS
