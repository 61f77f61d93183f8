"""Field validators shared by every app (plumbing: no domain imports)."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import date

from django.core.exceptions import ValidationError

from cbpconfig.countries import COUNTRY_CODES

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2199, 12, 31)


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_timezone(name: str) -> bool:
    return isinstance(name, str) and name in _zones()


def validate_timezone(value: str) -> None:
    if not is_timezone(value):
        raise ValidationError(
            f"{value!r} is not a known IANA time zone (e.g. Europe/Berlin).", code="timezone"
        )


def validate_country(value: str) -> None:
    if value not in COUNTRY_CODES:
        raise ValidationError(
            f"{value!r} is not an ISO 3166-1 alpha-2 country code.", code="country"
        )


def validate_supported_date(value: date) -> None:
    if value is not None and not MIN_DATE <= value <= MAX_DATE:
        raise ValidationError(
            f"{value} is outside the supported range 1900-01-01 to 2199-12-31.", code="date_range"
        )
