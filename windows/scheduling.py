"""Processing-window scheduling: sessions, status and overlap validation.

Pure Python (the standard library, and the contract's date conventions from the pure
``cbpconfig.dates``; no Django) so it can be unit-tested and benchmarked in isolation and
cached in process memory by the Django side (one :class:`Schedule` per window version and
calendar version).

Rules of the contract (``API.md``, "Processing windows"):

* A weekly rule makes, for every business date ``D`` whose ISO weekday it lists (and which lies
  in its optional ``effective_from``/``effective_until`` range), one session that opens at the
  local wall time ``opens`` on ``D + opens_day_offset`` and closes at ``closes`` on
  ``D + closes_day_offset``.
* Wall time becomes an instant with ``zoneinfo`` and ``fold=0``: a time in the spring-forward
  gap is read with the offset in force *before* the change (02:30 New York on the
  spring-forward day is 07:30Z); an ambiguous fall-back time is its *first* occurrence.
* An override replaces the regular sessions of one date (``closed`` → none, else its own
  sessions, even on a weekend/holiday). An inactive window has no sessions at all.
* A session is open on ``[opens_at, closes_at)``. Durations are UTC-instant differences.
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import os
import re
import struct
import zoneinfo
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from datetime import timezone as FixedOffset
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cbpconfig.dates import MAX_DATE, MIN_DATE, WeekdayError, iso_weekdays, rfc3339

__all__ = [
    "MAX_SESSION_SPAN_DAYS",
    "NEXT_SESSION_HORIZON_DAYS",
    "SOURCE_OVERRIDE",
    "SOURCE_REGULAR",
    "Override",
    "Rule",
    "Schedule",
    "ScheduleError",
    "Session",
    "Status",
    "WindowSpec",
    "check_overlaps",
    "check_override_against",
    "format_time",
    "parse_time",
]

#: Longest ``[start, end]`` span the sessions endpoint accepts (enforced by the API layer).
MAX_SESSION_SPAN_DAYS = 366
#: ``next_session`` is the first session opening within this many days after ``at``.
NEXT_SESSION_HORIZON_DAYS = 400

SOURCE_REGULAR = "regular"
SOURCE_OVERRIDE = "override"

BusinessDayFn = Callable[[date], bool]

_ONE_DAY = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)
_HORIZON = timedelta(days=NEXT_SESSION_HORIZON_DAYS)
_MIDNIGHT = time(0)
# Status answers are served from pre-sorted "timelines" of sessions, one per chunk of UTC
# dates; a chunk is padded with _CHUNK_PAD business dates on either side (see _Timeline).
_CHUNK_DAYS = 32
_CHUNK_PAD = 8
# Bounds on memory held by one Schedule (memoized dates / timelines); cleared when exceeded.
_MAX_MEMO_DATES = 40_000
_MAX_TIMELINES = 64
# How many days around a date can hold sessions that interact with it: offsets reach one day
# either side, and a spring-forward gap read with fold=0 can push an instant up to one more
# day forward (Pacific/Apia skipped 2011-12-30 entirely).
_NEIGHBOUR_DAYS = 3

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


class ScheduleError(ValueError):
    """Bad argument to a scheduling function (naive datetime, start after end, bad time...)."""


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """A weekly session rule, or (with empty ``weekdays``) one session of an override.

    ``weekdays`` are ISO weekdays 1 (Monday) .. 7 (Sunday); a tuple is normalised to a
    frozenset. ``opens``/``closes`` are local wall-clock times on ``D + opens_day_offset``
    and ``D + closes_day_offset`` of the business date ``D``. ``effective_from`` and
    ``effective_until`` (inclusive, each optional) restrict the business dates it applies to.
    """

    label: str
    weekdays: frozenset[int]
    opens: time
    opens_day_offset: int
    closes: time
    closes_day_offset: int
    effective_from: date | None = None
    effective_until: date | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.weekdays, frozenset):
            object.__setattr__(self, "weekdays", frozenset(self.weekdays))

    def applies_to(self, d: date) -> bool:
        """True if the rule's effective range contains business date ``d`` (weekday ignored)."""
        return (self.effective_from is None or self.effective_from <= d) and (
            self.effective_until is None or d <= self.effective_until
        )


@dataclass(frozen=True, slots=True)
class Override:
    """Replaces the regular sessions of one business ``date``.

    ``closed`` → no sessions that date; otherwise ``sessions`` (rules whose ``weekdays`` and
    effective range are ignored) are the sessions of that date, also on a non-business day.
    """

    date: date
    closed: bool
    sessions: tuple[Rule, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Everything scheduling needs to know about one processing window."""

    code: str
    timezone: str
    is_active: bool
    rules: tuple[Rule, ...]
    overrides: tuple[Override, ...] = ()


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    """One concrete session: aware UTC instants, open on ``[opens_at, closes_at)``."""

    business_date: date
    label: str
    opens_at: datetime
    closes_at: datetime
    source: str  # "regular" | "override"


@dataclass(frozen=True, slots=True)
class Status:
    """Answer of :meth:`Schedule.status`.

    ``at`` is the queried instant in UTC. ``next_session`` is the first session with
    ``opens_at > at`` opening at most 400 days after ``at``. ``processing_date`` is the business
    date of ``current_session`` when open, else of ``next_session``. ``seconds_until_close``
    is ``floor(closes_at - at)`` in seconds when open. ``decided_by_override`` is True when
    ``current_session`` or ``next_session`` came from an override.
    """

    at: datetime
    is_open: bool
    current_session: Session | None
    next_session: Session | None
    processing_date: date | None
    seconds_until_close: int | None
    decided_by_override: bool


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def parse_time(s: str) -> time:
    """Parse ``"HH:MM"`` or ``"HH:MM:SS"`` (24-hour clock) into a :class:`datetime.time`."""
    if not isinstance(s, str):
        raise ScheduleError(f"time must be a string 'HH:MM' or 'HH:MM:SS', got {s!r}")
    m = _TIME_RE.match(s)
    if m is None:
        raise ScheduleError(f"time must be 'HH:MM' or 'HH:MM:SS', got {s!r}")
    return time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def format_time(t: time) -> str:
    """Format a time as ``"HH:MM"``, or ``"HH:MM:SS"`` when it has seconds (µs dropped)."""
    if t.second:
        return f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    return f"{t.hour:02d}:{t.minute:02d}"


def _zone(tz: str | tzinfo) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)  # ZoneInfo caches instances per key
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ScheduleError(f"unknown time zone {tz!r}") from exc


def _require_aware(at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ScheduleError("'at' must be an aware datetime (with Z or an offset)")


def _session_to_dict(session: Session, zone: tzinfo) -> dict[str, Any]:
    """The API shape of a session; ``*_local`` are the same instants in ``zone``.

    Seconds precision. (Before ~1900 some zones had LMT offsets with seconds, which
    ``isoformat`` then prints as ``+HH:MM:SS``.)
    """
    o, c = session.opens_at, session.closes_at
    if o.microsecond or c.microsecond:
        o, c = o.replace(microsecond=0), c.replace(microsecond=0)
    return {
        "business_date": session.business_date.isoformat(),
        "label": session.label,
        "opens_at": rfc3339(o),
        "closes_at": rfc3339(c),
        "opens_at_local": o.astimezone(zone).isoformat(),
        "closes_at_local": c.astimezone(zone).isoformat(),
        "source": session.source,
    }


_opens_key = attrgetter("opens_at")


# --------------------------------------------------------------------------------------------
# The compiled schedule
# --------------------------------------------------------------------------------------------

# (label, opens, opens delta, closes, closes delta, effective_from, effective_until)
_CompiledRule = tuple[str, time, timedelta, time, timedelta, date | None, date | None]


def _compile_rule(r: Rule) -> _CompiledRule:
    return (
        r.label,
        r.opens,
        timedelta(days=r.opens_day_offset),
        r.closes,
        timedelta(days=r.closes_day_offset),
        r.effective_from,
        r.effective_until,
    )


# Building frozen dataclasses through their __init__ (object.__setattr__ per field) is the
# largest cost of a session list; writing the slots directly is ~3x faster.
# The slots' member descriptors, read from the class dict (typed Any, as they are).
_set_fields = tuple(
    vars(Session)[name].__set__
    for name in ("business_date", "label", "opens_at", "closes_at", "source")
)


def _new_session(
    d: date,
    label: str,
    opens_at: datetime,
    closes_at: datetime,
    source: str,
    _new: Callable[[type], Any] = object.__new__,
    _f: tuple[Callable[[Any, Any], None], ...] = _set_fields,
) -> Session:
    s: Session = _new(Session)
    _f[0](s, d)
    _f[1](s, label)
    _f[2](s, opens_at)
    _f[3](s, closes_at)
    _f[4](s, source)
    return s


class _Timeline:
    """Sessions of business dates ``[first, last]`` sorted by ``opens_at``, for bisecting.

    Why the answer is exact for ``lo <= at < hi``: UTC offsets lie strictly within ±24 h and
    fold=0 never moves an instant outside ``wall - offset``; so a session of a date before
    ``first`` (closing at wall time ≤ ``first`` 24:00) ends before ``first + 2`` 00:00 UTC
    (= ``lo``), and a session of a date after ``last`` (opening at wall time ≥ ``last`` 00:00)
    opens after ``last - 1`` 00:00 UTC (= ``hi``).
    """

    __slots__ = (
        "beyond",
        "beyond_done",
        "first",
        "hi",
        "last",
        "lo",
        "max_close",
        "opens",
        "sessions",
    )

    def __init__(self, sched: Schedule, first: date, last: date) -> None:
        sessions = sched.sessions_between(first, last)
        self.first = first
        self.last = last
        self.lo = datetime.combine(first + 2 * _ONE_DAY, _MIDNIGHT, UTC)
        self.hi = datetime.combine(last - _ONE_DAY, _MIDNIGHT, UTC)
        self.opens = [s.opens_at for s in sessions]
        # Running maximum of closes_at: lets the backward search for the current session stop
        # at once when nothing earlier is still open (always, for a valid non-overlapping set).
        max_close: list[tuple[datetime, Session]] = []
        best: tuple[datetime, Session] | None = None
        for s in sessions:
            if best is None or s.closes_at > best[0]:
                best = (s.closes_at, s)
            max_close.append(best)
        self.max_close = max_close
        self.sessions = sessions
        # First session opening at/after ``hi`` (from later dates too), found lazily.
        self.beyond: Session | None = None
        self.beyond_done = False


class Schedule:
    """A window compiled for fast answers: build once per (window version, calendar version).

    Memoizes the sessions of each business date and keeps bisectable timelines for
    :meth:`status`. Safe to share between threads (races only duplicate work).
    ``is_business_day`` is called at most once per date.
    """

    def __init__(self, spec: WindowSpec, is_business_day: BusinessDayFn) -> None:
        self.spec = spec
        self.tz = _zone(spec.timezone)
        self._is_business_day = is_business_day
        self._active = bool(spec.is_active)
        self._overrides: dict[date, Override] = {o.date: o for o in spec.overrides}
        # Rules per ISO weekday, pre-digested, so a date only looks at rules that can apply.
        self._rules_by_weekday: dict[int, tuple[_CompiledRule, ...]] = {
            wd: tuple(_compile_rule(r) for r in spec.rules if wd in r.weekdays)
            for wd in range(1, 8)
        }
        self._memo: dict[date, tuple[Session, ...]] = {}
        self._dict_memo: dict[Session, dict[str, Any]] = {}
        self._timelines: dict[int, _Timeline] = {}
        self._last: _Timeline | None = None

    # -- sessions ---------------------------------------------------------------------------

    def _make(self, d: date, rules: Iterable[_CompiledRule], source: str) -> tuple[Session, ...]:
        tz = self.tz
        combine = datetime.combine
        out = []
        for label, o_t, o_delta, c_t, c_delta, lo, hi in rules:
            if (lo is not None and d < lo) or (hi is not None and d > hi):
                continue
            # fold=0 (the default): a gap time takes the pre-transition offset, an ambiguous
            # time its first occurrence; converting to UTC makes every later comparison and
            # duration one between instants, never between wall times.
            o = combine(d + o_delta if o_delta else d, o_t, tz).astimezone(UTC)
            c = combine(d + c_delta if c_delta else d, c_t, tz).astimezone(UTC)
            out.append(_new_session(d, label, o, c, source))
        if len(out) > 1:
            out.sort(key=_opens_key)
        return tuple(out)

    def sessions_on(self, d: date) -> tuple[Session, ...]:
        """Sessions of business date ``d``, sorted by ``opens_at`` (memoized)."""
        got = self._memo.get(d)
        if got is not None:
            return got
        got = self._compute(d)
        if len(self._memo) >= _MAX_MEMO_DATES:
            self._memo.clear()
        self._memo[d] = got
        return got

    def _compute(self, d: date) -> tuple[Session, ...]:
        if not self._active:
            return ()
        ov = self._overrides.get(d)
        if ov is not None:
            if ov.closed:
                return ()
            # An override's sessions ignore weekdays and effective ranges.
            compiled = [(*_compile_rule(r)[:5], None, None) for r in ov.sessions]
            return self._make(d, compiled, SOURCE_OVERRIDE)
        rules = self._rules_by_weekday[d.isoweekday()]
        if not rules or not self._is_business_day(d):
            return ()
        return self._make(d, rules, SOURCE_REGULAR)

    def session_to_dict(self, session: Session) -> dict[str, Any]:
        """The API shape of a session in this window's zone, memoized (a fresh copy each
        time): UTC instants with ``Z``, ``*_local`` the same instants in the window's zone."""
        got = self._dict_memo.get(session)
        if got is None:
            got = _session_to_dict(session, self.tz)
            if len(self._dict_memo) >= _MAX_MEMO_DATES:
                self._dict_memo.clear()
            self._dict_memo[session] = got
        return dict(got)

    def status_to_dict(self, st: Status) -> dict[str, Any]:
        """The API shape of a status answer of this window, with memoized session dicts."""
        cur, nxt = st.current_session, st.next_session
        return {
            "window": self.spec.code,
            "at": rfc3339(st.at),
            "is_open": st.is_open,
            "current_session": self.session_to_dict(cur) if cur is not None else None,
            "next_session": self.session_to_dict(nxt) if nxt is not None else None,
            "processing_date": st.processing_date.isoformat() if st.processing_date else None,
            "seconds_until_close": st.seconds_until_close,
        }

    def sessions_between(self, start: date, end: date) -> list[Session]:  # noqa: C901 - hot path, kept inline
        """Sessions of business dates in ``[start, end]``, ordered by ``opens_at``.

        Ties keep business-date order. The span limit is the caller's (API) business.
        """
        if start > end:
            raise ScheduleError("start must not be after end")
        if not self._active:
            return []
        # The loop inlines sessions_on/_compute for the common (regular, memo-miss) date:
        # call overhead is a large share of a cold 366-day list.
        memo = self._memo
        overrides = self._overrides
        by_weekday = self._rules_by_weekday
        is_bd = self._is_business_day
        tz = self.tz
        combine = datetime.combine
        out: list[Session] = []
        d = start
        try:
            while True:
                got = memo.get(d)
                if got is None:
                    rules = by_weekday[d.isoweekday()]
                    if d in overrides:
                        got = self._compute(d)
                    elif not rules or not is_bd(d):
                        got = ()
                    elif len(rules) == 1:
                        label, o_t, o_delta, c_t, c_delta, lo, hi = rules[0]
                        if (lo is not None and d < lo) or (hi is not None and d > hi):
                            got = ()
                        else:
                            # fold=0: see _make.
                            o = combine(d + o_delta if o_delta else d, o_t, tz).astimezone(UTC)
                            c = combine(d + c_delta if c_delta else d, c_t, tz).astimezone(UTC)
                            got = (_new_session(d, label, o, c, SOURCE_REGULAR),)
                    else:
                        got = self._make(d, rules, SOURCE_REGULAR)
                    if len(memo) >= _MAX_MEMO_DATES:
                        memo.clear()
                    memo[d] = got
                if got:
                    out.extend(got)
                if d >= end:  # test before stepping: end may be date.max
                    break
                d += _ONE_DAY
        except OverflowError as exc:
            raise ScheduleError("date out of range") from exc
        # Dates in order give sorted output for valid (non-overlapping) rules; Timsort is
        # linear on sorted input, and this keeps the order right for any rules.
        out.sort(key=_opens_key)
        return out

    # -- status -----------------------------------------------------------------------------

    def _timeline_for(self, at_utc: datetime) -> _Timeline:
        k = at_utc.toordinal() // _CHUNK_DAYS
        tl = self._timelines.get(k)
        if tl is None:
            start = date.fromordinal(max(1, k * _CHUNK_DAYS))
            first = start - _CHUNK_PAD * _ONE_DAY
            last = start + (_CHUNK_DAYS + _CHUNK_PAD) * _ONE_DAY
            tl = _Timeline(self, first, last)
            if len(self._timelines) >= _MAX_TIMELINES:
                self._timelines.clear()
            self._timelines[k] = tl
        return tl

    def _beyond(self, tl: _Timeline) -> Session | None:
        """First session (by ``opens_at``) of the dates after ``tl.last`` (all open ≥ ``hi``).

        Memoized on the timeline, so a window whose next session is far away (long closure,
        override-only window) costs the scan once per timeline, not once per status call.
        """
        if tl.beyond_done:
            return tl.beyond
        best: Session | None = None
        # Any 'at' served by tl is < hi, so sessions opening within 400 days of it open before
        # hi + 400 days; dates after last + 400 open later than that (see _Timeline).
        d = tl.last + _ONE_DAY
        stop = tl.last + (NEXT_SESSION_HORIZON_DAYS + 1) * _ONE_DAY
        while d <= stop:
            if best is not None and datetime.combine(d - 2 * _ONE_DAY, _MIDNIGHT, UTC) >= (
                best.opens_at
            ):
                break  # sessions of d and later open after best
            for s in self.sessions_on(d):
                if s.opens_at >= tl.hi and (best is None or s.opens_at < best.opens_at):
                    best = s
            d += _ONE_DAY
        tl.beyond = best
        tl.beyond_done = True
        return best

    def status(self, at: datetime) -> Status:
        """Whether the window is open at ``at`` (aware), and the current/next session."""
        _require_aware(at)
        at_utc = at if at.tzinfo is UTC else at.astimezone(UTC)
        tl = self._last
        if tl is None or not (tl.lo <= at_utc < tl.hi):
            try:
                tl = self._timeline_for(at_utc)
            except OverflowError as exc:
                raise ScheduleError("'at' out of range") from exc
            self._last = tl
        opens = tl.opens
        i = bisect_right(opens, at_utc)  # sessions[:i] open at or before 'at'
        current: Session | None = None
        j = i - 1
        max_close = tl.max_close
        sessions = tl.sessions
        while j >= 0 and max_close[j][0] > at_utc:
            s = sessions[j]
            if s.closes_at > at_utc:
                current = s  # the latest-opened session containing 'at'
                break
            j -= 1
        nxt: Session | None = sessions[i] if i < len(opens) else None
        if nxt is None or nxt.opens_at >= tl.hi:
            # A later date's session may open before this one: take the earlier of the two
            # (on a tie, this one: its business date is earlier).
            try:
                later = self._beyond(tl)
            except OverflowError:  # searching past year 9999: nothing there
                later = None
            if later is not None and (nxt is None or later.opens_at < nxt.opens_at):
                nxt = later
        if nxt is not None and nxt.opens_at - at_utc > _HORIZON:
            nxt = None
        if current is not None:
            return Status(
                at_utc,
                True,
                current,
                nxt,
                current.business_date,
                (current.closes_at - at_utc) // _ONE_SECOND,
                current.source == SOURCE_OVERRIDE
                or (nxt is not None and nxt.source == SOURCE_OVERRIDE),
            )
        if nxt is not None:
            return Status(
                at_utc, False, None, nxt, nxt.business_date, None, nxt.source == SOURCE_OVERRIDE
            )
        return Status(at_utc, False, None, None, None, None, False)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _always_business_day(_d: date) -> bool:
    return True


def _rule_field_problems(rule: Rule, where: str, *, weekly: bool) -> list[str]:
    problems: list[str] = []
    name = f"{where} '{rule.label}'"
    if rule.opens_day_offset not in (-1, 0):
        problems.append(f"{name}: opens_day_offset must be -1 or 0, not {rule.opens_day_offset}")
    if rule.closes_day_offset not in (0, 1):
        problems.append(f"{name}: closes_day_offset must be 0 or 1, not {rule.closes_day_offset}")
    if weekly:
        try:
            iso_weekdays(rule.weekdays)
        except WeekdayError as exc:
            problems.append(f"{name}: {exc}")
        if (
            rule.effective_from is not None
            and rule.effective_until is not None
            and rule.effective_from > rule.effective_until
        ):
            problems.append(
                f"{name}: effective_from {rule.effective_from} is after "
                f"effective_until {rule.effective_until}"
            )
    # Wall-clock check, independent of DST: on an ordinary day the opening must come first.
    if (rule.opens_day_offset, rule.opens) >= (rule.closes_day_offset, rule.closes):
        problems.append(
            f"{name}: opens {_fmt_wall(rule.opens_day_offset, rule.opens)} is not before "
            f"closes {_fmt_wall(rule.closes_day_offset, rule.closes)}"
        )
    return problems


def _fmt_wall(offset: int, t: time) -> str:
    return f"{format_time(t)} (day {offset:+d})" if offset else format_time(t)


def _describe(s: Session) -> str:
    kind = "override session" if s.source == SOURCE_OVERRIDE else "session"
    return f"{kind} '{s.label}' on {s.business_date.isoformat()}"


def _empty_message(s: Session) -> str:
    return (
        f"{_describe(s)} does not open before it closes "
        f"({rfc3339(s.opens_at)} .. {rfc3339(s.closes_at)})"
    )


def _overlap_message(a: Session, b: Session) -> str:
    return f"{_describe(a)} overlaps {_describe(b)}"


def _sweep(
    sessions: list[Session],
    *,
    only_dates: set[date] | None = None,
    prefer_from: date | None = None,
) -> list[str]:
    """Problems among concrete sessions: empty/negative ones and overlapping pairs.

    One message per kind of problem (labels, sources and date distance), so a weekly clash is
    not reported hundreds of times. The message names the first date where that problem
    happens — the first on or after ``prefer_from`` when it happens then, else the first of
    all — and messages come in the order of those dates. With ``only_dates``, only problems
    involving a session of one of those dates are reported.
    """
    # kind -> [(opens_at, message) of its first occurrence, ... of its first from prefer_from]
    found: dict[tuple[Any, ...], list[tuple[datetime, str] | None]] = {}

    def relevant(*ss: Session) -> bool:
        return only_dates is None or any(s.business_date in only_dates for s in ss)

    def key_of(s: Session) -> tuple[Any, ...]:
        # Override sessions are one-offs: keep their date in the de-duplication key.
        return (s.label, s.source, s.business_date if s.source == SOURCE_OVERRIDE else None)

    def note(k: tuple[Any, ...], on: date, at: datetime, message: Callable[[], str]) -> None:
        slots = found.get(k)
        if slots is None:
            slots = found[k] = [None, None]
        if slots[0] is None or at < slots[0][0]:
            slots[0] = (at, message())
        if prefer_from is not None and on >= prefer_from and (slots[1] is None or at < slots[1][0]):
            slots[1] = (at, message())

    for s in sessions:
        if s.closes_at <= s.opens_at and relevant(s):
            note(
                ("empty", *key_of(s)),
                s.business_date,
                s.opens_at,
                functools.partial(_empty_message, s),
            )
    ordered = sorted(
        (s for s in sessions if s.closes_at > s.opens_at), key=lambda s: (s.opens_at, s.closes_at)
    )
    # Sweep by opening instant, tracking every session still open (usually 0 or 1).
    open_now: list[Session] = []
    for s in ordered:
        open_now = [o for o in open_now if o.closes_at > s.opens_at]
        for o in open_now:
            if not relevant(o, s):
                continue
            a, b = (s, o) if s.business_date >= o.business_date else (o, s)
            note(
                ("overlap", *key_of(a), *key_of(b), (a.business_date - b.business_date).days),
                a.business_date,
                s.opens_at,
                functools.partial(_overlap_message, a, b),
            )
        open_now.append(s)
    chosen = [slots[1] or slots[0] for slots in found.values()]
    return [message for _, message in sorted(c for c in chosen if c is not None)]


# -- Which dates the overlap check looks at ---------------------------------------------------
#
# Rules without ``effective_from`` make sessions back to MIN_DATE, so a window is valid only if
# its sessions are fine under every clock-change regime its zone has had or will have in the
# supported range, not just this year's. Generating every date of 300 years costs far too
# much, and is not needed: within one stretch of dates where the same rules are in force,
#
# * away from a change of UTC offset, wall time and UTC differ by a constant, so the sessions
#   of any 14 consecutive such dates (every weekday with its neighbours) show every problem
#   such a stretch can have;
# * around a change (or a tight cluster of changes, e.g. Apia's skipped day), the sessions
#   depend only on the weekday of the change, the wall time at which it happens and the size
#   (and spacing) of the jumps — the *regime* of that change, not its year.
#
# So the check takes, for every stretch of constant rules: its first dates and those around
# its boundaries (where rules start and end), a quiet 14-day stretch, and the dates around
# one change of each distinct regime — its first occurrence, and its first from the
# reference year on (so a message names the first date, and the next one from now on, where
# a problem happens). The zone's changes come from the same TZif data zoneinfo reads.

#: Dates around one clock change whose sessions it can affect: offsets reach a day either
#: side, a gap read with fold=0 up to one more, and the neighbours of those sessions one more.
_AROUND_CHANGE_DAYS = _NEIGHBOUR_DAYS + 1
#: Consecutive dates without a clock change that show every weekday with its neighbours.
_QUIET_STRETCH_DAYS = 14
#: Changes closer than this are one cluster (their effects can meet in one session).
_CLUSTER_GAP = timedelta(days=10)
_DAY_SECONDS = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Instants probed for changes: the supported dates with a margin for the neighbours.
_PROBE_LO = int(datetime.combine(MIN_DATE - 40 * _ONE_DAY, _MIDNIGHT, UTC).timestamp())
_PROBE_HI = int(datetime.combine(MAX_DATE + 40 * _ONE_DAY, _MIDNIGHT, UTC).timestamp())


@dataclass(frozen=True, slots=True)
class _Cluster:
    """One change of UTC offset, or a tight cluster of them, with the local dates it touches.

    ``regime`` is everything about it that the sessions around it depend on: the ISO weekday
    and wall time (seconds after local midnight, old offset) of its first change, then each
    change as (seconds after the first, offset before and offset after, relative to the offset
    before the first).
    """

    first: date
    last: date
    regime: tuple[Any, ...]


def _read_tzif(key: str) -> bytes | None:
    """The TZif data of zone ``key`` from where zoneinfo reads it: the TZPATH directories,
    then the ``tzdata`` package. None when neither has it."""
    parts = key.split("/")
    if not all(parts) or any(p in (".", "..") for p in parts):
        return None
    for root in zoneinfo.TZPATH:
        path = os.path.join(root, *parts)
        if os.path.isfile(path):
            try:
                with open(path, "rb") as f:
                    return f.read()
            except OSError:
                return None
    try:
        package = ".".join(["tzdata", "zoneinfo", *parts[:-1]])
        return importlib.resources.files(package).joinpath(parts[-1]).read_bytes()
    except (ImportError, OSError, ValueError, TypeError):
        return None


def _tzif_transitions(data: bytes) -> tuple[list[int], bool] | None:
    """Transition instants (Unix seconds) of TZif ``data`` (RFC 8536), and whether its footer
    has a daylight-saving rule (changes after the last listed transition). None if malformed.
    """
    try:
        if data[:4] != b"TZif":
            return None
        isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = struct.unpack(">6l", data[20:44])
        if data[4:5] < b"2":  # version 1: 32-bit times, no footer
            return list(struct.unpack(f">{timecnt}l", data[44 : 44 + 4 * timecnt])), False
        at = 44 + 5 * timecnt + 6 * typecnt + charcnt + 8 * leapcnt + isstdcnt + isutcnt
        if data[at : at + 4] != b"TZif":
            return None
        isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = struct.unpack(
            ">6l", data[at + 20 : at + 44]
        )
        at += 44
        times = list(struct.unpack(f">{timecnt}q", data[at : at + 8 * timecnt]))
        at += 9 * timecnt + 6 * typecnt + charcnt + 12 * leapcnt + isstdcnt + isutcnt
        footer = data[at:].strip(b"\n")
        # A POSIX TZ string with a rule part ("EST5EDT,M3.2.0,M11.1.0") keeps changing.
        return times, b"," in footer
    except (struct.error, ValueError):
        return None


def _probe_changes(offset: Callable[[int], int], lo: int, hi: int, step: int) -> list[int]:
    """Instants in ``(lo, hi]`` where ``offset`` changes, probing every ``step`` seconds and
    bisecting to the second (misses a change undone within one step)."""
    out: list[int] = []
    t, before = lo, offset(lo)
    while t < hi:
        nxt = min(t + step, hi)
        if offset(nxt) == before:
            t = nxt
            continue
        a, b = t, nxt  # offset(a) == before != offset(b)
        while b - a > 1:
            m = (a + b) // 2
            if offset(m) == before:
                a = m
            else:
                b = m
        out.append(b)
        t, before = b, offset(b)
    return out


def _yearly_changes(offset: Callable[[int], int], lo: int, hi: int) -> list[int]:
    """Changes in ``(lo, hi]`` of a zone that follows one yearly rule there (the POSIX TZ
    string after its last listed transition): the first year's by probing, then each change
    52 or 53 weeks (an "n-th Sunday" rule) or 365 or 366 days (a fixed date) after the last
    one of its kind, checked to the second; weekly probing if that ever fails."""
    week = 7 * _DAY_SECONDS
    seeds = _probe_changes(offset, lo, min(lo + 400 * _DAY_SECONDS, hi), week)
    out = list(seeds)
    for t in seeds:
        before, after = offset(t - 1), offset(t)
        while True:
            for days in (364, 371, 365, 366):
                c = t + days * _DAY_SECONDS
                if c <= hi and offset(c - 1) == before and offset(c) == after:
                    out.append(c)
                    t = c
                    break
            else:
                if t + 372 * _DAY_SECONDS <= hi:  # lost the pattern: probe the rest
                    out += _probe_changes(offset, t, hi, week)
                break
    return out


@functools.lru_cache(maxsize=256)
def _offset_changes(key: str) -> tuple[tuple[int, int, int], ...]:
    """Every change of zone ``key``'s UTC offset around the supported dates, as
    ``(instant, offset before, offset after)`` in seconds, the offsets as zoneinfo gives them.

    The instants are those of the zone's TZif data (and, past its last listed transition, of
    its footer rule, found by probing week by week); changes of name or DST flag alone are
    dropped. If the data cannot be read, or does not agree with zoneinfo, every day is probed.
    """
    zone = ZoneInfo(key)

    def offset(ts: int) -> int:
        off = datetime.fromtimestamp(ts, zone).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    raw = _read_tzif(key)
    parsed = _tzif_transitions(raw) if raw is not None else None
    candidates: list[int] | None = None
    if parsed is not None:
        times, has_rule = parsed
        candidates = [t for t in times if _PROBE_LO < t <= _PROBE_HI]
        if has_rule:
            tail = max(times[-1] if times else _PROBE_LO, _PROBE_LO)
            if tail < _PROBE_HI:
                candidates += _yearly_changes(offset, tail, _PROBE_HI)
    if candidates is not None:
        changes = _changes_at(offset, candidates)
        if _agrees(offset, changes):
            return changes
    return _changes_at(offset, _probe_changes(offset, _PROBE_LO, _PROBE_HI, _DAY_SECONDS))


def _changes_at(
    offset: Callable[[int], int], instants: Iterable[int]
) -> tuple[tuple[int, int, int], ...]:
    out: list[tuple[int, int, int]] = []
    for t in sorted(set(instants)):
        before, after = offset(t - 1), offset(t)
        if before != after:
            out.append((t, before, after))
    return tuple(out)


def _agrees(offset: Callable[[int], int], changes: tuple[tuple[int, int, int], ...]) -> bool:
    """Cheap cross-check of TZif-derived changes against zoneinfo: the offset at both ends and
    half-way between consecutive changes is the one the list says (else a change is missing)."""
    edges = [_PROBE_LO, *(t for t, _, _ in changes), _PROBE_HI]
    first = changes[0][1] if changes else offset(_PROBE_LO)
    expected = [first, *(after for _, _, after in changes)]
    if any(before != want for (_, before, _), want in zip(changes, expected, strict=False)):
        return False
    if offset(_PROBE_LO) != expected[0] or offset(_PROBE_HI) != expected[-1]:
        return False
    return all(
        hi - lo <= 2 or offset((lo + hi) // 2) == want
        for (lo, hi), want in zip(itertools.pairwise(edges), expected, strict=True)
    )


def _local_date(ts: int, offset: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + (ts + offset) // _DAY_SECONDS)


@functools.lru_cache(maxsize=256)
def _clock_clusters(key: str) -> tuple[_Cluster, ...]:
    """The zone's changes of UTC offset, grouped into clusters, in order."""
    groups: list[list[tuple[int, int, int]]] = []
    gap = int(_CLUSTER_GAP.total_seconds())
    for change in _offset_changes(key):
        if groups and change[0] - groups[-1][-1][0] < gap:
            groups[-1].append(change)
        else:
            groups.append([change])
    out = []
    for group in groups:
        t0, b0, _ = group[0]
        days = [_local_date(t, off) for t, before, after in group for off in (before, after)]
        regime = (
            _local_date(t0, b0).isoweekday(),
            (t0 + b0) % _DAY_SECONDS,
            tuple((t - t0, before - b0, after - b0) for t, before, after in group),
        )
        out.append(_Cluster(min(days), max(days), regime))
    return tuple(out)


def _clusters_of(tz: str | tzinfo) -> tuple[_Cluster, ...]:
    key = getattr(tz, "key", tz)
    if isinstance(key, str):
        return _clock_clusters(key)
    if isinstance(tz, FixedOffset):  # a fixed offset never changes
        return ()
    raise ScheduleError(f"time zone {tz!r} has no IANA key")  # pragma: no cover


def _dates_to_check(  # noqa: C901 - each clock regime adds its own dates (see above)
    rules: list[Rule], tz: str | tzinfo, first: date, last: date, prefer_from: date
) -> set[date]:
    """The business dates whose sessions the overlap check generates (see above)."""
    near = _AROUND_CHANGE_DAYS * _ONE_DAY
    quiet = _QUIET_STRETCH_DAYS * _ONE_DAY
    dates: set[date] = set()

    def add(lo: date, hi: date) -> None:
        d, hi = max(lo, first), min(hi, last)
        while d <= hi:
            dates.add(d)
            d += _ONE_DAY

    # Where the set of rules in force changes, and the supported range's own ends.
    cuts = {first, last + _ONE_DAY}
    for r in rules:
        for cut in (r.effective_from, r.effective_until and r.effective_until + _ONE_DAY):
            if cut is not None and first < cut <= last:
                cuts.add(cut)
    bounds = sorted(cuts)
    clusters = _clusters_of(tz)
    starts = [c.first for c in clusters]
    # A cluster starting more than this before a date cannot come near it.
    reach = near + max((c.last - c.first for c in clusters), default=timedelta(0))
    seen: set[tuple[Any, ...]] = set()
    for lo, hi in itertools.pairwise(bounds):
        hi -= _ONE_DAY
        in_force = frozenset(i for i, r in enumerate(rules) if r.applies_to(lo))
        if not in_force:
            continue
        # The dates where these rules start, and their first dates from prefer_from on.
        add(lo - near, lo + quiet + near)
        add(hi - near, hi + near)
        if lo < prefer_from <= hi:
            add(prefer_from - near, prefer_from + quiet + near)
        every_day = all(len(rules[i].weekdays) == 7 for i in in_force)
        i = bisect_left(starts, lo - reach)
        while i < len(clusters) and clusters[i].first <= hi + near:
            c = clusters[i]
            i += 1
            if c.last + near < lo:
                continue
            if c.first - near < lo or c.last + near > hi:
                add(c.first - near, c.last + near)  # meets a boundary: always look
                continue
            # The weekday only matters when some rule in force skips a weekday.
            regime = c.regime[1:] if every_day else c.regime
            for tag, wanted in (("first", True), ("from", c.first >= prefer_from)):
                if wanted and (tag, in_force, regime) not in seen:
                    seen.add((tag, in_force, regime))
                    add(c.first - near, c.last + near)
        for start in (lo, max(lo, prefer_from)):
            stretch = _quiet_stretch(clusters, starts, start, hi, near, quiet, reach)
            if stretch is not None:
                add(stretch, stretch + quiet)
            elif start <= hi:
                # Short, or changes all along (no zone has that for long): every date.
                add(start, hi)
    return dates


def _quiet_stretch(
    clusters: tuple[_Cluster, ...],
    starts: list[date],
    start: date,
    end: date,
    near: timedelta,
    length: timedelta,
    reach: timedelta,
) -> date | None:
    """The first date ``s >= start`` such that no clock change comes near ``[s, s + length]``
    (and ``s + length <= end``); None if there is none."""
    s = start
    i = bisect_left(starts, start - reach)
    while s + length <= end:
        while i < len(clusters) and clusters[i].last + near < s:
            i += 1
        if i == len(clusters) or clusters[i].first - near > s + length:
            return s
        s = clusters[i].last + near + _ONE_DAY
    return None


def check_overlaps(  # noqa: C901 - one pass over rules, overrides and the regimes' dates
    rules: Iterable[Rule],
    overrides: Iterable[Override],
    timezone: str,
    is_business_day: BusinessDayFn | None = None,
    *,
    reference_year: int | None = None,
    first: date = MIN_DATE,
    last: date = MAX_DATE,
) -> list[str]:
    """Validate a window's rules and overrides; return human-readable problems (empty = fine).

    Checks fields (offsets, weekdays, effective range, wall-clock open before close), then
    generates concrete sessions — every date a business day unless ``is_business_day`` is
    given — for every business date in ``[first, last]`` (the supported dates) that can show a
    problem: the dates where rules start and end, a quiet stretch, and around one change of
    UTC offset of each distinct regime of the zone (see ``_dates_to_check``), plus each
    override date ±3 days. It reports sessions that are empty as instants (DST) or overlap one
    another, whether of the same or of neighbouring business dates. Each message names the
    first date where its problem happens on or after 1 January of ``reference_year`` (default:
    the current year), or, for a problem of the past only, the first date where it happened.
    """
    rules = list(rules)
    overrides = list(overrides)
    try:
        _zone(timezone)
    except ScheduleError as exc:
        return [str(exc)]
    problems: list[str] = []
    for r in rules:
        problems += _rule_field_problems(r, "rule", weekly=True)
    seen_dates: set[date] = set()
    for ov in overrides:
        if ov.date in seen_dates:
            problems.append(f"override on {ov.date.isoformat()}: more than one for this date")
        seen_dates.add(ov.date)
        if not ov.closed:
            for r in ov.sessions:
                problems += _rule_field_problems(
                    r, f"override on {ov.date.isoformat()}: session", weekly=False
                )
    if problems:
        # Concrete sessions of malformed rules would only produce confusing follow-ups.
        return problems
    if reference_year is None:
        reference_year = datetime.now(UTC).year
    prefer_from = date(min(max(reference_year, first.year), last.year), 1, 1)
    spec = WindowSpec(
        code="-",
        timezone=timezone,
        is_active=True,
        rules=tuple(rules),
        overrides=tuple({o.date: o for o in overrides}.values()),
    )
    sched = Schedule(spec, is_business_day or _always_business_day)
    dates = _dates_to_check(rules, timezone, first, last, prefer_from)
    for ov in overrides:
        for k in range(-_NEIGHBOUR_DAYS, _NEIGHBOUR_DAYS + 1):
            d = ov.date + k * _ONE_DAY
            if first <= d <= last:
                dates.add(d)
    sessions: list[Session] = []
    for d in sorted(dates):
        sessions.extend(sched.sessions_on(d))
    return _sweep(sessions, prefer_from=prefer_from)


def check_override_against(
    spec: WindowSpec, is_business_day: BusinessDayFn, override: Override
) -> list[str]:
    """Validate one new/changed ``override`` against the window's sessions around its date.

    The override replaces any existing override of the same date; its sessions are checked
    for well-formedness, against each other and against the (regular or overridden) sessions
    of the neighbouring business dates. The window is treated as active, so activating it
    later cannot reveal an overlap.
    """
    where = f"override on {override.date.isoformat()}: session"
    problems: list[str] = []
    if not override.closed:
        for r in override.sessions:
            problems += _rule_field_problems(r, where, weekly=False)
    if problems or override.closed:
        return problems
    others = tuple(o for o in spec.overrides if o.date != override.date)
    trial = WindowSpec(
        code=spec.code,
        timezone=spec.timezone,
        is_active=True,
        rules=spec.rules,
        overrides=(*others, override),
    )
    sched = Schedule(trial, is_business_day)
    d0 = override.date
    sessions = sched.sessions_between(
        d0 - _NEIGHBOUR_DAYS * _ONE_DAY, d0 + _NEIGHBOUR_DAYS * _ONE_DAY
    )
    return _sweep(sessions, only_dates={d0})
