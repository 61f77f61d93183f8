"""The deployment as gated commands: `deploy_check pre`, `migrate`, `post`; `preflight` refusing
unsafe production settings; `smoke_test` refusing to run without a key and timing each check."""

from __future__ import annotations

import io
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection

from tests.support.processes import child_env, database_url_of_test_db, python
from tests.support.servers import operator_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def refused(*args) -> str:
    with pytest.raises(CommandError) as info:
        run(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.fixture
def deployment(transactional_db, live_server, settings, tmp_path, make_key):
    """A running service with demo data, a read-only platform key and a backup directory."""
    settings.CBP_BACKUP_DIR = str(tmp_path / "backups")
    run("load_demo")
    state = tmp_path / "backups" / "deploy-check.json"
    return {
        "url": live_server.url,
        "key": make_key("deploy-check"),
        "state": state,
        "common": ["--state", str(state), "--requests", "5"],
    }


def _pre(d, *extra):
    return run("deploy_check", "pre", "--url", d["url"], "--key", d["key"], *d["common"], *extra)


def manage(d, *args) -> subprocess.CompletedProcess:
    """`python manage.py ARGS` as an operator (or the Kubernetes Job) runs it: a process of its
    own on the same database (verify_backup creates its scratch database from there)."""
    env = child_env(
        ("CBP_TEST_DB_NAME", "DEBUG"),
        DATABASE_URL=database_url_of_test_db(),
        CBP_BACKUP_DIR=str(d["state"].parent),
        LOG_LEVEL="ERROR",
    )
    return python("manage.py", *args, env=env, timeout=300)


def _post(d, *extra) -> subprocess.CompletedProcess:
    return manage(
        d, "deploy_check", "post", "--url", d["url"], "--key", d["key"], *d["common"], *extra
    )


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith('{"time"')]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return lines[0]


def _edit_state(d, change):
    state = json.loads(d["state"].read_text())
    change(state)
    d["state"].write_text(json.dumps(state))


def test_deploy_check__pre_migrate_post__each_step_passes_and_is_recorded(deployment):
    d = deployment
    pre = _pre(d)
    for step in ("configuration", "resources", "schema", "backup", "plan", "baseline", "record"):
        assert f"ok   {step} (" in pre, pre
    assert "deploy_check pre passed" in pre
    state = json.loads(d["state"].read_text())
    assert Path(state["archive"]).is_file()
    assert state["plan"] == []
    reads = {r["name"]: r for r in state["baseline"]["reads"]}
    assert {
        "ready",
        "business-day check",
        "window status",
        "institution configuration",
        "flag evaluation",
    } <= set(reads)
    assert all(r["n"] == 5 and 0 < r["p50_ms"] <= r["p95_ms"] for r in reads.values())
    assert state["baseline"]["health"]["database"] == "ok"

    migrate = run("deploy_check", "migrate", *d["common"])
    for step in ("gate", "migrate", "indexes", "integrity", "record"):
        assert f"ok   {step} (" in migrate, migrate
    assert "objects valid" in migrate

    result = _post(d, "--slack-ms", "250")
    assert result.returncode == 0, result.stdout + result.stderr
    post = result.stdout
    for step in ("gate", "migrations", "smoke", "health", "performance", "backup", "record"):
        assert f"ok   {step} (" in post, post
    assert "identical:" in post  # pre's archive restored into a scratch database and compared
    assert "smoke test passed" in post
    assert "within +50% + 250 ms of the baseline p95" in post
    assert "post" in json.loads(d["state"].read_text())


def test_deploy_check__migrate_or_post_without_the_phase_before__refused(deployment):
    d = deployment
    assert "stopped at gate: no passed `deploy_check pre`" in refused(
        "deploy_check", "migrate", *d["common"]
    )
    assert "stopped at gate: no passed `deploy_check migrate`" in refused(
        "deploy_check", "post", "--url", d["url"], "--key", d["key"], *d["common"]
    )
    _pre(d, "--no-baseline")
    assert "stopped at gate" in refused(
        "deploy_check", "post", "--url", d["url"], "--key", d["key"], *d["common"]
    )


def test_deploy_check__failed_pre__the_earlier_pass_no_longer_opens_migrate(deployment):
    d = deployment
    _pre(d, "--no-baseline")
    message = refused(
        "deploy_check", "pre", "--url", "http://127.0.0.1:1", "--key", "k.x", *d["common"]
    )
    assert message.startswith(
        "deploy_check pre stopped at baseline: the running service is not ready"
    )
    assert not d["state"].exists()
    assert "no passed `deploy_check pre`" in refused("deploy_check", "migrate", *d["common"])


def test_deploy_check__plan_changed_or_pre_too_old__migrate_refused(deployment):
    d = deployment
    _pre(d, "--no-baseline")
    _edit_state(d, lambda s: s.update(plan=["calendars.9999_not_there"]))
    assert "the migration plan changed since `deploy_check pre`" in refused(
        "deploy_check", "migrate", *d["common"]
    )
    _pre(d, "--no-baseline")
    old = (datetime.now(UTC) - timedelta(hours=13)).isoformat()
    _edit_state(d, lambda s: s["pre"].update(passed_at=old))
    assert "too long ago: run it again" in refused("deploy_check", "migrate", *d["common"])


def test_deploy_check__post_slower_than_the_baseline__stops_at_performance(deployment):
    d = deployment
    _pre(d)
    run("deploy_check", "migrate", *d["common"])

    def faster_baseline(state):
        for read in state["baseline"]["reads"]:
            read["p95_ms"] = 0.01

    _edit_state(d, faster_baseline)
    result = _post(d, "--slack-ms", "0")
    assert result.returncode == 1
    assert _last_line(result).startswith(
        "CommandError: deploy_check post stopped at performance: slower than the baseline "
        "(+50% + 0 ms): ready p95"
    )
    assert "post" not in json.loads(d["state"].read_text())


def test_deploy_check__post_health_worse_than_baseline__stops_at_health(deployment):
    d = deployment
    _pre(d)
    run("deploy_check", "migrate", *d["common"])
    _edit_state(d, lambda s: s["baseline"]["health"].update(replica="ok"))
    result = _post(d)
    assert result.returncode == 1
    assert _last_line(result) == (
        "CommandError: deploy_check post stopped at health: ok before the deployment, not now: "
        "replica: missing"
    )


def test_deploy_check__pre_without_url_or_key__refused_with_the_reason(deployment, monkeypatch):
    d = deployment
    monkeypatch.delenv("CBP_SMOKE_API_KEY", raising=False)
    assert refused("deploy_check", "pre", *d["common"]).endswith(
        "--url is required (the service as clients reach it)"
    )
    assert "a platform API key is required" in refused(
        "deploy_check", "pre", "--url", d["url"], *d["common"]
    )


def test_deploy_check__invalid_index_left_by_a_failed_concurrent_build__rebuilt(deployment):
    d = deployment
    from configuration.models import Institution

    # CREATE UNIQUE INDEX CONCURRENTLY on duplicate values fails and leaves an INVALID index.
    assert Institution.objects.filter(timezone="Europe/Berlin").count() >= 1
    Institution.objects.filter(code="BNPAFRPP").update(timezone="Europe/Berlin")
    try:
        with connection.cursor() as cursor, pytest.raises(IntegrityError):
            cursor.execute(
                "CREATE UNIQUE INDEX CONCURRENTLY h11_left_invalid ON configuration_institution (timezone)"
            )
        Institution.objects.filter(code="BNPAFRPP").update(timezone="Europe/Paris")
        _pre(d, "--no-baseline")
        output = run("deploy_check", "migrate", *d["common"])
        assert "rebuilt invalid index h11_left_invalid" in output
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE i.relname = 'h11_left_invalid'"
            )
            assert cursor.fetchone() == (True,)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS h11_left_invalid")


# --- preflight in production ------------------------------------------------------------------


def _production_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    drop = ("CBP_TEST_DB_NAME", "DEBUG", "CBP_AUDIT_RETENTION_DAYS", "CBP_BACKUP_DIR")
    return operator_env(
        "production", drop, **{"CBP_BACKUP_DIR": str(tmp_path / "backups"), **changes}
    )


UNSAFE = {
    "safe": ({}, 0, "preflight passed"),
    "retention below the specification": (
        {"CBP_AUDIT_RETENTION_DAYS": "1"},
        2,
        "configuration error: CBP_AUDIT_RETENTION_DAYS: at least 365 days in production",
    ),
    "DEBUG": ({"DEBUG": "true"}, 1, "FAIL safe settings: DEBUG is on"),
    "placeholder secret": (
        {"SECRET_KEY": "replace-me-with-a-long-random-string-of-sixty-characters-XY"},
        1,
        "SECRET_KEY looks like a placeholder (contains 'replace')",
    ),
    "patterned secret": (
        {"SECRET_KEY": "abcdefgh" * 8},
        1,
        "SECRET_KEY has fewer than 12 different characters",
    ),
    "default database password": (
        {"DATABASE_URL": "postgres://postgres:password@127.0.0.1:5432/cbp_x"},
        1,
        "DATABASE_URL uses a default or example password",
    ),
    "unwritable backup storage": (
        {"CBP_BACKUP_DIR": "FILE/backups"},
        1,
        "FAIL backup storage writable: cannot write in",
    ),
}


@pytest.fixture(scope="module")
def preflight_results(tmp_path_factory, django_db_setup):
    tmp_path = tmp_path_factory.mktemp("preflight")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    def run_one(changes):
        changes = {k: v.replace("FILE", str(blocker)) for k, v in changes.items()}
        return python(
            "manage.py", "preflight", env=_production_env(tmp_path, **changes), timeout=180
        )

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = pool.map(run_one, [changes for changes, _, _ in UNSAFE.values()])
        return dict(zip(UNSAFE, results, strict=True))


@pytest.mark.parametrize("case", list(UNSAFE))
def test_preflight__production__refuses_unsafe_settings(preflight_results, case):
    _, code, expected = UNSAFE[case]
    result = preflight_results[case]
    assert result.returncode == code, result.stdout + result.stderr
    assert expected in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == (0 if code == 0 else 1), result.stderr


# --- smoke_test --------------------------------------------------------------------------------


def test_smoke_test__no_key__refused_instead_of_skipping(db, monkeypatch):
    monkeypatch.delenv("CBP_SMOKE_API_KEY", raising=False)
    message = refused("smoke_test", "--url", "http://127.0.0.1:1")
    assert message.startswith("a platform API key is required")


def _smoke_test(url: str, key: str, *extra: str, stderr: io.StringIO | None = None) -> None:
    call_command(
        "smoke_test",
        "--url",
        url,
        "--key",
        key,
        *extra,
        stdout=io.StringIO(),
        stderr=stderr or io.StringIO(),
    )


@pytest.mark.django_db(transaction=True)
def test_smoke_test__slower_than_the_threshold__fails_naming_each_check(
    live_server, make_key, monkeypatch
):
    key = make_key("smoke")
    err = io.StringIO()
    with pytest.raises(SystemExit) as info:
        _smoke_test(live_server.url, key, "--max-ms", "0.001", stderr=err)
    assert info.value.code == 1
    assert err.getvalue().startswith("smoke test failed: ready (slower than 0 ms)")
    monkeypatch.setenv("CBP_SMOKE_MAX_MS", "0.001")
    with pytest.raises(SystemExit):
        _smoke_test(live_server.url, key)
    monkeypatch.setenv("CBP_SMOKE_MAX_MS", "5000")
    out = run("smoke_test", "--url", live_server.url, "--key", key)
    assert "smoke test passed (8 checks, each within 5000 ms)" in out
