"""Every write to calendars and holidays: API, admin, import and management command alike.

Each write runs in one transaction, validates with the model's rules (``full_clean``), is
audited by django-auditlog (one entry per object). Every saved or deleted calendar or holiday
row bumps the calendar's coherence token after commit (:mod:`calendars.signals`), so no
business-day answer is stale once the change has committed — in this process or any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import holidays as holidays_package
from django.core.exceptions import ValidationError
from django.db import transaction

from calendars import metrics
from calendars.models import Calendar, Holiday
from cbpconfig.dates import SUPPORTED_YEARS, outside_supported_years
from cbpconfig.services import create_object, delete_object, update_object

MAX_IMPORT_YEARS = 50
NAME_MAX_LENGTH = cast("int", Holiday._meta.get_field("name").max_length)  # a CharField's
CALENDAR_FIELDS = ("code", "name", "timezone", "weekend_days", "description")
HOLIDAY_FIELDS = ("date", "name", "source")


def _lock_calendar(calendar_pk: int) -> None:
    """Row-lock the calendar first in every holiday write, so holiday writes on one calendar
    are serialised and always take locks in the same order (calendar, then holiday) as a
    calendar delete does — no deadlock between them."""
    list(Calendar.objects.select_for_update().filter(pk=calendar_pk).values_list("pk"))


# --- calendars -------------------------------------------------------------------------------


def create_calendar(*, data: dict[str, Any]) -> Calendar:
    """Create a calendar (model rules; a duplicate code is an IntegrityError → 409)."""
    data = {k: v for k, v in data.items() if k in CALENDAR_FIELDS}
    return create_object(Calendar, data=data)


def update_calendar(
    *, calendar: Calendar, data: dict[str, Any], expected_version: int | None = None
) -> Calendar:
    """Change a calendar's name, timezone, weekend or description. ``code`` is immutable
    (ignored here; the API refuses a different one). StaleVersion when ``expected_version``
    is not the stored version."""
    data = {k: v for k, v in data.items() if k in CALENDAR_FIELDS and k != "code"}
    return update_object(calendar, data=data, expected_version=expected_version)


def delete_calendar(*, calendar: Calendar, expected_version: int | None = None) -> None:
    """Delete a calendar and (cascade, each audited) its holidays. Refused with ProtectedError
    (409) while institutions or processing windows refer to it; nothing is deleted then."""
    delete_object(calendar, expected_version=expected_version)


# --- holidays --------------------------------------------------------------------------------


def create_holiday(*, calendar: Calendar, data: dict[str, Any], source: str = "manual") -> Holiday:
    """Add a holiday (``date``, ``name``) to a calendar. A date the calendar already has is an
    IntegrityError (409)."""
    fields = {k: v for k, v in data.items() if k in ("date", "name")}
    fields["source"] = data.get("source") or source
    with transaction.atomic():
        _lock_calendar(calendar.pk)
        return create_object(Holiday, data={"calendar": calendar, **fields})


def update_holiday(
    *, holiday: Holiday, data: dict[str, Any], expected_version: int | None = None
) -> Holiday:
    """Change a holiday's name (or source). ``date`` and ``calendar`` are immutable: a holiday
    is addressed by its date, so a different date is a different holiday (delete and create).
    """
    if "date" in data and data["date"] != holiday.date:
        raise ValidationError({"date": ["date is immutable: delete this holiday and create one."]})
    fields = {k: v for k, v in data.items() if k in ("name", "source")}
    with transaction.atomic():
        _lock_calendar(holiday.calendar_id)
        return update_object(holiday, data=fields, expected_version=expected_version)


def delete_holiday(*, holiday: Holiday, expected_version: int | None = None) -> None:
    """Remove a holiday from its calendar."""
    with transaction.atomic():
        _lock_calendar(holiday.calendar_id)
        delete_object(holiday, expected_version=expected_version)


# --- import from the `holidays` package ------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    created: int
    skipped: int


@dataclass(frozen=True)
class HolidaySource:
    """A validated import source: what to ask the `holidays` package, and the `source` label
    stored on each holiday it makes (``holidays:US``, ``holidays:US-CA``, ``holidays:ECB``)."""

    country: str | None
    subdivision: str | None
    market: str | None
    years: tuple[int, ...]

    @property
    def label(self) -> str:
        if self.market:
            return f"holidays:{self.market}"
        if self.subdivision:
            return f"holidays:{self.country}-{self.subdivision}"
        return f"holidays:{self.country}"

    def fetch(self) -> dict[date, str]:
        """``{date: name}`` from the package; several names on one date joined with ``"; "``."""
        if self.market:
            entries = holidays_package.financial_holidays(self.market, years=list(self.years))
        elif self.country:
            entries = holidays_package.country_holidays(
                self.country, subdiv=self.subdivision, years=list(self.years)
            )
        else:  # holiday_source() never builds one
            raise ValueError("a holiday source names a country or a market")
        result = {}
        for day in sorted(entries):
            names = list(dict.fromkeys(n.strip() for n in entries.get_list(day) if n.strip()))
            result[day] = "; ".join(names) or "Holiday"
        return result


def _canonical(value: str | None, choices: Iterable[str]) -> str | None:
    if value is None:
        return None
    by_upper = {c.upper(): c for c in choices}
    return by_upper.get(value.strip().upper())


def parse_years(value: Any, field: str = "years") -> tuple[int, ...]:
    """Validate a list of years (each in 1900..2199, spanning at most 50 years)."""
    if not isinstance(value, list | tuple) or not value:
        raise ValidationError({field: ["Give a non-empty list of years, e.g. [2026, 2027]."]})
    years = []
    for year in value:
        if isinstance(year, bool) or not isinstance(year, int):
            raise ValidationError({field: [f"{year!r} is not a year (an integer)."]})
        if year not in SUPPORTED_YEARS:
            raise ValidationError({field: [outside_supported_years(year)]})
        years.append(year)
    span = max(years) - min(years) + 1
    if span > MAX_IMPORT_YEARS:
        raise ValidationError(
            {field: [f"The years span {span} years; at most {MAX_IMPORT_YEARS} are allowed."]}
        )
    return tuple(sorted(set(years)))


def parse_year_range(text: str, field: str = "years") -> tuple[int, ...]:
    """Years written by a person: ``2026``, ``2026-2030`` (inclusive) or ``2026,2028``.
    Validated like :func:`parse_years`; ValidationError naming ``field`` otherwise."""
    years: list[int] = []
    for part in str(text or "").replace(" ", "").split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValidationError(
                {field: [f"{text!r} is not a year or a range of years such as 2026-2030."]}
            )
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise ValidationError({field: [f"The range {part} runs backwards."]})
        if high - low >= MAX_IMPORT_YEARS:
            raise ValidationError(
                {field: [f"The years span more than {MAX_IMPORT_YEARS} years ({part})."]}
            )
        years.extend(range(low, high + 1))
    if not years:
        raise ValidationError({field: ["Give a year or a range of years such as 2026-2030."]})
    return parse_years(years, field)


def holiday_source(
    *,
    country: str | None = None,
    subdivision: str | None = None,
    market: str | None = None,
    years: Any,
) -> HolidaySource:
    """Validate import arguments against the installed `holidays` package: either a country
    (ISO code, optionally a subdivision) or a financial market (``ECB`` = TARGET2, ``NYSE``...).
    Codes are matched case-insensitively and stored as the package spells them.
    ValidationError naming the field otherwise."""
    country = country or None
    subdivision = subdivision or None
    market = market or None
    if country and market:
        raise ValidationError({"market": ["Give either a country or a market, not both."]})
    if not country and not market:
        raise ValidationError({"country": ["Give a country (e.g. US) or a market (e.g. ECB)."]})
    for name, value in (("country", country), ("subdivision", subdivision), ("market", market)):
        if value is not None and not isinstance(value, str):
            raise ValidationError({name: [f"{value!r} is not a code."]})
    if market:
        if subdivision:
            raise ValidationError({"subdivision": ["A subdivision applies to a country only."]})
        canonical = _canonical(market, holidays_package.list_supported_financial())
        if canonical is None:
            raise ValidationError(
                {"market": [f"{market!r} is not a financial market of the holidays package."]}
            )
        return HolidaySource(None, None, canonical, parse_years(years))
    supported = holidays_package.list_supported_countries()
    canonical = _canonical(country, supported)
    if canonical is None:
        raise ValidationError(
            {"country": [f"{country!r} is not a country of the holidays package."]}
        )
    subdiv = None
    if subdivision:
        subdiv = _canonical(subdivision, supported[canonical])
        if subdiv is None:
            raise ValidationError(
                {"subdivision": [f"{subdivision!r} is not a subdivision of {canonical}."]}
            )
    return HolidaySource(canonical, subdiv, None, parse_years(years))


def holiday_source_from(data: dict[str, Any]) -> HolidaySource:
    """The source named by a form's cleaned data (country, subdivision, market, years as
    text such as 2026-2030); ValidationError naming the field otherwise."""
    return holiday_source(
        country=data.get("country"),
        subdivision=data.get("subdivision"),
        market=data.get("market"),
        years=list(parse_year_range(data.get("years", ""))),
    )


def import_holidays(*, calendar: Calendar, source: HolidaySource) -> ImportResult:
    """Add the source's holidays to the calendar; dates it already has are kept as they are
    (idempotent). One audited create per new holiday, ``source`` set to ``source.label``."""
    with metrics.holiday_import():
        entries = source.fetch()
    with transaction.atomic():
        # Lock the calendar: two imports at once must not both create the same date.
        locked = Calendar.objects.select_for_update().get(pk=calendar.pk)
        existing = set(
            Holiday.objects.filter(calendar=locked, date__in=list(entries)).values_list(
                "date", flat=True
            )
        )
        created = 0
        for day, name in entries.items():
            if day in existing:
                continue
            if len(name) > NAME_MAX_LENGTH:
                name = name[: NAME_MAX_LENGTH - 1] + "…"
            # One object at a time (not bulk_create) so each has its audit entry.
            create_object(
                Holiday,
                data={"calendar": locked, "date": day, "name": name, "source": source.label},
            )
            created += 1
    return ImportResult(created=created, skipped=len(entries) - created)
