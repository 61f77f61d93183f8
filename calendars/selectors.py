"""Reads of the calendars app, above all the hot one: a (joint) business calendar and its
version token.

For other apps (windows)::

    from calendars.selectors import CalendarNotFound, business_calendar, calendar_version_token

    cal, token = business_calendar(["TARGET2"])          # BusinessCalendar, "TARGET2:<token>"
    cal, token = business_calendar(["TARGET2", "USFED"])  # joint: "TARGET2:..+USFED:.."
    token = calendar_version_token(["TARGET2"])          # the token alone (no calendar built)

A caller that reads the coherence tokens itself (to batch them into its own
:func:`cbpconfig.cache.read`) passes ``calendars.cache.name(code)`` and builds the member
token with ``calendars.cache.member_token``.

The token changes after every committed change of the calendar or any of its holidays, so it
is a safe part of any cache key or ETag for answers computed from the calendar. On a warm
cache a call costs one cache round trip and no query; on a miss, at most two queries
(calendars, then holidays of the members not yet built in this process).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from django.db.models import Max, QuerySet

from calendars import metrics
from calendars.businessdays import BusinessCalendar, CalendarData
from calendars.cache import business_calendars, joint_token, member_token, members, name
from calendars.models import Calendar, Holiday
from cbpconfig import cache as coherence

__all__ = [
    "CalendarNotFound",
    "business_calendar",
    "calendar_data_version",
    "calendar_version_token",
    "calendars_with_holidays_until",
    "holidays_of",
    "holidays_until",
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


def _member_tokens(codes: list[str]) -> dict[str, str | None]:
    """One round trip: each code's member token (None while the cache is unavailable)."""
    snapshot = coherence.read([name(c) for c in codes])
    return {
        c: (None if (t := snapshot.token(name(c))) is None else member_token(c, t)) for c in codes
    }


def _untrusted() -> str:
    # No shared token (cache unavailable): a token that matches nothing, so no ETag built
    # from it can ever answer 304 for content that has since changed.
    return f"nocache:{uuid.uuid4().hex}"


def calendar_data_version(calendar: Calendar) -> str:
    """The member token of a stored calendar: changes with the calendar or its holidays."""
    return _member_tokens([calendar.code])[calendar.code] or _untrusted()


def _db_rows(codes: list[str]) -> dict[str, tuple[int, list[int]]]:
    rows = Calendar.objects.filter(code__in=codes).values_list("code", "pk", "weekend_days")
    return {code: (pk, weekend) for code, pk, weekend in rows}


def _check_exist(codes: list[str], rows: dict) -> None:
    unknown = [c for c in codes if c not in rows]
    if unknown:
        coherence.forget(*(name(c) for c in unknown))  # made-up codes leave no keys behind
        raise CalendarNotFound(unknown)


def calendar_version_token(codes: Sequence[str]) -> str:
    """The version token of one calendar or a joint calendar (codes in the order given).

    One cache round trip and one query (the calendars must exist). Raises
    :class:`CalendarNotFound` for an unknown code.
    """
    codes = _unique(codes)
    tokens = _member_tokens(codes)
    _check_exist(codes, _db_rows(codes))
    if any(t is None for t in tokens.values()):
        return _untrusted()
    return joint_token(tokens[c] for c in codes)  # type: ignore[misc]


def business_calendar(codes: Sequence[str]) -> tuple[BusinessCalendar, str]:
    """The (joint) business calendar of ``codes`` and its version token.

    Hot path: one cache round trip for the members' tokens, then this process's memory of
    built calendars — no query. Otherwise one query for the calendars (their weekends) and one
    for the holidays of members not built yet here. Raises :class:`CalendarNotFound`.
    """
    codes = _unique(codes)
    return business_calendar_with(codes, _member_tokens(codes))


def business_calendar_with(
    codes: Sequence[str], tokens: dict[str, str | None]
) -> tuple[BusinessCalendar, str]:
    """:func:`business_calendar` for a caller that has read the member tokens already."""
    codes = list(codes)
    key = tuple(codes)
    token = None if any(tokens[c] is None for c in codes) else joint_token(tokens[c] for c in codes)  # type: ignore[misc]
    cal = business_calendars.get(key, token)
    if cal is not None:
        metrics.CACHE_HIT.inc()
        return cal, token  # type: ignore[return-value]
    metrics.CACHE_MISS.inc()
    rows = _db_rows(codes)
    _check_exist(codes, rows)
    datas: dict[str, CalendarData] = {}
    need: dict[int, str] = {}
    for code in codes:
        data = members.get(code, tokens[code])
        if data is None:
            need[rows[code][0]] = code
        else:
            datas[code] = data
    if need:
        by_calendar: dict[int, list[tuple[date, str]]] = {pk: [] for pk in need}
        for calendar_id, day, holiday_name in (
            Holiday.objects.filter(calendar_id__in=list(need))
            .order_by("calendar_id", "date")
            .values_list("calendar_id", "date", "name")
        ):
            by_calendar[calendar_id].append((day, holiday_name))
        for pk, code in need.items():
            data = CalendarData(
                code=code,
                weekend_days=tuple(rows[code][1]),
                holidays=tuple(by_calendar[pk]),
            )
            members.put(code, tokens[code], data)
            datas[code] = data
    cal = BusinessCalendar(*(datas[c] for c in codes))
    business_calendars.put(key, token, cal)
    return cal, token if token is not None else _untrusted()


def calendars_with_holidays_until() -> QuerySet[Calendar]:
    """Calendars annotated with ``last_holiday`` (for the read-only ``holidays_until``)."""
    return Calendar.objects.annotate(last_holiday=Max("holidays__date")).order_by("code")


def holidays_until(calendar: Calendar) -> date | None:
    """31 December of the last year that has a holiday (None without holidays): how far the
    calendar's holiday data reaches. Uses ``last_holiday`` when the calendar came from
    :func:`calendars_with_holidays_until`, else one query."""
    last = getattr(calendar, "last_holiday", None)
    if last is None and not hasattr(calendar, "last_holiday"):
        last = calendar.holidays.order_by("-date").values_list("date", flat=True).first()
    return date(last.year, 12, 31) if last is not None else None


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
