"""`manage.py load_demo`: a small, realistic demo data set, and an admin user whose password is
printed once. Idempotent: running it again changes nothing that exists.

Development only: in staging and production it refuses (exit 1, one line on stderr) before
touching anything, because it creates a superuser with a printed password.

Lives in the project package (the entry point that knows every app) because it uses every
app's services, exactly as the API and admin do."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from cbpconfig.management.base import AuditedCommand

YEARS = list(range(2025, 2031))


class Command(AuditedCommand):
    help = "Load demo institutions, calendars (TARGET2, US Fed), windows, configurations and flags."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--admin-username", default="admin")

    def execute(self, *args: Any, **options: Any) -> str | None:
        # Before AuditedCommand opens its transaction: refuse without touching the database.
        if settings.CBP_ENVIRONMENT != "development":
            raise CommandError(
                f"load_demo runs in development only (CBP_ENVIRONMENT={settings.CBP_ENVIRONMENT}): "
                "it creates a superuser"
            )
        return super().execute(*args, **options)

    def handle(self, *args: Any, admin_username: str = "admin", **options: Any) -> None:
        from calendars import services as calendars
        from calendars.models import Calendar
        from configuration import services as configuration
        from configuration.models import Configuration, Institution
        from flags import services as flags
        from flags.models import Flag
        from windows import services as windows
        from windows.models import ProcessingWindow

        def calendar(code: str, name: str, tz: str, market: str) -> Calendar:
            existing = Calendar.objects.filter(code=code).first()
            if existing:
                return existing
            created = calendars.create_calendar(data={"code": code, "name": name, "timezone": tz})
            calendars.import_holidays(
                calendar=created, source=calendars.holiday_source(market=market, years=YEARS)
            )
            return created

        target2 = calendar("TARGET2", "TARGET2 (ECB)", "Europe/Berlin", "ECB")
        usfed = calendar("USFED", "US Federal Reserve", "America/New_York", "XFED")

        banks = {}
        for code, name, country, tz, cal in [
            ("DEUTDEFF", "Deutsche Bank", "DE", "Europe/Berlin", target2),
            ("BNPAFRPP", "BNP Paribas", "FR", "Europe/Paris", target2),
            ("CHASUS33", "JPMorgan Chase", "US", "America/New_York", usfed),
        ]:
            banks[code] = Institution.objects.filter(
                code=code
            ).first() or configuration.create_institution(
                data={
                    "code": code,
                    "name": name,
                    "country": country,
                    "timezone": tz,
                    "calendar": cal,
                }
            )

        window_defs = [
            {
                "code": "SCT-INST",
                "name": "SEPA credit transfers",
                "calendar": target2,
                "payment_type": "SCT",
                "sessions": [
                    {
                        "label": "day",
                        "weekdays": [1, 2, 3, 4, 5],
                        "opens": "07:00",
                        "opens_day_offset": 0,
                        "closes": "18:00",
                        "closes_day_offset": 0,
                    },
                ],
            },
            {
                "code": "FEDWIRE",
                "name": "Fedwire Funds",
                "calendar": usfed,
                "payment_type": "RTGS",
                "sessions": [
                    {
                        "label": "day",
                        "weekdays": [1, 2, 3, 4, 5],
                        "opens": "21:00",
                        "opens_day_offset": -1,
                        "closes": "19:00",
                        "closes_day_offset": 0,
                    },
                ],
            },
        ]
        for definition in window_defs:
            if not ProcessingWindow.objects.filter(code=definition["code"]).exists():
                windows.create_window(data=definition)

        config_defs = [
            ("payments.max_amount", "decimal", {"type": "string"}, "1000000.00", False),
            ("payments.instant_enabled", "boolean", None, False, False),
            (
                "routing.preferred_scheme",
                "string",
                {"enum": ["SCT", "SCT_INST", "RTGS"]},
                "SCT",
                False,
            ),
            ("limits.daily_count", "integer", {"minimum": 0}, 10000, False),
            ("connectivity.api_secret", "string", None, None, True),
        ]
        for key, value_type, schema, default, sensitive in config_defs:
            if Configuration.objects.filter(key=key).exists():
                continue
            created = configuration.create_configuration(
                data={
                    "key": key,
                    "description": f"Demo setting {key}",
                    "value_type": value_type,
                    "schema": schema,
                    "default": default,
                    "is_sensitive": sensitive,
                }
            )
            if key == "payments.max_amount":
                configuration.create_value(
                    configuration=created,
                    data={
                        "institution": banks["DEUTDEFF"],
                        "value": "5000000.00",
                        "effective_from": datetime(2026, 1, 1, tzinfo=UTC),
                    },
                )

        for name, note, percent, members in [
            ("instant-payments", "SCT Inst for early adopters", "25.0", ["DEUTDEFF"]),
            ("new-ledger", "New ledger backend", "0", []),
        ]:
            if not Flag.objects.filter(name=name).exists():
                flags.create_flag(
                    data={
                        "name": name,
                        "note": note,
                        "rollout_percent": percent,
                        "institutions": members,
                    }
                )

        User = get_user_model()
        if User.objects.filter(username=admin_username).exists():
            self.stdout.write(
                f"demo data ready; admin user {admin_username!r} already exists (password unchanged)"
            )
            return
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            User.objects.create_superuser(admin_username, f"{admin_username}@example.com", password)
        self.stdout.write("demo data ready")
        self.stdout.write(
            f"admin user: {admin_username}  password: {password}  (http://127.0.0.1:8000/admin/)"
        )
