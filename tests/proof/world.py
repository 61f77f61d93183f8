"""The seeded world every proof part works on: two institutions A and B, each with its own
window (with an override), configuration values and a flag that targets it, plus platform-wide
objects (calendars with a holiday, a platform-wide window, global values, flags), and one API
key of every kind. Built through the services, as the API and admin build it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.factories import make_configuration, session

A = "DEUTDEFF"
B = "BNPAFRPP"


@dataclass
class World:
    """Natural keys of the seeded objects, by owner: 'A', 'B' or 'platform'."""

    calendars: dict[str, str] = field(default_factory=dict)
    holidays: dict[str, tuple[str, str]] = field(default_factory=dict)
    institutions: dict[str, str] = field(default_factory=dict)
    windows: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, tuple[str, str]] = field(default_factory=dict)
    configurations: dict[str, str] = field(default_factory=dict)
    values: dict[str, tuple[str, int]] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)
    audit_entry: int | None = None
    keys: dict[str, str] = field(default_factory=dict)


KEY_KINDS = (
    "none",
    "bad",
    "revoked",
    "platform_read",
    "platform_write",
    "a_read",
    "a_write",  # an institution key created with can_write=True where the model allows it
    "staff",
)


def seed(*, with_keys: bool = True) -> World:
    from calendars import services as calendars
    from cbpconfig.models import APIKey, AuditEntry
    from configuration import services as configuration
    from flags import services as flags
    from windows import services as windows

    world = World()
    t2 = calendars.create_calendar(
        data={"code": "TARGET2", "name": "TARGET2", "timezone": "Europe/Berlin"}
    )
    us = calendars.create_calendar(
        data={"code": "USFED", "name": "US Fed", "timezone": "America/New_York"}
    )
    calendars.create_holiday(calendar=t2, data={"date": "2026-12-25", "name": "Christmas"})
    calendars.create_holiday(calendar=us, data={"date": "2026-07-03", "name": "Independence"})
    world.calendars = {"platform": "TARGET2", "platform2": "USFED"}
    world.holidays = {"platform": ("TARGET2", "2026-12-25"), "platform2": ("USFED", "2026-07-03")}

    insts: dict[str, Any] = {}
    for owner, code, name, country, tz in (
        ("A", A, "Deutsche Bank", "DE", "Europe/Berlin"),
        ("B", B, "BNP Paribas", "FR", "Europe/Paris"),
    ):
        insts[owner] = configuration.create_institution(
            data={"code": code, "name": name, "country": country, "timezone": tz, "calendar": t2}
        )
        world.institutions[owner] = code

    for owner, code, inst in (
        ("platform", "SCT", None),
        ("A", "A-WIN", insts["A"]),
        ("B", "B-WIN", insts["B"]),
    ):
        data = {"code": code, "name": f"{owner} window", "calendar": t2, "institution": inst}
        win = windows.create_window(data={**data, "payment_type": "SCT", "sessions": [session()]})
        windows.create_override(
            window=win, data={"date": "2026-12-24", "closed": True, "reason": "Christmas Eve"}
        )
        world.windows[owner] = code
        world.overrides[owner] = (code, "2026-12-24")

    for owner, key, vtype, default in (
        ("platform", "payments.max_amount", "decimal", "1000000.00"),
        ("platform2", "limits.daily_count", "integer", 100),
    ):
        make_configuration(
            key, vtype, description="proof", schema=None, default=default, is_sensitive=False
        )
        world.configurations[owner] = key
    from configuration.models import Configuration

    definition = Configuration.objects.get(key="payments.max_amount")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for owner, inst, value in (
        ("platform", None, "2000000.00"),
        ("A", insts["A"], "5000000.00"),
        ("B", insts["B"], "7000000.00"),
    ):
        row = configuration.create_value(
            configuration=definition,
            data={"institution": inst, "value": value, "effective_from": t0},
        )
        world.values[owner] = ("payments.max_amount", row.pk)

    for owner, name, members in (
        ("platform", "new-ledger", []),
        ("A", "a-only", [A]),
        ("B", "b-only", [B]),
    ):
        flags.create_flag(
            data={"name": name, "note": "proof", "rollout_percent": "0", "institutions": members}
        )
        world.flags[owner] = name

    entry = AuditEntry.objects.order_by("-pk").first()
    world.audit_entry = entry.pk if entry else None

    if with_keys:
        keys = world.keys
        _, keys["platform_read"] = APIKey.objects.create_key(name="p-read")
        _, keys["platform_write"] = APIKey.objects.create_key(name="p-write", can_write=True)
        _, keys["a_read"] = APIKey.objects.create_key(name="a-read", institution=insts["A"])
        # The database refuses a writing institution key; an institution key whose row says
        # can_write=False is the strongest "A write" key that can exist.
        _, keys["a_write"] = APIKey.objects.create_key(name="a-write", institution=insts["A"])
        revoked, keys["revoked"] = APIKey.objects.create_key(name="gone", can_write=True)
        revoked.revoked = True
        revoked.save()
        keys["bad"] = "AbCdEfGh.not-a-real-key-at-all-0123456789"
    return world


DOMAIN_MODELS = (
    "configuration.Institution",
    "configuration.Configuration",
    "configuration.ConfigurationValue",
    "calendars.Calendar",
    "calendars.Holiday",
    "windows.ProcessingWindow",
    "windows.WindowRule",
    "windows.WindowOverride",
    "flags.Flag",
    "cbpconfig.AuditEntry",
    "cbpconfig.APIKey",
)


def _tables() -> list[str]:
    from django.apps import apps

    tables = []
    for label in DOMAIN_MODELS:
        model = apps.get_model(label)
        tables.append(model._meta.db_table)
        for m2m in model._meta.local_many_to_many:
            through = m2m.remote_field.through
            if through._meta.auto_created:
                tables.append(through._meta.db_table)
    return tables


def snapshot() -> dict[str, tuple[int, str]]:
    """Row count and an MD5 over every row, per domain table (plus the audit log, whose
    entries a refused request must not create, and API keys). One round trip on PostgreSQL."""
    from django.db import connection

    tables = _tables()
    if connection.vendor == "postgresql":
        parts = [
            f"(SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
            f' FROM "{table}" t)'
            for table in tables
        ]
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(parts))
            row = cursor.fetchone()
        return dict(zip(tables, row, strict=True))
    import hashlib

    out = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'SELECT * FROM "{table}"')
            rows = sorted(repr(r) for r in cursor.fetchall())
            out[table] = f"{len(rows)}:" + hashlib.md5("|".join(rows).encode()).hexdigest()
    return out


def diff(before: dict, after: dict) -> list[str]:
    return [f"{t}: {before[t]} -> {after[t]}" for t in before if before[t] != after[t]]
