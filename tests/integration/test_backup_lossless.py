"""Lossless domain archives: backup -> restore gives back every row of every domain table field
by field (microseconds, decimal scale, JSON key order and number types, many-to-many, order of
child rows), also through an incremental chain, and verify_backup says so (exit 0).

Rows are compared as the ORM reads them from the database (``values()``), never through the
archive's own encoding, so a loss in that encoding cannot hide itself.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.serializers.json import DjangoJSONEncoder

from calendars import services as calendars
from calendars.models import Calendar, Holiday
from cbpconfig.backup import NOT_ARCHIVED, domain_models, label_of, read_archive
from configuration import services as configuration
from configuration.models import Configuration, ConfigurationValue, Institution
from flags import services as flags
from flags.models import Flag
from tests.factories import environ_without, run_manage
from windows import services as windows
from windows.models import ProcessingWindow, WindowOverride, WindowRule

pytestmark = pytest.mark.django_db

# The brief's example: an institution created at ...23.684335Z came back as ...23.684000Z.
CREATED = datetime(2025, 3, 4, 5, 6, 23, 684335, tzinfo=UTC)
ROUTING = {
    "zeta": 1,
    "alpha": [3, 1.0, 2.5, {"b": True, "a": None}],
    "mid": {"x": 1.0, "y": 10, "nested": {"deep": [[], {}, "", -0.5]}},
}


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def _manage(*args):
    """A separate process, as an operator runs it (verify_backup creates and drops a scratch
    database, which the test's own connection may not touch)."""
    return run_manage(*args, env=environ_without("CBP_TEST_DB_NAME"))


# --- what "identical" means ------------------------------------------------------------------


def exact(value):
    """A form in which equal means identical: dict key order, int vs float vs bool, decimal
    scale, microseconds and UTC offsets all count."""
    if isinstance(value, dict):
        return ("dict", tuple((key, exact(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return ("list", tuple(exact(item) for item in value))
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    if isinstance(value, datetime | time):
        return (type(value).__name__, value.isoformat())
    return (type(value).__name__, value)


def snapshot() -> dict:
    """Every row of every domain table as the ORM reads it, in the model's own order (so the
    order of child rows counts) and in primary-key order, plus the many-to-many pairs. Only
    the fields declared in NOT_ARCHIVED are left out."""
    tables = {}
    for model in domain_models():
        label = label_of(model)
        names = [
            f.attname
            for f in model._meta.concrete_fields
            if f.name not in NOT_ARCHIVED.get(label, ())
        ]
        manager = model._default_manager
        tables[label] = [exact(row) for row in manager.values(*names)]
        tables[f"{label} by pk"] = [exact(row) for row in manager.order_by("pk").values(*names)]
        for m2m in model._meta.many_to_many:
            through = m2m.remote_field.through
            source, target = m2m.m2m_field_name(), m2m.m2m_reverse_field_name()
            tables[f"{label}.{m2m.name}"] = sorted(
                through.objects.values_list(f"{source}_id", f"{target}_id")
            )
    return tables


def wipe() -> None:
    for model in reversed(domain_models()):
        model._default_manager.all().delete()
    assert not any(m._default_manager.exists() for m in domain_models())


def _edge_values() -> None:
    """Values the API would rarely write but the database holds: exact instants and times."""
    Institution.objects.filter(code="DEUTDEFF").update(created_at=CREATED)
    WindowRule.objects.filter(window__code="SCT-INST", position=0).update(
        opens=time(7, 0, 0, 123456)
    )
    Holiday.objects.filter(pk=Holiday.objects.order_by("pk").first().pk).update(
        updated_at=datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    )


@pytest.fixture
def world(db):
    """The demo data plus: a calendar with imported and manual holidays, overrides, values of
    every kind (nested JSON, float vs int, microsecond instants) and flags with institutions,
    a decimal rollout and environment overrides."""
    run("load_demo")
    calendars.create_calendar(
        data={"code": "USNY", "name": "New York", "timezone": "America/New_York"}
    )
    assert "created" in run(
        "import_holidays", "USNY", "--country", "US", "--subdivision", "NY", "--years", "2026-2027"
    )
    usny = Calendar.objects.get(code="USNY")
    calendars.create_holiday(calendar=usny, data={"date": date(2026, 8, 3), "name": "Closing day"})

    sct = windows.update_window(
        window=ProcessingWindow.objects.get(code="SCT-INST"),
        data={
            "sessions": [
                {
                    "label": "early",
                    "weekdays": [1, 2, 3, 4, 5],
                    "opens": "07:00",
                    "closes": "09:00",
                },
                {"label": "main", "weekdays": [5, 1, 3], "opens": "10:00", "closes": "12:00"},
                {"label": "late", "weekdays": [2], "opens": "13:00", "closes": "18:00"},
            ]
        },
    )
    windows.create_override(
        window=sct,
        data={
            "date": date(2026, 12, 24),
            "sessions": [{"label": "short", "opens": "07:00", "closes": "12:30:15"}],
            "reason": "Christmas Eve",
        },
    )
    windows.create_override(
        window=sct, data={"date": date(2026, 12, 31), "closed": True, "reason": "Year end"}
    )

    deutsche = Institution.objects.get(code="DEUTDEFF")
    routing = configuration.create_configuration(
        data={"key": "routing.table", "value_type": "json", "default": ROUTING}
    )
    configuration.create_value(
        configuration=routing,
        data={
            "value": {"b": 2.0, "a": [1, 1.5, {"z": None, "y": "x"}]},
            "effective_from": datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        },
    )
    configuration.create_value(
        configuration=routing,
        data={
            "institution": deutsche,
            "value": [{"k": 1}, {"k": 1.0}],
            "effective_from": datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=UTC),
        },
    )
    daily = Configuration.objects.get(key="limits.daily_count")
    for moment, value in [
        (datetime(2026, 2, 1, 8, 30, 0, 250000, tzinfo=UTC), 500),
        (datetime(2026, 3, 1, 8, 30, 0, 750001, tzinfo=UTC), 600),
    ]:
        configuration.create_value(
            configuration=daily, data={"value": value, "effective_from": moment}
        )

    flags.create_flag(
        data={
            "name": "fast-lane",
            "note": "rollout with a decimal",
            "rollout_percent": "12.5",
            "institutions": ["DEUTDEFF", "BNPAFRPP"],
            "environment_overrides": {"staging": True, "production": False},
        }
    )
    _edge_values()
    assert Holiday.objects.filter(calendar=usny, source__startswith="holidays:").count() > 5
    return usny


def _backup(tmp_path, *extra) -> Path:
    return Path(run("backup", "--output", str(tmp_path), *extra).strip())


# --- full archives ---------------------------------------------------------------------------


def test_restore__into_emptied_database__every_row_of_every_table_identical(tmp_path, world):
    before = snapshot()
    path = _backup(tmp_path)
    wipe()

    run("restore", str(path))

    assert snapshot() == before


def test_restore__into_changed_database__every_row_of_every_table_identical(tmp_path, world):
    before = snapshot()
    path = _backup(tmp_path)

    deutsche = Institution.objects.get(code="DEUTDEFF")
    configuration.update_institution(institution=deutsche, data={"name": "Renamed"})
    configuration.create_institution(
        data={"code": "COBADEFF", "name": "Commerzbank", "country": "DE", "timezone": "UTC"}
    )
    calendars.update_calendar(calendar=world, data={"name": "NY (changed)", "weekend_days": [7]})
    calendars.delete_holiday(holiday=Holiday.objects.filter(calendar=world).first())
    calendars.create_holiday(calendar=world, data={"date": date(2026, 8, 4), "name": "New"})
    flags.update_flag(
        flag=Flag.objects.get(name="fast-lane"),
        data={"rollout_percent": "50.0", "institutions": ["CHASUS33"], "environment_overrides": {}},
    )
    flags.delete_flag(flag=Flag.objects.get(name="new-ledger"))
    windows.delete_override(override=WindowOverride.objects.get(date=date(2026, 12, 31)))
    windows.update_window(
        window=ProcessingWindow.objects.get(code="SCT-INST"),
        data={
            "sessions": [{"label": "late", "weekdays": [1, 2], "opens": "08:00", "closes": "17:00"}]
        },
    )
    routing_value = ConfigurationValue.objects.filter(configuration__key="routing.table").first()
    configuration.update_value(value=routing_value, data={"value": {"a": 1, "b": 2}})

    run("restore", str(path))

    assert snapshot() == before


def test_restore__microseconds_survive(tmp_path, world):
    deutsche = Institution.objects.get(code="DEUTDEFF")
    assert deutsche.created_at == CREATED
    path = _backup(tmp_path)
    wipe()

    run("restore", str(path))

    assert Institution.objects.get(code="DEUTDEFF").created_at == CREATED
    rules = WindowRule.objects.filter(window__code="SCT-INST")
    assert [(r.position, r.label) for r in rules] == [(0, "early"), (1, "main"), (2, "late")]
    assert rules[0].opens == time(7, 0, 0, 123456)
    assert list(
        ConfigurationValue.objects.filter(configuration__key="limits.daily_count").values_list(
            "effective_from", flat=True
        )
    ) == [
        datetime(2026, 2, 1, 8, 30, 0, 250000, tzinfo=UTC),
        datetime(2026, 3, 1, 8, 30, 0, 750001, tzinfo=UTC),
    ]
    assert str(Flag.objects.get(name="fast-lane").rollout_percent) == "12.5"
    # The archive itself holds the instant to the microsecond.
    row = next(
        r for r in read_archive(path).objects["configuration.institution"] if r["pk"] == deutsche.pk
    )
    assert row["fields"]["created_at"] == "2025-03-04T05:06:23.684335Z"


def test_restore__values_that_swapped_instants__restored(tmp_path, world):
    """Two values of one scope swap their effective_from after the backup (three updates
    through the service): restoring them one by one would collide on the unique instant."""
    before = snapshot()
    path = _backup(tmp_path)
    first, second = ConfigurationValue.objects.filter(
        configuration__key="limits.daily_count", institution=None
    ).order_by("effective_from")
    t1, t2 = first.effective_from, second.effective_from
    configuration.update_value(
        value=first, data={"effective_from": datetime(2030, 1, 1, tzinfo=UTC)}
    )
    configuration.update_value(value=second, data={"effective_from": t1})
    configuration.update_value(
        value=ConfigurationValue.objects.get(pk=first.pk), data={"effective_from": t2}
    )

    dry = run("restore", str(path), "--dry-run")
    assert "configuration.configurationvalue: create 0, update 2, delete 0" in dry
    assert "2 of the updates by delete and create" in dry
    run("restore", str(path))

    assert snapshot() == before


def test_verify_backup__demo_data_holidays_overrides_values_flags__exit_0(tmp_path, world):
    assert WindowOverride.objects.count() == 2
    assert Flag.objects.get(name="fast-lane").institutions.count() == 2
    path = _backup(tmp_path)

    result = _manage("verify_backup", str(path))

    assert result.returncode == 0, result.stderr
    total = sum(m._default_manager.count() for m in domain_models())
    assert f"identical: {total} objects restored and compared" in result.stdout
    declared = ", ".join(
        f"{label}.{n}" for label, names in sorted(NOT_ARCHIVED.items()) for n in sorted(names)
    )
    assert not declared or f"(not archived by design: {declared})" in result.stdout


# --- incremental chains ----------------------------------------------------------------------


def test_incremental_chain__each_link_restores_its_state_exactly(tmp_path, world):
    _backup(tmp_path)
    # Changes with exact values the first incremental must carry.
    Institution.objects.filter(code="BNPAFRPP").update(
        updated_at=datetime(2026, 5, 5, 5, 5, 5, 505050, tzinfo=UTC)
    )
    flags.update_flag(flag=Flag.objects.get(name="fast-lane"), data={"rollout_percent": "0.5"})
    calendars.delete_holiday(holiday=Holiday.objects.filter(calendar=world).first())
    first_state = snapshot()
    first = _backup(tmp_path, "--incremental")

    configuration.create_value(
        configuration=Configuration.objects.get(key="routing.table"),
        data={
            "value": {"later": [1.0, 2], "earlier": {}},
            "effective_from": datetime(2027, 1, 1, 0, 0, 0, 42, tzinfo=UTC),
        },
    )
    flags.update_flag(flag=Flag.objects.get(name="fast-lane"), data={"institutions": []})
    calendars.create_holiday(calendar=world, data={"date": date(2026, 9, 9), "name": "Extra"})
    second_state = snapshot()
    second = _backup(tmp_path, "--incremental")
    assert read_archive(second).manifest["parent"] == first.name

    # Good and changed again: each link restores exactly its own state.
    configuration.update_institution(
        institution=Institution.objects.get(code="CHASUS33"), data={"name": "Later"}
    )
    run("restore", str(first))
    assert snapshot() == first_state
    run("restore", str(second))
    assert snapshot() == second_state

    result = _manage("verify_backup", str(second))
    assert result.returncode == 0, result.stderr
    assert "checksums ok (3 archive(s))" in result.stdout


# --- the format ------------------------------------------------------------------------------


def test_archive__only_the_declared_fields_are_left_out(tmp_path, world):
    for label, names in NOT_ARCHIVED.items():
        model = next(m for m in domain_models() if label_of(m) == label)
        # A stale entry (its field gone) must be removed from the list, not silently kept.
        assert names <= {f.name for f in model._meta.get_fields()}, (label, names)
    archive = read_archive(_backup(tmp_path))
    assert archive.manifest["not_archived"] == {k: sorted(v) for k, v in NOT_ARCHIVED.items()}
    for model in domain_models():
        label = label_of(model)
        expected = {
            f.name
            for f in [*model._meta.concrete_fields, *model._meta.many_to_many]
            if not f.primary_key and f.name not in NOT_ARCHIVED.get(label, ())
        }
        rows = archive.objects[label]
        assert rows, label
        assert all(set(row["fields"]) == expected for row in rows), label


def test_archive__a_declared_field_is_left_out_of_archive_restore_and_comparison(
    tmp_path, world, monkeypatch
):
    """The mechanism behind NOT_ARCHIVED, with a field declared for the test (the list itself
    is empty): the field is neither archived, nor put back, nor compared — and only it."""
    monkeypatch.setitem(NOT_ARCHIVED, "configuration.institution", frozenset({"is_active"}))
    Institution.objects.filter(code="BNPAFRPP").update(is_active=False)
    path = _backup(tmp_path)
    archive = read_archive(path)
    assert archive.manifest["not_archived"]["configuration.institution"] == ["is_active"]
    assert all("is_active" not in r["fields"] for r in archive.objects["configuration.institution"])
    before = snapshot()
    wipe()

    run("restore", str(path))

    assert snapshot() == before  # every other field of every row identical
    assert Institution.objects.get(code="BNPAFRPP").is_active is True  # the field's default
    assert run("restore", str(path), "--dry-run").splitlines()[0] == "no changes"
    # Good case of the same restore without the declaration: the field is archived and back.
    monkeypatch.delitem(NOT_ARCHIVED, "configuration.institution")
    Institution.objects.filter(code="BNPAFRPP").update(is_active=False)
    path = _backup(tmp_path)
    Institution.objects.filter(code="BNPAFRPP").update(is_active=True)
    assert "configuration.institution: create 0, update 1, delete 0" in run("restore", str(path))
    assert Institution.objects.get(code="BNPAFRPP").is_active is False


def _rewrite(path: Path, mutate) -> None:
    payload = json.loads(gzip.decompress(path.read_bytes()))
    mutate(payload)
    path.write_bytes(gzip.compress(json.dumps(payload).encode()))


def test_restore__json_key_order_tampered__refused_untampered_restores(tmp_path, world):
    path = _backup(tmp_path)
    good = tmp_path / "good" / path.name
    good.parent.mkdir()
    good.write_bytes(path.read_bytes())

    def reorder(payload):
        for row in payload["objects"]["configuration.configuration"]:
            if row["fields"]["key"] == "routing.table":
                default = row["fields"]["default"]
                row["fields"]["default"] = dict(reversed(list(default.items())))

    _rewrite(path, reorder)
    with pytest.raises(CommandError, match="checksum mismatch for configuration.configuration"):
        run("restore", str(path))

    before = snapshot()
    Configuration.objects.filter(key="routing.table").update(default={"other": 1})
    run("restore", str(good))
    assert snapshot() == before


def _as_format(payload: dict, version) -> None:
    """Label an archive with another format, as an older writer would have made it: format 1
    sorted the keys of every JSON object, checksummed with DjangoJSONEncoder and sorted keys,
    and archived the fields now left out."""
    payload["manifest"]["format"] = version
    payload["manifest"].pop("not_archived", None)
    for label, names in NOT_ARCHIVED.items():
        for row in payload["objects"][label]:
            row["fields"].update(dict.fromkeys(names, 1))
    for label, rows in payload["objects"].items():
        canonical = json.dumps(rows, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))
        payload["objects"][label] = json.loads(canonical)
        payload["manifest"]["objects"][label]["sha256"] = hashlib.sha256(
            canonical.encode()
        ).hexdigest()


@pytest.mark.postgres  # format 1 did not keep JSON key order; jsonb has an order of its own
def test_restore__format_1_archive_still_restores_unknown_format_refused(tmp_path, world):
    before = snapshot()
    old = _backup(tmp_path)
    _rewrite(old, lambda p: _as_format(p, 1))
    unknown = tmp_path / "future" / old.name
    unknown.parent.mkdir()
    unknown.write_bytes(old.read_bytes())
    _rewrite(unknown, lambda p: p["manifest"].update(format=3))

    with pytest.raises(CommandError, match="archive format 3 is not 1 or 2"):
        run("restore", str(unknown))

    wipe()
    run("restore", str(old))
    assert snapshot() == before
    # Compared without the key order format 1 lost: nothing left to change.
    assert run("restore", str(old), "--dry-run").splitlines()[0] == "no changes"
    # Fields not archived by design are not put back from an old archive that has them.
    for label, names in NOT_ARCHIVED.items():
        model = next(m for m in domain_models() if label_of(m) == label)
        for name in names:
            assert 1 not in model._default_manager.values_list(name, flat=True)

    # A format 2 incremental on top of the format 1 archive restores exactly too.
    flags.update_flag(flag=Flag.objects.get(name="fast-lane"), data={"rollout_percent": "99.9"})
    changed = snapshot()
    incremental = _backup(tmp_path, "--incremental")
    assert read_archive(incremental).manifest["parent"] == old.name
    wipe()
    run("restore", str(incremental))
    assert snapshot() == changed
