"""The console's home: what needs the operations team's attention now.

Every answer comes from the code that serves the API (the compiled window schedules, the
calendars' holiday reach, the flags' rollout) so the home page and the API never disagree.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
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
from windows.preview import WindowNow, window_status

OVERRIDE_DAYS = 14
HOLIDAY_HORIZON_DAYS = 365
SCHEDULED_DAYS = 7
LATEST_CHANGES = 15
SENSITIVE_PERMISSION = "configuration.view_sensitive_value"


def windows_now(
    now: datetime, queryset: QuerySet[ProcessingWindow] | None = None
) -> list[WindowNow]:
    windows = queryset if queryset is not None else ProcessingWindow.objects.all()
    windows = windows.filter(is_active=True).select_related("institution").order_by("code")
    return [window_status(window, now) for window in windows]


def masked(value: object, sensitive: bool, may_see: bool) -> str:
    if sensitive and not may_see:
        return MASK
    return json.dumps(value, ensure_ascii=False)


def attention(user: User | AnonymousUser, now: datetime | None = None) -> dict[str, Any]:
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
            "scope": row.institution.code if row.institution is not None else "global",
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
