"""Query parameters, parsed strictly: a bad one is a 400 naming it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Literal, overload

from django.utils import timezone

from cbpconfig.api.exceptions import reject
from cbpconfig.dates import in_supported_range, outside_supported_range

if TYPE_CHECKING:
    from rest_framework.request import Request

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date_value(name: str, raw: str) -> date:
    if not _DATE.match(raw or ""):
        raise reject(name, f"{raw!r} is not a date in the form YYYY-MM-DD.")
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise reject(name, f"{raw!r} is not a valid calendar date.") from None
    if not in_supported_range(value):
        raise reject(name, outside_supported_range(raw))
    return value


def query_value(request: Request, name: str, expected: str) -> str | None:
    """The raw value of a query parameter, or None when it is absent. Present but empty
    (`?at=`) is a 400 naming it: an empty value is not a value of any type, and silently
    reading it as "absent" would answer a question the caller did not ask. `expected`
    describes a good value in the message."""
    raw: str | None = request.query_params.get(name)
    if raw is not None and not raw.strip():
        raise reject(name, f"This parameter must not be empty ({expected}).")
    return raw


@overload
def query_date(
    request: Request, name: str, *, required: Literal[True] = True, default: None = None
) -> date: ...
@overload
def query_date(
    request: Request, name: str, *, required: bool, default: date | None = None
) -> date | None: ...
def query_date(
    request: Request, name: str, *, required: bool = True, default: date | None = None
) -> date | None:
    raw = query_value(request, name, "YYYY-MM-DD")
    if raw is None:
        if required:
            raise reject(name, "This parameter is required (YYYY-MM-DD).")
        return default
    return parse_date_value(name, raw)


def parse_datetime_value(name: str, raw: str) -> datetime:
    text = raw.strip()
    if "T" not in text and " " not in text:
        raise reject(name, f"{raw!r} is not a date-time such as 2026-12-24T13:00:00Z.")
    try:
        value = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise reject(name, f"{raw!r} is not a date-time such as 2026-12-24T13:00:00Z.") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise reject(name, "A date-time must carry Z or a UTC offset (a naive time is ambiguous).")
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise reject(name, outside_supported_range()) from None
    if not in_supported_range(value):
        raise reject(name, outside_supported_range())
    return value


def query_datetime(request: Request, name: str, *, default_now: bool = True) -> datetime | None:
    raw = query_value(request, name, "a date-time such as 2026-12-24T13:00:00Z")
    if raw is None:
        return timezone.now() if default_now else None
    # A literal '+' in a query string arrives as a space; accept that common slip.
    return parse_datetime_value(name, raw.replace(" ", "+") if "T" in raw else raw)


def parse_int_value(name: str, raw: str, *, low: int, high: int | None = None) -> int:
    """A decimal integer in [low, high] (no upper bound when `high` is None)."""
    text = raw.strip()
    # Bounded length: int() of thousands of digits is slow (and refused past 4300).
    if len(text) > 1000 or not re.fullmatch(r"[+-]?[0-9]+", text):
        raise reject(name, f"{raw[:40]!r} is not an integer.")
    value = int(text)
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f"{low} or more"
        shown = text if len(text) <= 40 else f"{text[:20]}..."
        raise reject(name, f"{shown} is outside {bounds}.")
    return value


def query_int(
    request: Request, name: str, *, low: int, high: int | None, default: int | None = None
) -> int:
    raw = query_value(request, name, "an integer")
    if raw is None:
        if default is None:
            raise reject(name, "This parameter is required (an integer).")
        return default
    return parse_int_value(name, raw, low=low, high=high)


def query_bool(request: Request, name: str, default: bool | None = None) -> bool | None:
    raw = query_value(request, name, "true or false")
    if raw is None:
        return default
    low = raw.lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise reject(name, f"{raw!r} is not true or false.")


def path_date(raw: str) -> date | None:
    """A YYYY-MM-DD date from a URL path (holidays and overrides are addressed by date), or
    None when the segment is not one: the caller answers 404, as for any unknown object."""
    if not _DATE.match(raw or ""):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None
