"""The calendars app's cache keys and per-process memory, on :mod:`cbpconfig.cache`.

Each calendar code is a coherence name (:func:`name`); ``calendars.signals`` bumps it after
every committed change of the calendar or of one of its holidays. A calendar's **member
token** is ``"<code>:<token>"``; a joint calendar's token joins its members' tokens with ``+``
in the order asked. Built :class:`~calendars.businessdays.CalendarData` (per member) and
:class:`~calendars.businessdays.BusinessCalendar` (per joint set) are kept in this process
under those tokens, so they never need invalidating: a change makes new tokens.
"""

from __future__ import annotations

from collections.abc import Iterable

from cbpconfig.cache import Memory

__all__ = ["business_calendars", "clear_local", "joint_token", "member_token", "members", "name"]


def name(code: str) -> str:
    """The coherence name of one calendar's data."""
    return f"calendar:{code}"


def member_token(code: str, token: str) -> str:
    """``"<code>:<token>"``: names one state of one calendar's data."""
    return f"{code}:{token}"


def joint_token(tokens: Iterable[str]) -> str:
    return "+".join(tokens)


# (codes...) under their joint token -> BusinessCalendar
business_calendars = Memory(512)
# code under its member token -> CalendarData
members = Memory(1024)


def clear_local() -> None:
    """Forget this process's built calendars (tests and benchmarks; never needed for
    correctness, since tokens name immutable content)."""
    business_calendars.clear()
    members.clear()
