"""Between the rows / the API's JSON and the pure scheduling dataclasses.

`parse_*` turn the JSON shape of a rule (API, admin) into :class:`scheduling.Rule`, naming the
session and field at fault; `*_from_row(s)` turn stored rows into the dataclasses the pure
module computes with; `rule_to_data` is the JSON shape served back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, time
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from cbpconfig.dates import WeekdayError, in_supported_range, iso_weekdays, outside_supported_range
from windows.scheduling import (
    Override,
    Rule,
    ScheduleError,
    WindowSpec,
    format_time,
    parse_time,
)

if TYPE_CHECKING:
    from windows.models import ProcessingWindow, WindowOverride, WindowRule

WEEKLY_FIELDS = (
    "label",
    "weekdays",
    "opens",
    "opens_day_offset",
    "closes",
    "closes_day_offset",
    "effective_from",
    "effective_until",
)
OVERRIDE_FIELDS = ("label", "opens", "opens_day_offset", "closes", "closes_day_offset")
MAX_RULES = 50
MAX_LABEL = 64


class _Bad(ValueError):
    """A malformed rule; the message names the field."""


def _time(value: Any, name: str) -> time:
    if isinstance(value, time):
        return value.replace(microsecond=0, tzinfo=None)
    try:
        return parse_time(value)
    except ScheduleError:
        raise _Bad(f"{name}: {value!r} is not a time 'HH:MM' or 'HH:MM:SS'.") from None


def _int(value: Any, name: str, allowed: tuple[int, ...]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"{name}: {value!r} is not an integer.")
    if value not in allowed:
        raise _Bad(f"{name} must be {' or '.join(str(a) for a in allowed)}, not {value}.")
    return value


def _date(value: Any, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        d = value
    else:
        try:
            parsed = (
                date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
            )
        except ValueError:
            parsed = None
        if parsed is None:
            raise _Bad(f"{name}: {value!r} is not a date YYYY-MM-DD.")
        d = parsed
    if not in_supported_range(d):
        raise _Bad(outside_supported_range(f"{name}: {d}"))
    return d


def _label(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"label: {value!r} is not a string.")
    if len(value) > MAX_LABEL:
        raise _Bad(f"label: at most {MAX_LABEL} characters.")
    return value


def parse_rule(data: Any, *, weekly: bool) -> Rule:
    """One rule from its JSON shape; raises :class:`ValueError` with a message naming the field.

    Weekly rules need `weekdays` and may carry `effective_from`/`effective_until`; override
    sessions have neither. Offsets default to 0, the label to "".
    """
    allowed = WEEKLY_FIELDS if weekly else OVERRIDE_FIELDS
    if not isinstance(data, Mapping):
        raise _Bad('must be an object such as {"opens": "07:00", "closes": "18:00"}.')
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        hint = " (an override's sessions have no weekdays)" if "weekdays" in unknown else ""
        raise _Bad(f"unknown field {', '.join(repr(u) for u in unknown)}{hint}.")
    for required in ("opens", "closes", *(("weekdays",) if weekly else ())):
        if data.get(required) in (None, ""):
            raise _Bad(f"{required} is required.")
    return Rule(
        label=_label(data.get("label", "")),
        weekdays=frozenset(iso_weekdays(data["weekdays"])) if weekly else frozenset(),
        opens=_time(data["opens"], "opens"),
        opens_day_offset=_int(data.get("opens_day_offset", 0), "opens_day_offset", (-1, 0)),
        closes=_time(data["closes"], "closes"),
        closes_day_offset=_int(data.get("closes_day_offset", 0), "closes_day_offset", (0, 1)),
        effective_from=_date(data.get("effective_from"), "effective_from") if weekly else None,
        effective_until=_date(data.get("effective_until"), "effective_until") if weekly else None,
    )


def _parse_list(items: Any, *, weekly: bool, field: str = "sessions") -> list[Rule]:
    if not isinstance(items, list | tuple):
        raise ValidationError({field: ["Must be a list of sessions."]})
    if len(items) > MAX_RULES:
        raise ValidationError({field: [f"At most {MAX_RULES} sessions."]})
    rules, errors = [], []
    for i, item in enumerate(items, start=1):
        try:
            rules.append(parse_rule(item, weekly=weekly))
        except (_Bad, WeekdayError) as exc:
            errors.append(f"session {i}: {exc}")
    if errors:
        raise ValidationError({field: errors})
    return rules


def parse_rules(items: Any) -> list[Rule]:
    """The weekly rules of a window (at least one); ValidationError on `sessions` otherwise."""
    rules = _parse_list(items, weekly=True)
    if not rules:
        raise ValidationError({"sessions": ["A window needs at least one session rule."]})
    return rules


def parse_override_sessions(items: Any, *, closed: bool) -> tuple[list[Rule], list[dict]]:
    """An override's sessions: none when `closed`, at least one otherwise. Returns the rules
    and their normalised JSON shape (what is stored and served)."""
    rules = _parse_list(items if items is not None else [], weekly=False)
    if closed and rules:
        raise ValidationError(
            {"sessions": ["A closed override has no sessions (leave the list empty)."]}
        )
    if not closed and not rules:
        raise ValidationError(
            {"sessions": ["An override that is not closed needs at least one session."]}
        )
    return rules, [rule_to_data(r, weekly=False) for r in rules]


def rule_to_data(rule: Rule, *, weekly: bool = True) -> dict[str, Any]:
    """The JSON shape of a rule (times "HH:MM", or "HH:MM:SS" when seconds are set)."""
    data: dict[str, Any] = {"label": rule.label}
    if weekly:
        data["weekdays"] = sorted(rule.weekdays)
    data.update(
        opens=format_time(rule.opens),
        opens_day_offset=rule.opens_day_offset,
        closes=format_time(rule.closes),
        closes_day_offset=rule.closes_day_offset,
    )
    if weekly:
        data["effective_from"] = rule.effective_from.isoformat() if rule.effective_from else None
        data["effective_until"] = rule.effective_until.isoformat() if rule.effective_until else None
    return data


def rule_from_row(row: WindowRule) -> Rule:
    return Rule(
        label=row.label,
        weekdays=frozenset(row.weekdays),
        opens=row.opens,
        opens_day_offset=row.opens_day_offset,
        closes=row.closes,
        closes_day_offset=row.closes_day_offset,
        effective_from=row.effective_from,
        effective_until=row.effective_until,
    )


def override_from_row(row: WindowOverride) -> Override:
    rules = () if row.closed else tuple(parse_rule(s, weekly=False) for s in row.sessions or [])
    return Override(date=row.date, closed=row.closed, sessions=rules, reason=row.reason)


def spec_from_rows(
    window: ProcessingWindow,
    rules: Iterable[WindowRule] | Sequence[Rule],
    overrides: Iterable[WindowOverride] | Sequence[Override],
) -> WindowSpec:
    """The scheduling input of a window from its rows (rows or already-mapped dataclasses)."""
    return WindowSpec(
        code=window.code,
        timezone=window.timezone or window.calendar.timezone,
        is_active=window.is_active,
        rules=tuple(r if isinstance(r, Rule) else rule_from_row(r) for r in rules),
        overrides=tuple(o if isinstance(o, Override) else override_from_row(o) for o in overrides),
    )
