"""Field validators shared by every app (plumbing: no domain imports).

The rules themselves (supported dates, ISO weekdays) live in the pure :mod:`cbpconfig.dates`;
these are their Django faces, raising ``ValidationError`` for models, admin forms and (DRF
turns a Django ``ValidationError`` of a field validator into a 400) serializers.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import date

from django.core.exceptions import ValidationError

from cbpconfig.countries import COUNTRY_CODES
from cbpconfig.dates import WeekdayError, in_supported_range, iso_weekdays, outside_supported_range

# Files a host's zoneinfo directory (or the tzdata package) holds that are not time zones an
# institution, calendar or window can be in: "localtime" is a link to whatever zone the host is
# set to (its meaning changes with the machine), "posixrules" is a template for POSIX TZ strings,
# and "Factory" is IANA's placeholder for a machine whose zone was never configured (offset 0,
# abbreviation "-00"). The "posix/" and "right/" trees are copies for other conventions (the
# "right" ones count leap seconds). Every other name of the IANA database is accepted, links
# included ("UTC", "Etc/GMT+5", "US/Eastern"), so stored data stays valid when IANA turns a zone
# into a link.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_NOT_ZONE_PREFIXES = ("posix/", "right/")


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(
        name
        for name in zoneinfo.available_timezones()
        if name not in NOT_ZONES and not name.startswith(_NOT_ZONE_PREFIXES)
    )


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
    if value is not None and not in_supported_range(value):
        raise ValidationError(outside_supported_range(value), code="date_range")


def validate_iso_weekdays(value: object, *, field: str = "weekdays", weekend: bool = False) -> None:
    """:func:`cbpconfig.dates.iso_weekdays` as a Django validator."""
    try:
        iso_weekdays(value, field=field, weekend=weekend)
    except WeekdayError as exc:
        raise ValidationError(str(exc), code="weekdays") from None
