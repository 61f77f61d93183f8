"""The windows app's cache keys and per-process memory, on :mod:`cbpconfig.cache`.

Each window code is a coherence name (:func:`name`); ``windows.signals`` bumps it after every
committed change of the window, its rules or its overrides. A status or sessions request reads
the window's token and its calendar's token in ONE round trip
(:func:`windows.selectors.compiled_window`); this process keeps, per window, the state read
from the database under the window's token and, inside it, the compiled
:class:`~windows.scheduling.Schedule` per calendar token.
"""

from __future__ import annotations

from cbpconfig.cache import Memory

__all__ = ["MAX_WINDOWS_IN_PROCESS", "clear_local", "compiled_windows", "name"]

MAX_WINDOWS_IN_PROCESS = 2048


def name(code: str) -> str:
    """The coherence name of one window's data (the window, its rules, its overrides)."""
    return f"window:{code}"


# window code under its token -> selectors._Entry (state + schedules per calendar token)
compiled_windows = Memory(MAX_WINDOWS_IN_PROCESS)


def clear_local() -> None:
    """Forget this process's compiled windows (tests and benchmarks; never needed for
    correctness, since every use checks the token)."""
    compiled_windows.clear()
