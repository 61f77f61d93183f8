"""Optimistic concurrency for every versioned object.

A write locks the row (SELECT ... FOR UPDATE), compares the caller's expected version with the
stored one and bumps it in the same transaction, so of two writers holding the same version
exactly one wins and the other gets StaleVersion (HTTP 412), even when they arrive at once.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models

_M = TypeVar("_M", bound=models.Model)


class StaleVersion(Exception):
    """The caller's If-Match / form version is not the stored version."""

    def __init__(self, expected: int, current: int):
        self.expected = expected
        self.current = current
        super().__init__(
            f"version {expected} is stale: the object is at version {current}; "
            "fetch it again and retry"
        )


def lock(
    queryset: models.QuerySet[_M], *, expected_version: int | None = None, **lookup: Any
) -> _M:
    """Fetch one row for update and check the expected version (None: no check).
    Must be called inside transaction.atomic()."""
    obj = queryset.select_for_update().get(**lookup)
    check_version(obj, expected_version)
    return obj


def check_version(obj: Any, expected_version: int | None) -> None:
    if expected_version is not None and obj.version != expected_version:
        raise StaleVersion(expected_version, obj.version)


def bump(obj: Any) -> None:
    """Advance the version of a locked object before saving it."""
    obj.version = (obj.version or 0) + 1
