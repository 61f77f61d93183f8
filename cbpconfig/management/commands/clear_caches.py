"""`manage.py clear_caches`: make every worker recompute every cached answer from the database.

Run it after any change made below Django, which fires no model signal and so bumps no cache
token: a point-in-time recovery with pgBackRest, a pg_restore by hand, SQL typed into psql.
(`restore` and `dbrestore` renew the epoch themselves.) It renews the cache epoch
(cbpconfig.cache.renew_epoch: every token, on every worker, changes at once; per-process
memories are keyed by token, so their entries are never used again) and deletes django-waffle's
own flag cache, which is not token-keyed. Rows are untouched, so nothing goes to the audit log.

Exit 1 with a one-line reason when the shared cache does not answer: an epoch that could not be
renewed must not be reported as renewed (django-redis ignores errors by design).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.management.base import CommandError

from cbpconfig import cache as coherence
from cbpconfig.management.base import OperationsCommand, require_shared_cache


class Command(OperationsCommand):
    help = (
        "Invalidate every cached answer on every worker (renew the cache epoch, drop waffle's "
        "flag cache): after a point-in-time recovery or any change made below Django."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        require_shared_cache()
        key = coherence.token_key(coherence.EPOCH)
        before = cache.get(key)
        coherence.renew_epoch()
        after = cache.get(key)
        if after is None or after == before:
            raise CommandError("the cache did not take the new epoch: nothing was invalidated")
        dropped = 0
        if hasattr(cache, "delete_pattern"):  # django-redis
            dropped = cache.delete_pattern(f"{settings.WAFFLE_CACHE_PREFIX}*")
        scope = (
            "every worker"
            if getattr(settings, "CBP_CACHE_IS_REDIS", False)
            else "this process only (local-memory cache)"
        )
        self.stdout.write(f"cache epoch renewed for {scope}; {dropped} waffle cache key(s) deleted")
