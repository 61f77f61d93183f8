"""Reads of the windows app: the visible windows, and the hot computed answers (sessions,
status) served from a compiled :class:`~windows.scheduling.Schedule` kept in process per
(window token, calendar token) — see :mod:`windows.cache` and :mod:`cbpconfig.cache`.

For the API and the admin::

    compiled = compiled_window("FEDWIRE", institution_id=None)   # 1 cache round trip when warm
    compiled.schedule.status(at)                                  # microseconds
    preview_sessions(spec, "USFED", days=14)                      # admin preview, same code
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils import timezone as dj_timezone

from calendars import cache as calendar_cache
from calendars.businessdays import BusinessCalendar
from calendars.selectors import business_calendar, business_calendar_with
from cbpconfig import cache as coherence
from cbpconfig.dates import MAX_DATE, MIN_DATE
from windows import metrics
from windows.cache import compiled_windows, name
from windows.mappers import spec_from_rows
from windows.models import WINDOW_CODE_PATTERN, ProcessingWindow, WindowOverride, WindowRule
from windows.scheduling import Schedule, Session, WindowSpec

PREVIEW_DAYS = 14


@dataclass(frozen=True, slots=True)
class WindowState:
    """What the computed endpoints need to know about a window, as read from the database."""

    id: int
    code: str
    institution_id: int | None
    calendar_code: str
    spec: WindowSpec
    token: str  # names this state: the window's version and its overrides' versions


@dataclass(slots=True)
class Compiled:
    """A window's state and its compiled schedule for one calendar version."""

    state: WindowState
    schedule: Schedule
    calendar_token: str


@dataclass(slots=True)
class _Entry:
    state: WindowState
    schedules: dict[str, Schedule] = field(default_factory=dict)


def business_day_fn(cal: BusinessCalendar) -> Callable[[date], bool]:
    """`cal.is_business_day`, False outside the supported dates (where the calendar refuses
    to answer): the schedule pads its look-ups a few days beyond what it is asked."""
    check = cal.is_business_day
    lo, hi = MIN_DATE, MAX_DATE

    def is_business_day(d: date) -> bool:
        return lo <= d <= hi and check(d)

    return is_business_day


# -- lists --------------------------------------------------------------------------------


def visible_windows(institution_id: int | None) -> QuerySet[ProcessingWindow]:
    """Windows a caller may see: all for platform callers; platform-wide and its own for an
    institution key (another institution's window does not exist for it)."""
    queryset = (
        ProcessingWindow.objects.select_related("institution", "calendar")
        .prefetch_related("rules")
        .order_by("code")
    )
    if institution_id is not None:
        queryset = queryset.filter(Q(institution__isnull=True) | Q(institution_id=institution_id))
    return queryset


def overrides_of(window: ProcessingWindow) -> QuerySet[WindowOverride]:
    return WindowOverride.objects.filter(window=window).order_by("date")


# -- the compiled window -------------------------------------------------------------------


def _state_token(window: ProcessingWindow, overrides: list[WindowOverride]) -> str:
    h = hashlib.blake2b(digest_size=10)
    h.update(f"{window.pk}.{window.version}".encode())
    for o in overrides:
        h.update(f"|{o.pk}.{o.version}".encode())
    return h.hexdigest()


def load_state(code: str) -> WindowState:
    """Read a window, its rules and overrides (three queries); DoesNotExist when absent."""
    window = ProcessingWindow.objects.select_related("calendar").get(code=code)
    rules = list(WindowRule.objects.filter(window=window).order_by("position"))
    overrides = list(WindowOverride.objects.filter(window=window).order_by("date"))
    return WindowState(
        id=window.pk,
        code=window.code,
        institution_id=window.institution_id,
        calendar_code=window.calendar.code,
        spec=spec_from_rows(window, rules, overrides),
        token=_state_token(window, overrides),
    )


_VALID_CODE = re.compile(WINDOW_CODE_PATTERN)


def compiled_window(code: str, *, institution_id: int | None = None) -> Compiled:
    """The window's compiled schedule, checked against the coherence tokens.

    Warm: one cache round trip (the window's token and its calendar's) and no query. Raises
    ProcessingWindow.DoesNotExist for an unknown window or one the caller (`institution_id` of
    an institution key) may not see.
    """
    if not _VALID_CODE.fullmatch(code):
        # Never touch the cache for a code no window can have (no keys made up by callers).
        raise ProcessingWindow.DoesNotExist(f"No window {code}.")
    window_name = name(code)
    # The calendar code of the window is known from this process's last read of it; the
    # token read here still decides whether that read is current.
    known = _calendar_codes.get(code)
    names = [window_name] if known is None else [window_name, calendar_cache.name(known)]
    snapshot = coherence.read(names)
    token = snapshot.token(window_name)
    entry: _Entry | None = compiled_windows.get(code, token)
    if entry is None:
        try:
            state = load_state(code)
        except ProcessingWindow.DoesNotExist:
            coherence.forget(window_name)  # a code with no window leaves no key behind
            raise
        metrics.COMPILE_STATE.inc()
        entry = _Entry(state)
        compiled_windows.put(code, token, entry)
        _calendar_codes[code] = state.calendar_code
    state = entry.state
    if institution_id is not None and state.institution_id not in (None, institution_id):
        raise ProcessingWindow.DoesNotExist(f"No window {code}.")
    cal_token = None
    if known == state.calendar_code:
        member = snapshot.token(calendar_cache.name(known))
        cal_token = None if member is None else calendar_cache.member_token(known, member)
    if cal_token and (schedule := entry.schedules.get(cal_token)) is not None:
        metrics.COMPILE_HIT.inc()
        return Compiled(state, schedule, cal_token)
    if cal_token is not None:
        # The token was read for `known`, which is this window's calendar.
        cal, token = business_calendar_with([state.calendar_code], {state.calendar_code: cal_token})
    else:
        cal, token = business_calendar([state.calendar_code])
    schedule = entry.schedules.get(token)
    if schedule is None:
        metrics.COMPILE_CALENDAR.inc()
        schedule = Schedule(state.spec, business_day_fn(cal))
        # Only the newest calendar version is worth keeping.
        entry.schedules = {token: schedule}
    return Compiled(state, schedule, token)


# window code -> its calendar's code as last read here (only a hint: see compiled_window)
_calendar_codes: dict[str, str] = {}


# -- the admin preview ---------------------------------------------------------------------


def preview_rows(schedule: Schedule, start: date, days: int = PREVIEW_DAYS) -> list[dict]:
    """Sessions of business dates `start` .. `start + days - 1` in the API's shape, plus the
    local and UTC wall times for display."""
    end = min(start + timedelta(days=days - 1), MAX_DATE)
    rows = []
    for s in schedule.sessions_between(start, end):
        data = schedule.session_to_dict(s)
        data["opens_local_display"] = _display(s.opens_at, schedule)
        data["closes_local_display"] = _display(s.closes_at, schedule)
        data["opens_utc_display"] = s.opens_at.strftime("%a %Y-%m-%d %H:%M:%S UTC")
        data["closes_utc_display"] = s.closes_at.strftime("%a %Y-%m-%d %H:%M:%S UTC")
        rows.append(data)
    return rows


def _display(instant: datetime, schedule: Schedule) -> str:
    local = instant.astimezone(schedule.tz)
    return (
        local.strftime("%a %Y-%m-%d %H:%M:%S ") + (local.tzname() or "") + local.strftime(" (%z)")
    )


def local_today(spec: WindowSpec, now: datetime | None = None) -> date:
    return (now or dj_timezone.now()).astimezone(ZoneInfo(spec.timezone)).date()


def preview_saved(window: ProcessingWindow, days: int = PREVIEW_DAYS) -> list[dict]:
    """The next `days` days of the stored window's sessions, exactly as the API answers."""
    compiled = compiled_window(window.code)
    start = local_today(compiled.state.spec)
    return preview_rows(compiled.schedule, start, days)


def preview_spec(spec: WindowSpec, calendar_code: str, days: int = PREVIEW_DAYS) -> list[dict]:
    """The next `days` days of an unsaved window state (admin "Preview" button)."""
    cal, _ = business_calendar([calendar_code])
    schedule = Schedule(spec, business_day_fn(cal))
    return preview_rows(schedule, local_today(spec), days)


__all__ = [
    "Compiled",
    "PREVIEW_DAYS",
    "Session",
    "WindowState",
    "business_day_fn",
    "compiled_window",
    "load_state",
    "overrides_of",
    "preview_rows",
    "preview_saved",
    "preview_spec",
    "visible_windows",
]
