"""Holiday filters: `year`, `start`, `end` — strict, a bad value is a 400 naming it."""

from __future__ import annotations

from datetime import date

import django_filters

from calendars.models import Holiday
from cbpconfig.api.exceptions import reject
from cbpconfig.api.params import MAX_DATE, MIN_DATE, parse_date_value


def parse_year(raw: str) -> int:
    text = (raw or "").strip()
    if not text.isdigit() or len(text) != 4:
        raise reject("year", f"{raw!r} is not a year such as 2026.")
    year = int(text)
    if not MIN_DATE.year <= year <= MAX_DATE.year:
        raise reject("year", f"{year} is outside the supported years 1900..2199.")
    return year


class HolidayFilter(django_filters.FilterSet):
    year = django_filters.CharFilter(
        method="filter_year", help_text="Holidays of this year (YYYY)."
    )
    start = django_filters.CharFilter(
        method="filter_start", help_text="Holidays on or after this date (YYYY-MM-DD)."
    )
    end = django_filters.CharFilter(
        method="filter_end", help_text="Holidays on or before this date (YYYY-MM-DD)."
    )

    class Meta:
        model = Holiday
        fields = []

    def filter_year(self, queryset, name, value):
        year = parse_year(value)
        # A range, not __year, so the (calendar, date) index serves it.
        return queryset.filter(date__gte=date(year, 1, 1), date__lte=date(year, 12, 31))

    def filter_start(self, queryset, name, value):
        return queryset.filter(date__gte=parse_date_value("start", value))

    def filter_end(self, queryset, name, value):
        return queryset.filter(date__lte=parse_date_value("end", value))
