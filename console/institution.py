"""One institution, whole: its effective configuration with where each value comes from, its
flags as evaluated for it (with the reason), its windows and their status, its API keys and
its recent changes — at now or at any instant ("evaluate at time T").

The answers are the API's: configuration through ``configuration.selectors`` and the pure
resolver, flags through ``flags.selectors``, window status through the compiled schedules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AnonymousUser, User
from django.urls import reverse
from django.utils import timezone

from cbpconfig.console.history import describe_entries, entries_for
from cbpconfig.dates import MAX_DATE, MIN_DATE
from cbpconfig.models import APIKey
from configuration.models import Configuration, Institution
from configuration.resolution import MASK
from configuration.selectors import resolve_institution_uncached
from console.home import SENSITIVE_PERMISSION
from flags import selectors as flag_selectors
from windows.preview import window_status
from windows.selectors import visible_windows

RECENT_CHANGES = 30
SOURCE_TEXT = {
    "institution": "this institution's value",
    "global": "the global value",
    "default": "the configuration's default",
}
REASON_TEXT = {
    "STATIC": "fixed: deployment or environment override, or on/off for everyone",
    "TARGETING_MATCH": "the institution is listed on the flag",
    "SPLIT": "within the rollout percentage",
    "DEFAULT": "outside the rollout percentage",
}


class BadInstant(ValueError):
    """The "evaluate at" input is not an instant."""


def parse_at(raw: str | None, tz: ZoneInfo) -> datetime | None:
    """``at`` as typed: a local date-time in the institution's zone (the console's picker,
    ``2026-12-24T13:00``) or an instant with Z or an offset. None when empty."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInstant(f"{text!r} is not a date and time such as 2026-12-24T13:00.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    if not MIN_DATE <= value.date() <= MAX_DATE:
        raise BadInstant("Outside the supported range 1900-01-01 to 2199-12-31.")
    return value


@dataclass
class ConfigRow:
    key: str
    value: str
    source: str
    source_text: str
    effective_from: datetime | None
    url: str


def overview(
    institution: Institution, user: User | AnonymousUser, at: datetime | None
) -> dict[str, Any]:
    """Everything the institution page shows, at ``at`` (None: now)."""
    now = timezone.now()
    moment = at or now
    may_see = user.has_perm(SENSITIVE_PERMISSION)

    resolved = resolve_institution_uncached(institution=institution, at=moment)
    config_ids = dict(Configuration.objects.values_list("key", "pk"))
    configuration = [
        ConfigRow(
            key=key,
            value=MASK
            if (key in resolved.sensitive and not may_see)
            else json.dumps(entry.value, ensure_ascii=False),
            source=entry.source,
            source_text=SOURCE_TEXT.get(entry.source, entry.source),
            effective_from=entry.effective_from,
            url=reverse("admin:configuration_configuration_change", args=[config_ids[key]])
            if key in config_ids
            else "",
        )
        for key, entry in sorted(resolved.resolved.items())
    ]

    try:
        evaluation = flag_selectors.evaluate_institution(institution.code)
        flags = [
            {
                "name": result.name,
                "enabled": result.enabled,
                "reason": result.reason,
                "reason_text": REASON_TEXT.get(result.reason, ""),
            }
            for result in evaluation.results
        ]
        environment = evaluation.environment
    except flag_selectors.UnknownInstitution:
        flags, environment = [], flag_selectors.environment()

    windows = [window_status(w, moment) for w in visible_windows(institution.pk)]
    keys = list(APIKey.objects.filter(institution=institution).order_by("-created"))
    changes = describe_entries(entries_for(institution)[:RECENT_CHANGES])
    return {
        "institution": institution,
        "at": moment,
        "at_given": at is not None,
        "at_local": moment.astimezone(ZoneInfo(institution.timezone)),
        "configuration": configuration,
        "flags": flags,
        "environment": environment,
        "windows": windows,
        "keys": keys,
        "changes": changes,
    }
