"""Every write to processing windows, their weekly rules and their overrides.

API views, the admin and commands all call these, so the rules of the contract (a session opens
before it closes, no two sessions overlap — same or neighbouring business dates, across DST
changes too —, offsets in range, an override needs a reason) hold whatever the path. The
overlap checks are :func:`windows.scheduling.check_overlaps` and
:func:`~windows.scheduling.check_override_against`; the same functions back the admin forms
(:func:`validate_window_definition`, :func:`validate_override_definition`).

Each write runs in one transaction, locks the window row (so a rule change and an override
change of the same window are validated one after the other, never against a state that is
being replaced), bumps versions, and after commit counts the change. Cached answers follow
from the rows' signals (:mod:`windows.signals`), not from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from calendars.models import Calendar
from calendars.selectors import business_calendar
from cbpconfig.versioning import bump, lock
from windows import metrics
from windows.mappers import (
    override_from_row,
    parse_rules,
    rule_from_row,
    spec_from_rows,
)
from windows.models import WINDOW_FIELDS, ProcessingWindow, WindowOverride, WindowRule
from windows.scheduling import Override, Rule, check_overlaps, check_override_against
from windows.selectors import business_day_fn

OVERRIDE_FIELDS = ("date", "closed", "sessions", "reason")
_ABSENT = object()


# -- validation shared by the services and the admin forms ----------------------------------


def validate_window_definition(
    *,
    timezone: str,
    calendar: Calendar,
    rules: Sequence[Rule],
    overrides: Sequence[Override] = (),
) -> None:
    """Refuse rules (and overrides) whose sessions overlap or do not open before they close.

    The rules are checked as if every day were a business day, so no later holiday change can
    reveal an overlap; the overrides are then checked against them with the real calendar
    (an override next to a holiday need not leave room for a session that does not exist).
    Raises ValidationError on `sessions`.
    """
    if not rules:
        raise ValidationError({"sessions": ["A window needs at least one session rule."]})
    problems = check_overlaps(rules, [], timezone)
    if not problems and overrides:
        cal, _ = business_calendar([calendar.code])
        problems = check_overlaps(rules, overrides, timezone, business_day_fn(cal))
    if problems:
        raise ValidationError({"sessions": problems})


def validate_override_definition(
    *, window: ProcessingWindow, override: WindowOverride, rules: Sequence[Rule] | None = None
) -> None:
    """Refuse an override whose sessions overlap each other or the sessions of neighbouring
    dates (regular or overridden) of `window`. `override` is validated (full_clean) already."""
    if rules is None:
        rules = [rule_from_row(r) for r in WindowRule.objects.filter(window=window)]
    others = WindowOverride.objects.filter(window=window, date__range=_around(override.date))
    if override.pk:
        others = others.exclude(pk=override.pk)
    spec = spec_from_rows(window, rules, [o for o in others if o.date != override.date])
    cal, _ = business_calendar([window.calendar.code])
    problems = check_override_against(spec, business_day_fn(cal), override_from_row(override))
    if problems:
        raise ValidationError({"sessions": problems})


def _around(d: date) -> tuple[date, date]:
    # Sessions reach a day either side (offsets) plus one for a DST gap: a week is ample.
    return (d - timedelta(days=7), d + timedelta(days=7))


def _merge(*errors: ValidationError) -> ValidationError:
    merged: dict[str, list[str]] = {}
    for e in errors:
        for name, messages in e.message_dict.items():
            merged.setdefault(name, []).extend(messages)
    return ValidationError(merged)


# -- windows ---------------------------------------------------------------------------------


def _rule_row_values(rule: Rule) -> dict[str, Any]:
    return {
        "label": rule.label,
        "weekdays": sorted(rule.weekdays),
        "opens": rule.opens,
        "opens_day_offset": rule.opens_day_offset,
        "closes": rule.closes,
        "closes_day_offset": rule.closes_day_offset,
        "effective_from": rule.effective_from,
        "effective_until": rule.effective_until,
    }


def _write_rules(window: ProcessingWindow, rules: Sequence[Rule]) -> None:
    """Make the window's rule rows match `rules`, position by position: unchanged rows are left
    alone, so the audit log shows what really changed. Saved one by one (audited)."""
    existing = list(WindowRule.objects.filter(window=window).order_by("position"))
    for position, rule in enumerate(rules):
        values = _rule_row_values(rule)
        if position < len(existing):
            row = existing[position]
            row.window = window
            if all(getattr(row, k) == v for k, v in values.items()):
                continue
            for k, v in values.items():
                setattr(row, k, v)
        else:
            row = WindowRule(window=window, position=position, **values)
        row.save()
    for row in existing[len(rules) :]:
        row.window = window
        row.delete()


def _refuse_unknown(data: Mapping[str, Any], fields: Sequence[str]) -> None:
    unknown = set(data) - set(fields)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})


def _clean_window(window: ProcessingWindow, sessions: Any) -> list[Rule]:
    """Check the window's fields and parse its weekly rules (`sessions` in the API's shape;
    absent: its stored rules), naming the problems of both at once."""
    if window.timezone is None:
        window.timezone = ""
    errors = []
    try:
        window.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        errors.append(exc)
    rules: list[Rule] = []
    if sessions is _ABSENT:
        rules = [rule_from_row(r) for r in WindowRule.objects.filter(window=window)]
    else:
        try:
            rules = parse_rules(sessions)
        except ValidationError as exc:
            errors.append(exc)
    if errors:
        raise _merge(*errors)
    return rules


def _after_commit(code: str, kind: str, action: str) -> None:
    transaction.on_commit(lambda: metrics.changed(kind, action))


def create_window(*, data: Mapping[str, Any]) -> ProcessingWindow:
    """Create a window with its weekly rules (`sessions`, the API's JSON shape, at least one).

    `timezone` empty or absent means the calendar's. A duplicate code is an IntegrityError
    (409 through the API); everything else is a ValidationError naming the field.
    """
    data = dict(data)
    sessions = data.pop("sessions", None)
    _refuse_unknown(data, WINDOW_FIELDS)
    with transaction.atomic():
        window = ProcessingWindow(**data)
        rules = _clean_window(window, sessions)
        validate_window_definition(timezone=window.timezone, calendar=window.calendar, rules=rules)
        window.save()
        _write_rules(window, rules)
        _after_commit(window.code, "window", "create")
    return window


def update_window(
    *,
    window: ProcessingWindow,
    data: Mapping[str, Any],
    expected_version: int | None = None,
) -> ProcessingWindow:
    """Change a window and/or replace its rules (`sessions`); `code` is immutable.

    Every change is validated against the window's overrides too. StaleVersion when
    `expected_version` is not the stored version.
    """
    data = {k: v for k, v in data.items() if k != "code"}
    sessions = data.pop("sessions", _ABSENT)
    _refuse_unknown(data, WINDOW_FIELDS)
    with transaction.atomic():
        obj = lock(
            ProcessingWindow.objects.select_related("calendar"),
            expected_version=expected_version,
            pk=window.pk,
        )
        for name, value in data.items():
            setattr(obj, name, value)
        rules = _clean_window(obj, sessions)
        overrides = [override_from_row(o) for o in WindowOverride.objects.filter(window=obj)]
        validate_window_definition(
            timezone=obj.timezone, calendar=obj.calendar, rules=rules, overrides=overrides
        )
        bump(obj)
        obj.save()
        if sessions is not _ABSENT:
            _write_rules(obj, rules)
        _after_commit(obj.code, "window", "update")
    return obj


def delete_window(*, window: ProcessingWindow, expected_version: int | None = None) -> None:
    """Delete a window with its rules and overrides (each deletion audited)."""
    with transaction.atomic():
        obj = lock(ProcessingWindow.objects.all(), expected_version=expected_version, pk=window.pk)
        code = obj.code
        # Deleted one by one so each has its audit entry naming the window.
        for override in WindowOverride.objects.filter(window=obj).order_by("date"):
            override.window = obj
            override.delete()
        for rule in WindowRule.objects.filter(window=obj).order_by("position"):
            rule.window = obj
            rule.delete()
        obj.delete()
        _after_commit(code, "window", "delete")


# -- overrides -------------------------------------------------------------------------------


def _lock_window(window: ProcessingWindow) -> ProcessingWindow:
    # The window row is the lock of everything that is validated together.
    return lock(ProcessingWindow.objects.select_related("calendar"), pk=window.pk)


def create_override(*, window: ProcessingWindow, data: Mapping[str, Any]) -> WindowOverride:
    """Create the override of one date of `window` (`date`, `closed`, `sessions`, `reason`).

    A second override of the same date is an IntegrityError (409 through the API).
    """
    data = dict(data)
    _refuse_unknown(data, OVERRIDE_FIELDS)
    if data.get("sessions") is None:
        data["sessions"] = []
    with transaction.atomic():
        win = _lock_window(window)
        obj = WindowOverride(window=win, **data)
        obj.full_clean(validate_unique=False, validate_constraints=False)
        validate_override_definition(window=win, override=obj)
        obj.save()
        _after_commit(win.code, "override", "create")
    return obj


def update_override(
    *,
    override: WindowOverride,
    data: Mapping[str, Any],
    expected_version: int | None = None,
) -> WindowOverride:
    """Change an override; its `date` is immutable. Closing it (`closed: true` without
    `sessions`) drops its sessions."""
    data = {k: v for k, v in data.items() if k != "date"}
    _refuse_unknown(data, OVERRIDE_FIELDS)
    if data.get("closed") is True and "sessions" not in data:
        data["sessions"] = []
    if "sessions" in data and data["sessions"] is None:
        data["sessions"] = []
    with transaction.atomic():
        win = _lock_window(override.window)
        obj = lock(WindowOverride.objects.all(), expected_version=expected_version, pk=override.pk)
        obj.window = win
        for name, value in data.items():
            setattr(obj, name, value)
        obj.full_clean(validate_unique=False, validate_constraints=False)
        validate_override_definition(window=win, override=obj)
        bump(obj)
        obj.save()
        _after_commit(win.code, "override", "update")
    return obj


def delete_override(*, override: WindowOverride, expected_version: int | None = None) -> None:
    """Delete an override: the regular sessions of its date apply again."""
    with transaction.atomic():
        win = _lock_window(override.window)
        obj = lock(WindowOverride.objects.all(), expected_version=expected_version, pk=override.pk)
        obj.window = win
        _check_neighbours_without(win, obj)
        obj.delete()
        _after_commit(win.code, "override", "delete")


def _check_neighbours_without(window: ProcessingWindow, removed: WindowOverride) -> None:
    """Without `removed`, its date gets its regular sessions back: refuse the deletion if
    they would overlap an override of a neighbouring date."""
    rules = [rule_from_row(r) for r in WindowRule.objects.filter(window=window)]
    near = [
        o
        for o in WindowOverride.objects.filter(window=window, date__range=_around(removed.date))
        if o.pk != removed.pk
    ]
    spec = spec_from_rows(window, rules, near)
    cal, _ = business_calendar([window.calendar.code])
    is_business_day = business_day_fn(cal)
    problems: list[str] = []
    for o in near:
        if not o.closed and abs((o.date - removed.date).days) <= 3:
            problems += check_override_against(spec, is_business_day, override_from_row(o))
    if problems:
        raise ValidationError(
            [
                f"Deleting the override of {removed.date.isoformat()} would bring back regular "
                f"sessions that overlap: {p}"
                for p in problems
            ]
        )
