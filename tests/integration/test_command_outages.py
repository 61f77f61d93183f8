"""Every operations command, run as an operator runs it (`python manage.py ...` in a process of
its own, staging settings) while the database or the cache is unreachable: one clear line on
stderr and a non-zero exit, never a traceback (cbpconfig.management.base.OperationsCommand)."""

from __future__ import annotations

import io
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.support.processes import python
from tests.support.servers import operator_env

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE_DATABASE = "postgres://postgres@127.0.0.1:1/cbp_unreachable"
UNREACHABLE_CACHE = "redis://127.0.0.1:1/0"

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _env(**changes: str) -> dict[str, str]:
    drop = ("CBP_TEST_DB_NAME", "DEBUG", "LOG_LEVEL", "CBP_AUDIT_RETENTION_DAYS")
    return operator_env("staging", drop, **changes)


@pytest.fixture(scope="module")
def files(tmp_path_factory, django_db_setup, django_db_blocker):
    """A real archive and a real export, made while everything is up."""
    directory = tmp_path_factory.mktemp("outage")
    with django_db_blocker.unblock():
        out = io.StringIO()
        call_command("backup", "--output", str(directory), stdout=out)
        archive = out.getvalue().strip().splitlines()[-1]
        export = directory / "configuration.yaml"
        call_command("export_configuration", "--output", str(export), stdout=io.StringIO())
    return {"dir": directory, "archive": archive, "export": str(export)}


def commands(files) -> dict[str, list[str]]:
    state = str(files["dir"] / "deploy-check.json")
    return {
        "backup": ["backup", "--output", str(files["dir"] / "new")],
        "backup --incremental": ["backup", "--incremental", "--output", str(files["dir"])],
        "restore": ["restore", files["archive"]],
        "restore --dry-run": ["restore", files["archive"], "--dry-run"],
        "verify_backup": ["verify_backup", files["archive"]],
        "prune_audit_log": ["prune_audit_log"],
        "verify_integrity": ["verify_integrity"],
        "preflight": ["preflight"],
        "deploy_check pre": ["deploy_check", "pre", "--no-baseline", "--state", state],
        "create_api_key": ["create_api_key", "outage"],
        "import_holidays": ["import_holidays", "TARGET2", "--market", "ECB", "--years", "2026"],
        "export_configuration": ["export_configuration"],
        "import_configuration": ["import_configuration", files["export"]],
    }


def _run_all(
    argvs: dict[str, list[str]], env: dict[str, str]
) -> dict[str, subprocess.CompletedProcess]:
    def run(argv):
        return python("manage.py", *argv, env=env, timeout=120)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(argvs, pool.map(run, argvs.values()), strict=True))


@pytest.fixture(scope="module")
def database_down(files):
    env = _env(DATABASE_URL=UNREACHABLE_DATABASE, CBP_BACKUP_DIR=str(files["dir"]))
    return _run_all(commands(files), env)


@pytest.mark.parametrize(
    "name",
    [
        "backup",
        "backup --incremental",
        "restore",
        "restore --dry-run",
        "verify_backup",
        "prune_audit_log",
        "verify_integrity",
        "preflight",
        "deploy_check pre",
        "create_api_key",
        "import_holidays",
        "export_configuration",
        "import_configuration",
    ],
)
def test_command__database_unreachable__one_line_and_nonzero_exit(database_down, name):
    result = database_down[name]
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "database" in lines[0], lines[0]


def test_command__database_unreachable__names_the_cause_once(database_down):
    line = database_down["backup"].stderr.strip()
    assert line.startswith("CommandError: database unavailable: ")
    assert "127.0.0.1" in line
    assert "Is the server running" not in line
    assert database_down["deploy_check pre"].stderr.strip() == (
        "CommandError: deploy_check pre stopped at configuration: "
        "preflight failed: database reachable"
    )


def test_commands_without_a_database__prune_backups_and_smoke_test__no_traceback(files):
    env = _env(DATABASE_URL=UNREACHABLE_DATABASE, CBP_BACKUP_DIR=str(files["dir"]))
    results = _run_all(
        {
            # Archive files only: pruning goes on while the database is down.
            "prune_backups": ["prune_backups", "--output", str(files["dir"] / "empty")],
            # HTTP only: the service it checks is down too here.
            "smoke_test": [
                "smoke_test",
                "--url",
                "http://127.0.0.1:1",
                "--key",
                "k.x",
                "--timeout",
                "1",
            ],
        },
        env,
    )
    assert results["prune_backups"].returncode == 0, results["prune_backups"].stderr
    assert results["prune_backups"].stderr == ""
    smoke = results["smoke_test"]
    assert smoke.returncode != 0
    assert "Traceback" not in smoke.stderr
    assert len(smoke.stderr.strip().splitlines()) == 1


def _message_lines(stderr: str) -> list[str]:
    """stderr less the service's JSON log records (the circuit breaker logs `cache down` once:
    that line belongs to the log stream, not to the command's answer)."""
    return [line for line in stderr.strip().splitlines() if not line.startswith('{"time"')]


@pytest.mark.django_db(transaction=True)
def test_commands__cache_unreachable__writers_and_checks_refuse_readers_go_on(files):
    env = _env(REDIS_URL=UNREACHABLE_CACHE, CBP_BACKUP_DIR=str(files["dir"]))
    results = _run_all(
        {
            name: argv
            for name, argv in commands(files).items()
            if name
            in (
                "preflight",
                "deploy_check pre",
                "restore",
                "import_configuration",
                "import_holidays",
                "backup",
                "verify_integrity",
                "export_configuration",
            )
        },
        env,
    )
    for name, result in results.items():
        assert "Traceback" not in result.stderr, (name, result.stderr)
    # A change that could not invalidate the shared cache is refused before anything changes;
    # the deployment checks refuse a cache they cannot reach.
    for name in ("restore", "import_configuration", "import_holidays"):
        lines = _message_lines(results[name].stderr)
        assert results[name].returncode != 0, (name, results[name].stderr)
        assert len(lines) == 1, (name, results[name].stderr)
        assert lines[0].startswith("CommandError: cache unavailable"), lines[0]
    assert _message_lines(results["preflight"].stderr) == ["preflight failed: cache reachable"]
    assert _message_lines(results["deploy_check pre"].stderr) == [
        "CommandError: deploy_check pre stopped at configuration: preflight failed: cache reachable"
    ]
    # Reads of the database need no cache: a backup is still taken during a cache outage.
    for name in ("backup", "verify_integrity", "export_configuration"):
        assert results[name].returncode == 0, (name, results[name].stderr)


def test_every_command_of_the_project__extends_the_operations_base():
    """The one-line guarantee lives in one base: a new command that skips it is caught here."""
    import importlib

    from cbpconfig.management.base import OperationsCommand

    skipped = []
    for app in ("cbpconfig", "calendars", "configuration", "windows", "flags"):
        for path in sorted((ROOT / app / "management" / "commands").glob("[!_]*.py")):
            module = importlib.import_module(f"{app}.management.commands.{path.stem}")
            if not issubclass(module.Command, OperationsCommand):
                skipped.append(f"{app}: {path.stem}")
    assert not skipped, f"commands not on cbpconfig.management.base.OperationsCommand: {skipped}"
