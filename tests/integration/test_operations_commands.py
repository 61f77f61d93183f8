"""backup, restore, verify_backup, prune_backups, prune_audit_log, verify_integrity,
preflight and smoke_test."""

from __future__ import annotations

import gzip
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from calendars.models import Calendar
from cbpconfig.backup import SUFFIX, read_archive
from cbpconfig.models import AuditEntry
from cbpconfig.services import create_object
from configuration.models import Institution
from configuration.services import create_institution, delete_institution, update_institution
from tests.factories import environ_without, run_manage

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def data(db):
    calendar = create_object(
        Calendar, data={"code": "TARGET2", "name": "TARGET2", "timezone": "Europe/Berlin"}
    )
    banks = [
        create_institution(
            data={
                "code": code,
                "name": name,
                "country": country,
                "timezone": "Europe/Berlin",
                "calendar": calendar,
            }
        )
        for code, name, country in [
            ("DEUTDEFF", "Deutsche Bank", "DE"),
            ("BNPAFRPP", "BNP Paribas", "FR"),
        ]
    ]
    return calendar, banks


def _rewrite(path: Path, mutate) -> None:
    payload = json.loads(gzip.decompress(path.read_bytes()))
    mutate(payload)
    path.write_bytes(gzip.compress(json.dumps(payload).encode()))


def test_backup__full__manifest_counts_and_checksums(tmp_path, data):
    path = Path(run("backup", "--output", str(tmp_path)).strip())
    assert path.exists()
    assert path.name.endswith(SUFFIX)
    archive = read_archive(path)
    manifest = archive.manifest
    assert manifest["kind"] == "full"
    assert manifest["parent"] is None
    assert manifest["format"] == 2
    assert manifest["environment"] == "development"
    assert "configuration.0001_initial" in manifest["migrations"]
    assert manifest["objects"]["configuration.institution"]["count"] == 2
    assert len(manifest["objects"]["configuration.institution"]["sha256"]) == 64
    assert "cbpconfig.apikey" not in archive.objects


def test_restore__after_changes__state_back_and_audited_as_system(tmp_path, data):
    _, (deutsche, bnp) = data
    path = run("backup", "--output", str(tmp_path)).strip()
    update_institution(institution=deutsche, data={"name": "Changed"})
    delete_institution(institution=bnp)
    create_institution(
        data={
            "code": "COBADEFF",
            "name": "Commerzbank",
            "country": "DE",
            "timezone": "Europe/Berlin",
        }
    )

    dry = run("restore", path, "--dry-run")
    assert "configuration.institution: create 1, update 1, delete 1" in dry
    assert Institution.objects.filter(code="COBADEFF").exists()

    run("restore", path)
    assert sorted(Institution.objects.values_list("code", "name")) == [
        ("BNPAFRPP", "BNP Paribas"),
        ("DEUTDEFF", "Deutsche Bank"),
    ]
    actors = set(
        AuditEntry.objects.filter(actor_name="system:restore").values_list("action", flat=True)
    )
    assert actors == {AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE, AuditEntry.Action.DELETE}
    # A new object after the restore gets a fresh primary key (sequences reset).
    created = create_institution(
        data={"code": "COBADEFF", "name": "C", "country": "DE", "timezone": "UTC"}
    )
    assert created.pk not in {deutsche.pk, bnp.pk}


def test_backup__incremental__holds_changes_and_deletions_and_restores_its_state(tmp_path, data):
    _, (deutsche, bnp) = data
    run("backup", "--output", str(tmp_path))
    update_institution(institution=deutsche, data={"name": "Renamed"})
    delete_institution(institution=bnp)
    incremental = Path(run("backup", "--incremental", "--output", str(tmp_path)).strip())
    archive = read_archive(incremental)
    assert archive.kind == "incremental"
    assert archive.manifest["parent"]
    assert [row["fields"]["name"] for row in archive.objects["configuration.institution"]] == [
        "Renamed"
    ]
    assert archive.deleted["configuration.institution"] == [str(bnp.pk)]
    assert archive.objects["calendars.calendar"] == []

    update_institution(institution=Institution.objects.get(code="DEUTDEFF"), data={"name": "Later"})
    run("restore", str(incremental))
    assert list(Institution.objects.values_list("code", "name")) == [("DEUTDEFF", "Renamed")]


def test_backup__incremental_after_a_migration__full_archive_instead(tmp_path, data):
    _, (deutsche, _) = data
    full = Path(run("backup", "--output", str(tmp_path)).strip())
    update_institution(institution=deutsche, data={"name": "Before the migration"})
    # Good case: same migrations, an incremental on top of the full archive.
    same = Path(run("backup", "--incremental", "--output", str(tmp_path)).strip())
    assert read_archive(same).kind == "incremental"
    assert read_archive(same).manifest["parent"] == full.name

    # The latest archive was made before a migration (here: one more applied there) — an
    # incremental on it could never be restored, so a new chain starts.
    _rewrite(same, lambda p: p["manifest"]["migrations"].append("configuration.9999_future"))
    update_institution(institution=Institution.objects.get(pk=deutsche.pk), data={"name": "After"})
    output = run("backup", "--incremental", "--output", str(tmp_path)).splitlines()
    assert output[0] == "the latest archive was made with other migrations: wrote a full archive"
    archive = read_archive(output[-1])
    assert archive.kind == "full"
    assert archive.manifest["parent"] is None
    Institution.objects.filter(pk=deutsche.pk).update(name="Changed again")
    run("restore", output[-1])
    assert Institution.objects.get(pk=deutsche.pk).name == "After"


def test_backup__incremental_without_parent__one_line_error(tmp_path, data):
    with pytest.raises(CommandError, match="no archive"):
        run("backup", "--incremental", "--output", str(tmp_path))


def test_restore__tampered_archive__refused_nothing_changed(tmp_path, data):
    path = Path(run("backup", "--output", str(tmp_path)).strip())
    _rewrite(
        path, lambda p: p["objects"]["configuration.institution"][0]["fields"].update(name="Forged")
    )
    Institution.objects.filter(code="DEUTDEFF").update(name="Current")
    with pytest.raises(CommandError, match="checksum mismatch"):
        run("restore", str(path))
    assert Institution.objects.get(code="DEUTDEFF").name == "Current"


def test_restore__other_migrations__refused(tmp_path, data):
    path = Path(run("backup", "--output", str(tmp_path)).strip())
    _rewrite(path, lambda p: p["manifest"]["migrations"].append("configuration.9999_future"))
    with pytest.raises(CommandError, match="other migrations"):
        run("restore", str(path))


def test_restore__missing_parent__refused(tmp_path, data):
    full = Path(run("backup", "--output", str(tmp_path)).strip())
    incremental = run("backup", "--incremental", "--output", str(tmp_path)).strip()
    full.unlink()
    with pytest.raises(CommandError, match="no such archive"):
        run("restore", incremental)


@pytest.mark.parametrize("content", [b"", b"not gzip", gzip.compress(b"{}")])
def test_restore__not_an_archive__refused(tmp_path, content):
    path = tmp_path / f"bad{SUFFIX}"
    path.write_bytes(content)
    with pytest.raises(CommandError):
        run("restore", str(path))


def _manage(*args):
    """Run a command as an operator would: a separate process (verify_backup makes and drops a
    scratch database, which the test's own connection may not touch)."""
    return run_manage(*args, env=environ_without("CBP_TEST_DB_NAME"))


def test_verify_backup__restores_into_scratch_database_and_compares(tmp_path, data):
    path = run("backup", "--output", str(tmp_path)).strip()
    result = _manage("verify_backup", path)
    assert result.returncode == 0, result.stderr
    assert "checksums ok" in result.stdout
    assert "identical: 3 objects restored and compared" in result.stdout


def test_verify_backup__tampered__nonzero_one_line(tmp_path, data):
    path = Path(run("backup", "--output", str(tmp_path)).strip())
    _rewrite(path, lambda p: p["manifest"]["objects"]["configuration.institution"].update(count=5))
    result = _manage("verify_backup", str(path))
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1


def _age(path: Path, days: int) -> None:
    created = (datetime.now(UTC) - timedelta(days=days)).isoformat().replace("+00:00", "Z")
    _rewrite(path, lambda p: p["manifest"].update(created_at=created))


def test_prune_backups__past_retention_deleted_unless_a_kept_archive_needs_it(tmp_path, data):
    old_full = Path(run("backup", "--output", str(tmp_path)).strip())
    _age(old_full, 120)
    needed_full = Path(run("backup", "--output", str(tmp_path)).strip())
    _age(needed_full, 100)
    old_incremental = Path(run("backup", "--incremental", "--output", str(tmp_path)).strip())
    _age(old_incremental, 8)
    # A fresh incremental whose chain runs through the old incremental to the old full.
    _rewrite(old_incremental, lambda p: None)
    fresh = tmp_path / f"cbp-fresh-incremental{SUFFIX}"
    payload = json.loads(gzip.decompress(old_incremental.read_bytes()))
    payload["manifest"]["created_at"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    payload["manifest"]["parent"] = old_incremental.name
    fresh.write_bytes(gzip.compress(json.dumps(payload).encode()))

    output = run("prune_backups", "--output", str(tmp_path))
    assert not old_full.exists()
    assert needed_full.exists()
    assert old_incremental.exists()
    assert fresh.exists()
    assert "deleted 1 file" in output


def test_prune_audit_log__past_retention__deleted(data, settings):
    settings.CBP_AUDIT_RETENTION_DAYS = 30
    total = AuditEntry.objects.count()
    old = AuditEntry.objects.order_by("id")[:1].values_list("id", flat=True)
    AuditEntry.objects.filter(id__in=list(old)).update(
        timestamp=datetime.now(UTC) - timedelta(days=31)
    )
    output = run("prune_audit_log")
    assert "deleted 1 audit entries older than 30 days" in output
    assert AuditEntry.objects.count() == total - 1


def test_verify_integrity__valid__exit_0(data):
    assert "ok:" in run("verify_integrity")


def test_verify_integrity__corrupt_row__printed_and_exit_1(data):
    Institution.objects.filter(code="DEUTDEFF").update(timezone="Mars/Olympus")
    with pytest.raises(SystemExit) as info:
        run("verify_integrity")
    assert info.value.code == 1


def test_preflight__development__passes_and_prints_plan(db):
    output = run("preflight")
    assert "migration plan: 0 to apply" in output
    assert "preflight passed" in output


@pytest.mark.django_db(transaction=True)
def test_smoke_test__live_server__passes(live_server, make_key):
    output = run("smoke_test", "--url", live_server.url, "--key", make_key("smoke"))
    assert "smoke test passed" in output
    assert "FAIL" not in output


def test_smoke_test__unreachable__exit_1(db):
    with pytest.raises(SystemExit) as info:
        run("smoke_test", "--url", "http://127.0.0.1:1", "--key", "x.y", "--timeout", "1")
    assert info.value.code == 1
    assert os.environ.get("CBP_SMOKE_API_KEY") is None


@pytest.mark.postgres
def test_dbbackup__whole_database_dump_written_and_pruned_after_30_days(tmp_path, data):
    from django.conf import settings

    db = settings.DATABASES["default"]
    env_url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**environ_without("CBP_TEST_DB_NAME"), "DATABASE_URL": env_url}
    result = run_manage("dbbackup", env={**env, "CBP_BACKUP_DIR": str(tmp_path)}, timeout=120)
    assert result.returncode == 0, result.stderr
    dumps = [p for p in tmp_path.iterdir() if not p.name.endswith(".metadata")]
    assert len(dumps) == 1
    assert dumps[0].stat().st_size > 0
    old = tmp_path / "default-old-2026-01-01-000000.psql.bin"
    old.write_bytes(b"x")
    month_ago = (datetime.now(UTC) - timedelta(days=31)).timestamp()
    os.utime(old, (month_ago, month_ago))
    run("prune_backups", "--output", str(tmp_path))
    assert not old.exists()
    assert dumps[0].exists()


def _staging_env(secret_key: str) -> dict:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return {
        **{k: v for k, v in os.environ.items() if k != "CBP_TEST_DB_NAME"},
        "CBP_ENVIRONMENT": "staging",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "cbp.example",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
    }


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize(
    ("secret_key", "passes"),
    [
        ("Vq3x-9fLr_Zp2Wm8Kt5Yb7Nc4Hd6Gj1Ae0Su3Ri9Oo2Lw7Qx-r4Tz8Ue1", True),
        ("django-insecure-" + "Ab1-" * 12, False),
    ],
)
def test_preflight__staging__check_deploy_decides(db, secret_key, passes):
    result = run_manage("preflight", env=_staging_env(secret_key), timeout=120)
    assert (result.returncode == 0) is passes, result.stdout + result.stderr
    assert "ok   database reachable" in result.stdout
    assert "ok   cache reachable" in result.stdout
    if not passes:
        assert result.stderr.strip() == "preflight failed: check --deploy"
