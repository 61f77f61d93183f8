"""The console's home: what needs the operations team's attention now.

Every answer comes from the code that serves the API (the compiled window schedules, the
calendars' holiday reach, the flags' rollout) so the home page and the API never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.urls import reverse
from django.utils import timezone

from calendars import selectors as calendar_selectors
from cbpconfig.console.history import describe_entries
from cbpconfig.models import AuditEntry
from configuration.models import ConfigurationValue
from configuration.resolution import MASK
from flags import selectors as flag_selectors
from flags.models import Flag
from windows.models import ProcessingWindow, WindowOverride
from windows.selectors import compiled_window

CLOSING_SOON = timedelta(hours=1)
OVERRIDE_DAYS = 14
HOLIDAY_HORIZON_DAYS = 365
SCHEDULED_DAYS = 7
LATEST_CHANGES = 15
SENSITIVE_PERMISSION = "configuration.view_sensitive_value"


@dataclass
class WindowNow:
    code: str
    name: str
    url: str
    institution: str | None
    timezone: str
    is_open: bool
    closes_at: datetime | None  # the cut-off of the session open now
    next_opens_at: datetime | None
    next_closes_at: datetime | None
    seconds_until_close: int | None

    @property
    def closing_soon(self) -> bool:
        return self.is_open and (self.seconds_until_close or 0) <= CLOSING_SOON.total_seconds()


def window_status(window: ProcessingWindow, now: datetime) -> WindowNow:
    """The window's status at ``now`` as the status endpoint computes it."""
    compiled = compiled_window(window.code)
    status = compiled.schedule.status(now)
    current, upcoming = status.current_session, status.next_session
    return WindowNow(
        code=window.code,
        name=window.name,
        url=reverse("admin:windows_processingwindow_change", args=[window.pk]),
        institution=window.institution.code if window.institution_id else None,
        timezone=compiled.state.spec.timezone,
        is_open=status.is_open,
        closes_at=current.closes_at if current else None,
        next_opens_at=upcoming.opens_at if upcoming else None,
        next_closes_at=upcoming.closes_at if upcoming else None,
        seconds_until_close=status.seconds_until_close,
    )


def windows_now(now: datetime, queryset=None) -> list[WindowNow]:
    windows = queryset if queryset is not None else ProcessingWindow.objects.all()
    windows = windows.filter(is_active=True).select_related("institution").order_by("code")
    return [window_status(window, now) for window in windows]


def masked(value, sensitive: bool, may_see: bool) -> str:
    if sensitive and not may_see:
        return MASK
    return json.dumps(value, ensure_ascii=False)


def attention(user, now: datetime | None = None) -> dict:
    """Everything the home page shows, as plain data."""
    now = now or timezone.now()
    today: date = now.date()
    may_see = user.has_perm(SENSITIVE_PERMISSION)

    windows = windows_now(now)
    open_now = [w for w in windows if w.is_open]
    closing_soon = [w for w in open_now if w.closing_soon]

    overrides = list(
        WindowOverride.objects.filter(
            date__gte=today, date__lte=today + timedelta(days=OVERRIDE_DAYS)
        )
        .select_related("window")
        .order_by("date", "window__code")
    )

    horizon = today + timedelta(days=HOLIDAY_HORIZON_DAYS)
    calendars_ending = []
    for calendar in calendar_selectors.calendars_with_holidays_until():
        until = calendar_selectors.holidays_until(calendar)
        if until is None or until < horizon:
            calendars_ending.append(
                {
                    "calendar": calendar,
                    "until": until,
                    "url": reverse("admin:calendars_calendar_change", args=[calendar.pk]),
                    "import_url": reverse("console:calendar_import", args=[calendar.pk]),
                }
            )

    scheduled = [
        {
            "value": row,
            "shown": masked(row.value, row.configuration.is_sensitive, may_see),
            "scope": row.institution.code if row.institution_id else "global",
            "url": reverse("admin:configuration_configurationvalue_change", args=[row.pk]),
        }
        for row in ConfigurationValue.objects.filter(
            effective_from__gt=now, effective_from__lte=now + timedelta(days=SCHEDULED_DAYS)
        )
        .select_related("configuration", "institution")
        .order_by("effective_from")
    ]

    partial_flags = []
    for flag in Flag.objects.filter(everyone__isnull=True).order_by("name"):
        if not (0 < flag.rollout_percent < 100 or flag.institutions.exists()):
            continue
        share, active = flag_selectors.rollout_share_of_active(flag)
        partial_flags.append(
            {
                "flag": flag,
                "share": share,
                "reached": round(share * active),
                "active": active,
                "institutions": list(flag.institutions.values_list("code", flat=True)),
                "url": reverse("admin:flags_flag_change", args=[flag.pk]),
            }
        )

    latest = describe_entries(
        AuditEntry.objects.select_related("actor").order_by("-timestamp", "-id")[:LATEST_CHANGES]
    )
    return {
        "now": now,
        "open_now": open_now,
        "closing_soon": closing_soon,
        "closed_windows": [w for w in windows if not w.is_open],
        "overrides": overrides,
        "override_days": OVERRIDE_DAYS,
        "calendars_ending": calendars_ending,
        "horizon": horizon,
        "scheduled": scheduled,
        "scheduled_days": SCHEDULED_DAYS,
        "partial_flags": partial_flags,
        "latest": latest,
    }
