"""The flags app's cache: the compiled flag set kept per process under the ``"flags"``
coherence token (:mod:`cbpconfig.cache`), and waffle's own cache keys.

The hot read (every flag for one institution) costs one cache round trip: the token is read,
and this process's compiled copy is used while it was built under that token.
``flags.signals`` bumps the token after every committed change of a flag, its institutions or
the set of institutions, whatever the path (services, admin, waffle's commands, a shell).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from cbpconfig import cache as coherence

__all__ = ["NAME", "clear_local", "flush_waffle", "get_or_build"]

NAME = "flags"
T = TypeVar("T")

_memory = coherence.Memory(2)


def get_or_build(loader: Callable[[], T]) -> T:
    """The compiled flag set of the current token, from this process or `loader()`."""
    token = coherence.read([NAME]).token(NAME)
    value = _memory.get(NAME, token)
    if value is None:
        value = loader()
        _memory.put(NAME, token, value)
    return value


def clear_local() -> None:
    """Forget this process's copy (tests and benchmarks; never needed for correctness)."""
    _memory.clear()


def flush_waffle(flag_names: Iterable[str]) -> None:
    """Delete waffle's cached copies of these flags (and its all-flags key)."""
    from waffle.utils import get_cache as waffle_cache

    from flags.models import Flag

    keys: list[str] = []
    for flag_name in flag_names:
        keys.extend(Flag(name=flag_name).get_flush_keys())
    if keys:
        waffle_cache().delete_many(list(dict.fromkeys(keys)))
