"""`manage.py import_holidays CALENDAR (--country CC [--subdivision SS] | --market M)
--years 2026-2030`: the import endpoint's work from the command line, audited as
`system:import_holidays`, all or nothing."""

from __future__ import annotations

from django.core.management.base import CommandError

from calendars import services
from calendars.models import Calendar
from cbpconfig.management.base import AuditedCommand


class Command(AuditedCommand):
    help = (
        "Import holidays from the holidays package into a calendar, by country (and "
        "subdivision) or by financial market (ECB = TARGET2). Dates the calendar already has "
        "are kept. Prints 'created N, skipped M'."
    )

    def add_arguments(self, parser):
        parser.add_argument("calendar", help="Calendar code, e.g. TARGET2.")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--country", help="ISO country code, e.g. US.")
        source.add_argument("--market", help="Financial market, e.g. ECB or NYSE.")
        parser.add_argument("--subdivision", help="Subdivision of --country, e.g. CA.")
        parser.add_argument(
            "--years", required=True, help="A year, a range such as 2026-2030, or 2026,2028."
        )

    def handle(self, *args, **options):
        code = options["calendar"]
        calendar = Calendar.objects.filter(code=code).first()
        if calendar is None:
            raise CommandError(f"Unknown calendar {code!r}.")
        source = services.holiday_source(
            country=options.get("country"),
            subdivision=options.get("subdivision"),
            market=options.get("market"),
            years=list(services.parse_year_range(options["years"])),
        )
        result = services.import_holidays(calendar=calendar, source=source)
        self.stdout.write(
            f"{calendar.code}: created {result.created}, skipped {result.skipped} "
            f"({source.label}, {source.years[0]}-{source.years[-1]})"
        )
