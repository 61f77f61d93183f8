"""Template tags of the console: the environment banner on every page, and durations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.conf import settings

register = template.Library()

#: What each environment's banner says; its colour comes from the CSS class of its name.
ENVIRONMENT_NOTES = {
    "development": "Development: demo data; nothing here reaches a bank.",
    "staging": "Staging: a rehearsal of production; changes here do not reach production.",
    "production": "Production: changes here take effect for the banks at once.",
}


@register.inclusion_tag("admin/console/_environment_banner.html")
def environment_banner() -> dict[str, str]:
    environment = settings.CBP_ENVIRONMENT
    return {
        "environment": environment,
        "note": ENVIRONMENT_NOTES.get(environment, environment),
        "release": settings.CBP_RELEASE,
    }


@register.filter
def duration(seconds: Any) -> str:
    """``5400`` -> ``"1 h 30 min"``; ``42`` -> ``"42 s"``."""
    try:
        total = int(seconds)  # anything a template passes
    except (TypeError, ValueError):
        return ""
    days, rest = divmod(max(total, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


@register.filter
def seconds_until(moment: datetime | None, now: datetime | None) -> int | None:
    if moment is None or now is None:
        return None
    return int((moment - now).total_seconds())
