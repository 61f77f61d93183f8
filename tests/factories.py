"""Test data built through the services, as the API and the admin build it, and the few checks
many test modules make the same way. Plain functions: call them from fixtures and tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Institutions by BIC; any other code gets its code as name, the BIC's country and Berlin time.
INSTITUTIONS: dict[str, dict[str, str]] = {
    "DEUTDEFF": {"name": "Deutsche Bank", "country": "DE", "timezone": "Europe/Berlin"},
    "BNPAFRPP": {"name": "BNP Paribas", "country": "FR", "timezone": "Europe/Paris"},
}


def make_institution(code: str = "DEUTDEFF", **fields: Any):
    """An institution created through configuration.services; `fields` add to or override the
    defaults (INSTITUTIONS)."""
    from configuration.services import create_institution

    defaults = INSTITUTIONS.get(code) or {"name": code, "country": code[4:6]}
    data = {"code": code, "timezone": "Europe/Berlin", **defaults, **fields}
    return create_institution(data=data)


def make_calendar(code: str = "TARGET2", *, holidays: Mapping[str, Any] | None = None, **fields):
    """A calendar (named after its code unless `fields` say otherwise) created through
    calendars.services; `holidays` are holiday_source() arguments to import from."""
    from calendars import services

    calendar = services.create_calendar(data={"code": code, "name": code, **fields})
    if holidays is not None:
        services.import_holidays(calendar=calendar, source=services.holiday_source(**holidays))
    return calendar


def make_configuration(key: str, value_type: str = "integer", **fields: Any):
    """A configuration definition created through configuration.services."""
    from configuration.services import create_configuration

    return create_configuration(data={"key": key, "value_type": value_type, **fields})


def session(opens: str = "07:00", closes: str = "18:00", **changes: Any) -> dict[str, Any]:
    """A Monday-to-Friday session rule as the API takes it; `changes` override its fields."""
    rule: dict[str, Any] = {"label": "day", "weekdays": [1, 2, 3, 4, 5]}
    rule |= {"opens": opens, "opens_day_offset": 0, "closes": closes, "closes_day_offset": 0}
    return rule | changes


def run_manage(*args: str, env: Mapping[str, str], timeout: int = 300):
    """`manage.py *args` in a separate process (as an operator runs it), output captured."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def environ_without(*names: str) -> dict[str, str]:
    """This process's environment less `names`."""
    return {k: v for k, v in os.environ.items() if k not in names}


def crud_calls(list_url: str, detail_url: str) -> list[tuple[str, str]]:
    """(method, url) of every list and detail endpoint of a resource."""
    detail = [(method, detail_url) for method in ("get", "put", "patch", "delete")]
    return [("get", list_url), ("post", list_url), *detail]


def assert_status_everywhere(client, calls: Iterable[tuple[str, str]], status: int) -> None:
    """Each (method, url), called with an empty JSON body, answers `status`."""
    for method, url in calls:
        assert getattr(client, method)(url, {}, format="json").status_code == status, (method, url)


def assert_stale_version_refused(client, url: str, field: str, first: Any, second: Any) -> None:
    """Two PATCHes of `field`, both If-Match "1": the first is taken (ETag "2"), the second 412."""
    ok = client.patch(url, {field: first}, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200
    assert ok["ETag"] == '"2"'
    stale = client.patch(url, {field: second}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412


def assert_field_refused(client, url: str, body: dict[str, Any], field: str) -> None:
    """PATCH `body` answers 400 naming `field`."""
    response = client.patch(url, body, format="json")
    assert response.status_code == 400
    assert field in response.json()


# -- the console's estate and its role users (the test_console_* modules, the browser test) --

CONSOLE_ROLES = (
    "Operations editor",
    "Configuration administrator",
    "Auditor",
    "API-key administrator",
)
CONSOLE_PASSWORD = "console-pass-1!"
ROLES_MIGRATION_NAME = "0003_console_roles"
AUDITOR_MIGRATION_NAME = "0004_auditor_without_sensitive_values"


def closing_soon_rule(now, minutes: int = 30) -> dict[str, Any]:
    """A daily rule (UTC) whose session of today's business date closes ``minutes`` after
    ``now`` and opened three hours before it."""
    from datetime import timedelta

    business_date = now.date()
    opens, closes = now - timedelta(hours=3), now + timedelta(minutes=minutes)
    return {
        "label": "day",
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "opens": opens.strftime("%H:%M:%S"),
        "opens_day_offset": (opens.date() - business_date).days,
        "closes": closes.strftime("%H:%M:%S"),
        "closes_day_offset": (closes.date() - business_date).days,
    }


def make_estate() -> dict[str, Any]:
    """A calendar open every day (holidays of this year only), an institution, a window that
    closes in 30 minutes with an override in two days, configurations (one sensitive, one
    value scheduled in three days), a flag in partial rollout — each written by a command."""
    from datetime import date, timedelta
    from decimal import Decimal

    from django.utils import timezone

    from calendars import services as calendar_services
    from cbpconfig.audit import system_actor
    from configuration import services as configuration_services
    from flags import services as flag_services
    from windows import services as window_services

    now = timezone.now()
    today = now.date()
    with system_actor("seed"):
        calendar = make_calendar("TARGET2", timezone="UTC", weekend_days=[])
        calendar_services.create_holiday(
            calendar=calendar, data={"date": date(today.year, 12, 31), "name": "Year end"}
        )
        bank = make_institution("DEUTDEFF", calendar=calendar)
        window = window_services.create_window(
            data={
                "code": "SCT-INST",
                "name": "SEPA instant",
                "calendar": calendar,
                "timezone": "UTC",
                "institution": bank,
                "sessions": [closing_soon_rule(now)],
            }
        )
        window_services.create_override(
            window=window,
            data={"date": today + timedelta(days=2), "closed": True, "reason": "Staff outing"},
        )
        limit = make_configuration(
            "payments.limit", schema={"type": "integer", "minimum": 0}, default=10
        )
        configuration_services.create_value(
            configuration=limit,
            data={"value": 500, "institution": None, "effective_from": now - timedelta(days=1)},
        )
        configuration_services.create_value(
            configuration=limit,
            data={"value": 900, "institution": bank, "effective_from": now + timedelta(days=3)},
        )
        secret = make_configuration("gateway.token", "string", is_sensitive=True)
        configuration_services.create_value(
            configuration=secret,
            data={
                "value": "tok-Zq81xW",
                "institution": bank,
                "effective_from": now + timedelta(days=1),
            },
        )
        flag = flag_services.create_flag(
            data={
                "name": "instant-payments",
                "rollout_percent": Decimal("25.0"),
                "institutions": [bank],
            }
        )
    return {
        "calendar": calendar,
        "bank": bank,
        "window": window,
        "limit": limit,
        "secret": secret,
        "flag": flag,
        "now": now,
    }


def ensure_roles() -> None:
    """The roles as the data migrations make them (0003 creates them, 0004 takes sensitive
    values in clear from the Auditor). A transactional test (the e2e suite) empties every table
    after it, the migrations' groups too: put them back for the tests after it."""
    import importlib

    from django.contrib.auth.models import Group
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    if Group.objects.filter(name__in=CONSOLE_ROLES).count() == len(CONSOLE_ROLES):
        return
    loader = MigrationExecutor(connection).loader
    for name, function in (
        (ROLES_MIGRATION_NAME, "create_roles"),
        (AUDITOR_MIGRATION_NAME, "withdraw"),
    ):
        migration = importlib.import_module(f"cbpconfig.migrations.{name}")
        getattr(migration, function)(loader.project_state(("cbpconfig", name)).apps, None)


def role_clients(django_user_model):
    """role_client("Auditor") -> a logged-in Client of a staff user in that role (group)."""
    from django.contrib.auth.models import Group
    from django.test import Client

    ensure_roles()

    def make(role: str, username: str | None = None) -> Client:
        username = username or role.lower().replace(" ", "-").replace("-administrator", "-admin")
        user = django_user_model.objects.create_user(
            username, password=CONSOLE_PASSWORD, is_staff=True
        )
        user.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(user)
        return client

    return make
