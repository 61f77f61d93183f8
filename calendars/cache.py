"""The calendars app's cache: keys, version tokens, the in-process LRUs and invalidation.

How a business-day answer stays fresh and cheap
------------------------------------------------

Every calendar has an internal ``data_version`` (``Calendar.data_version``, a change stamp that
only grows) that moves in the same transaction as any change of the calendar or of one of its
holidays (:mod:`calendars.signals`). A
calendar's **member token** is ``"<code>:<pk>.<data_version>"`` (the primary key makes a
calendar deleted and created again under the same code a different token); the **token** of
a joint calendar joins its members' tokens with ``+`` in the order asked
(``"TARGET2:1.1764158400000001+USFED:2.1764158400000123"``).

- The shared cache (Redis in production) holds, per code, the current member token
  (``cal:dv:<code>``), or the tombstone ``-`` for a code that does not exist. A hot request
  reads the tokens of all its calendars with ONE ``get_many``.
- Each process keeps an LRU of built :class:`~calendars.businessdays.BusinessCalendar`
  keyed by token (and one of per-member :class:`~calendars.businessdays.CalendarData`, so a
  joint calendar reuses members already loaded). A token names immutable content, so these
  LRUs never need invalidating: a change makes a new token and old entries age out.

Races, and why there is no stale answer after a commit
------------------------------------------------------

- Writers drop the key at once and *publish* after commit (:func:`invalidate`, called by the
  signal handlers in :mod:`calendars.signals` for every saved or deleted row;
  :func:`publish_versions` runs on ``transaction.on_commit``):
  they read the calendar row ``FOR UPDATE`` and ``set`` its token (or the tombstone) while
  holding the lock, so of two writers' publications the later one always carries the later
  version.
- Readers that missed the cache fill it with ``add`` (set only if absent), so a reader that
  read the database just before a commit cannot overwrite the writer's newer token.
- Version keys expire (``CBP_CALENDAR_VERSION_TTL``, default 600 s) as a last bound.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from cbpconfig.lru import LRU

TOMBSTONE = "-"
_PREFIX = "cal:dv:"


def version_ttl() -> int:
    return int(getattr(settings, "CBP_CALENDAR_VERSION_TTL", 600))


def version_key(code: str) -> str:
    """The shared-cache key holding a calendar's current member token."""
    return f"{_PREFIX}{code}"


def member_token(code: str, pk: int, data_version: int) -> str:
    """``"<code>:<pk>.<data_version>"``: names one state of one calendar's data."""
    return f"{code}:{pk}.{data_version}"


def joint_token(tokens: Iterable[str]) -> str:
    return "+".join(tokens)


# token of a (joint) calendar -> BusinessCalendar
business_calendars = LRU(512)
# member token -> CalendarData
members = LRU(1024)


def clear_local() -> None:
    """Forget this process's built calendars (tests and benchmarks; never needed for
    correctness, since tokens name immutable content)."""
    business_calendars.clear()
    members.clear()


def read_tokens(codes: list[str]) -> dict[str, str]:
    """One round trip: ``{code: member token or TOMBSTONE}`` for the codes the cache knows."""
    keys = [version_key(c) for c in codes]
    found = cache.get_many(keys)
    return {code: found[key] for code, key in zip(codes, keys, strict=True) if key in found}


def remember_tokens(tokens: dict[str, str]) -> None:
    """Fill the cache after a miss, never overwriting a writer's publication (``add``)."""
    ttl = version_ttl()
    for code, token in tokens.items():
        cache.add(version_key(code), token, ttl)


def publish_versions(codes: Iterable[str]) -> None:
    """Write the current tokens of ``codes`` to the cache (tombstone when gone).

    Run after commit (see :func:`invalidate`). The rows are locked while the cache is set, so a
    later writer (who needs the same lock to move ``data_version``) publishes after us.
    """
    from calendars.models import Calendar

    codes = sorted(set(codes))
    if not codes:
        return
    ttl = version_ttl()
    with transaction.atomic():
        rows = (
            Calendar.objects.select_for_update()
            .filter(code__in=codes)
            .order_by("code")
            .values_list("code", "pk", "data_version")
        )
        values = {version_key(c): TOMBSTONE for c in codes}
        for code, pk, data_version in rows:
            values[version_key(code)] = member_token(code, pk, data_version)
        cache.set_many(values, ttl)


def invalidate(code: str) -> None:
    """A calendar's data changed in the current transaction: drop its token from the shared
    cache now, and publish the new one once the transaction commits.

    Dropping it now makes readers fall back to the database until the commit (they refill
    with ``add``, which the publication then overwrites), and makes the change visible at
    once to code running inside the same transaction (a test wrapped in one never commits).
    A rollback publishes nothing; readers then refill the old token from the database.
    """
    cache.delete(version_key(code))
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(
        getattr(func, "cbp_calendar_publish", None) == code
        for _, func, _ in connection.run_on_commit
    ):
        # Already due for this transaction (an import saves hundreds of holidays): one
        # publication will do. A rolled-back savepoint drops its callbacks from this list, so
        # a pending one here always still runs.
        return

    def publish() -> None:
        publish_versions([code])

    publish.cbp_calendar_publish = code
    # robust: a failure here (database gone right after the commit) is logged, not raised
    # into a request whose change did commit; the key is already dropped, so readers fall
    # back to the database meanwhile.
    transaction.on_commit(publish, robust=True)
