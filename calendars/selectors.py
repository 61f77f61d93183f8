"""Reads of the calendars app, above all the hot one: a (joint) business calendar and its
version token.

For other apps (windows)::

    from calendars.selectors import CalendarNotFound, business_calendar, calendar_version_token

    cal, token = business_calendar(["TARGET2"])        # BusinessCalendar, "TARGET2:<pk>.<stamp>"
    cal, token = business_calendar(["TARGET2", "USFED"])  # joint: "TARGET2:..+USFED:.."
    token = calendar_version_token(["TARGET2"])        # the token alone (no calendar built)

A caller that reads the shared cache itself (to batch keys into its own ``get_many``) finds a
calendar's member token under ``calendars.cache.version_key(code)``; the value
``calendars.cache.TOMBSTONE`` there means "no such calendar", and a missing key means "ask
:func:`business_calendar`".

The token changes whenever the calendar or any of its holidays changes (after commit), and
never comes back to an earlier value for different content, so it is a safe part of any cache
key for answers computed from the calendar. On a warm cache a call costs one cache round trip
(``get_many``) and no query; on a miss, at most two queries (calendars, then holidays of the
members not yet built in this process). See :mod:`calendars.cache` for the design.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.db.models import Max, QuerySet

from calendars import metrics
from calendars.businessdays import BusinessCalendar, CalendarData
from calendars.cache import (
    TOMBSTONE,
    business_calendars,
    joint_token,
    member_token,
    members,
    read_tokens,
    remember_tokens,
)
from calendars.models import Calendar, Holiday

__all__ = [
    "CalendarNotFound",
    "business_calendar",
    "calendar_data_version",
    "calendar_version_token",
    "calendars_with_holidays_until",
    "holidays_of",
]


class CalendarNotFound(Calendar.DoesNotExist):
    """One or more calendar codes do not exist (a 404 through the API exception handler)."""

    def __init__(self, codes: Sequence[str]):
        self.codes = tuple(codes)
        super().__init__(f"Unknown calendar: {', '.join(self.codes)}.")


def _unique(codes: Sequence[str]) -> list[str]:
    if isinstance(codes, str):  # a single code passed bare: a common slip, accept it
        codes = [codes]
    seen: dict[str, None] = {}
    for code in codes:
        seen.setdefault(code, None)
    if not seen:
        raise CalendarNotFound(["(none)"])
    return list(seen)


def calendar_data_version(calendar: Calendar) -> str:
    """The member token of a loaded calendar row, ``"<code>:<pk>.<data_version>"`` (no query).

    ``data_version`` is bumped by the services on every change of the calendar or of its
    holidays; it is not the API ``version`` (which counts changes of the calendar object only).
    """
    return member_token(calendar.code, calendar.pk, calendar.data_version)


def _db_rows(codes: list[str]) -> dict[str, tuple[int, list[int], int]]:
    rows = Calendar.objects.filter(code__in=codes).values_list(
        "code", "pk", "weekend_days", "data_version"
    )
    return {code: (pk, weekend, dv) for code, pk, weekend, dv in rows}


def calendar_version_token(codes: Sequence[str]) -> str:
    """The version token of one calendar or a joint calendar (codes in the order given).

    One cache ``get_many``; the database (one query) only for codes the cache does not know.
    Raises :class:`CalendarNotFound` for an unknown code.
    """
    codes = _unique(codes)
    found = read_tokens(codes)
    missing = [c for c in codes if c not in found]
    if missing:
        rows = _db_rows(missing)
        fresh = {
            c: member_token(c, rows[c][0], rows[c][2]) if c in rows else TOMBSTONE for c in missing
        }
        remember_tokens(fresh)
        found.update(fresh)
    unknown = [c for c in codes if found[c] == TOMBSTONE]
    if unknown:
        raise CalendarNotFound(unknown)
    return joint_token(found[c] for c in codes)


def business_calendar(codes: Sequence[str]) -> tuple[BusinessCalendar, str]:
    """The (joint) business calendar of ``codes`` and its version token.

    Hot path: one cache ``get_many`` for the members' tokens, then this process's LRU of built
    calendars — no query. Otherwise one query for the calendars (their current versions and
    weekends) and one for the holidays of members not built yet here; the calendar is then
    keyed by the token read from the database, so its content and token always agree.
    Raises :class:`CalendarNotFound` for an unknown code.
    """
    codes = _unique(codes)
    found = read_tokens(codes)
    if len(found) == len(codes):
        unknown = [c for c in codes if found[c] == TOMBSTONE]
        if unknown:
            raise CalendarNotFound(unknown)
        token = joint_token(found[c] for c in codes)
        cal = business_calendars.get(token)
        if cal is not None:
            metrics.CACHE_HIT.inc()
            return cal, token
    metrics.CACHE_MISS.inc()
    return _load(codes, found)


def _load(codes: list[str], cached_tokens: dict[str, str]) -> tuple[BusinessCalendar, str]:
    # Calendars first, holidays second: if a commit lands in between, the holidays are newer
    # than the token we label them with — harmless, since the next request carries the newer
    # token and builds again. The other order could label old holidays with a new token.
    rows = _db_rows(codes)
    unknown = [c for c in codes if c not in rows]
    if unknown:
        remember_tokens({c: TOMBSTONE for c in unknown if c not in cached_tokens})
        raise CalendarNotFound(unknown)
    tokens = {c: member_token(c, rows[c][0], rows[c][2]) for c in codes}
    remember_tokens({c: t for c, t in tokens.items() if cached_tokens.get(c) != t})

    token = joint_token(tokens[c] for c in codes)
    cal = business_calendars.get(token)
    if cal is not None:
        return cal, token

    datas: dict[str, CalendarData] = {}
    need: dict[int, str] = {}
    for code in codes:
        data = members.get(tokens[code])
        if data is None:
            need[rows[code][0]] = code
        else:
            datas[code] = data
    if need:
        by_calendar: dict[int, list[tuple[date, str]]] = {pk: [] for pk in need}
        for calendar_id, day, name in (
            Holiday.objects.filter(calendar_id__in=list(need))
            .order_by("calendar_id", "date")
            .values_list("calendar_id", "date", "name")
        ):
            by_calendar[calendar_id].append((day, name))
        for pk, code in need.items():
            data = CalendarData(
                code=code,
                weekend_days=tuple(rows[code][1]),
                holidays=tuple(by_calendar[pk]),
            )
            members.put(tokens[code], data)
            datas[code] = data
    cal = BusinessCalendar(*(datas[c] for c in codes))
    business_calendars.put(token, cal)
    return cal, token


def calendars_with_holidays_until() -> QuerySet[Calendar]:
    """Calendars annotated with ``last_holiday`` (for the read-only ``holidays_until``)."""
    return Calendar.objects.annotate(last_holiday=Max("holidays__date")).order_by("code")


def holidays_of(
    calendar: Calendar,
    *,
    year: int | None = None,
    start: date | None = None,
    end: date | None = None,
) -> QuerySet[Holiday]:
    """A calendar's holidays in date order, optionally within a year and/or ``[start, end]``."""
    queryset = Holiday.objects.filter(calendar=calendar).order_by("date")
    if year is not None:
        queryset = queryset.filter(date__year=year)
    if start is not None:
        queryset = queryset.filter(date__gte=start)
    if end is not None:
        queryset = queryset.filter(date__lte=end)
    return queryset
