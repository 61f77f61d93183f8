"""Holiday filters: `year`, `start`, `end` — strict, a bad value is a 400 naming it."""

from __future__ import annotations

from datetime import date

import django_filters
from drf_spectacular.utils import extend_schema_field

from calendars.models import Holiday
from cbpconfig.api.exceptions import reject
from cbpconfig.api.filters import NotEmptyCharFilter
from cbpconfig.api.params import parse_date_value
from cbpconfig.dates import SUPPORTED_RANGE, SUPPORTED_YEARS, outside_supported_years


def parse_year(raw: str) -> int:
    text = (raw or "").strip()
    if not text.isdigit() or len(text) != 4:
        raise reject("year", f"{raw!r} is not a year such as 2026.")
    year = int(text)
    if year not in SUPPORTED_YEARS:
        raise reject("year", outside_supported_years(year))
    return year


def _date_bound_schema(side: str) -> dict:
    """The schema of the `start` (on or after) and `end` (on or before) parameters."""
    return {
        "type": "string",
        "format": "date",
        "description": f"Holidays on or {side} this date (within {SUPPORTED_RANGE}).",
    }


class HolidayFilter(django_filters.FilterSet):
    year = NotEmptyCharFilter(
        method="filter_year",
        help_text=f"Holidays of this year ({SUPPORTED_YEARS.start}..{SUPPORTED_YEARS[-1]}).",
    )
    start = NotEmptyCharFilter(
        method="filter_start",
        help_text=f"Holidays on or after this date (YYYY-MM-DD, within {SUPPORTED_RANGE}).",
    )
    end = NotEmptyCharFilter(
        method="filter_end",
        help_text=f"Holidays on or before this date (YYYY-MM-DD, within {SUPPORTED_RANGE}).",
    )

    class Meta:
        model = Holiday
        fields: list[str] = []

    # The schema of each parameter (an override: its description goes with it).
    @extend_schema_field(
        {
            "type": "integer",
            "minimum": SUPPORTED_YEARS.start,
            "maximum": SUPPORTED_YEARS[-1],
            "description": f"Holidays of this year ({SUPPORTED_YEARS.start}..{SUPPORTED_YEARS[-1]}).",
        }
    )
    def filter_year(self, queryset, name, value):
        year = parse_year(value)
        # A range, not __year, so the (calendar, date) index serves it.
        return queryset.filter(date__gte=date(year, 1, 1), date__lte=date(year, 12, 31))

    @extend_schema_field(_date_bound_schema("after"))
    def filter_start(self, queryset, name, value):
        return queryset.filter(date__gte=parse_date_value("start", value))

    @extend_schema_field(_date_bound_schema("before"))
    def filter_end(self, queryset, name, value):
        return queryset.filter(date__lte=parse_date_value("end", value))
