"""`manage.py preflight`: pre-deployment checks; exit 1 with the failing checks named.

Outside development it refuses settings a deployment must not run with (DEBUG, a short,
patterned or placeholder SECRET_KEY, a default database or Redis password, an audit retention
below the specification's: cbpconfig.config.deployment_problems) and backup storage it cannot
write."""

from __future__ import annotations

import io
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from cbpconfig.config import deployment_problems
from cbpconfig.health import cache_ok, database_ok
from cbpconfig.management.base import OperationsCommand, one_line


def backup_storage_problem(directory: str | os.PathLike[str]) -> str | None:
    """None when a file can be written, flushed to disk and removed in DIRECTORY (created if
    missing), else the reason. `backup`, `dbbackup` and /health all write there."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".cbp-preflight-", delete=True) as probe:
            probe.write(b"preflight")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return f"cannot write in {path} ({exc.strerror or one_line(exc)})"
    return None


class Command(OperationsCommand):
    help = (
        "Pre-deployment checks: settings (and, outside development, that they are safe to deploy), "
        "check --deploy, database and cache, backup storage, migration plan, missing migrations."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        failures: list[str] = []
        production_like = settings.CBP_ENVIRONMENT != "development"

        def report(name: str, problem: str | None) -> None:
            self.stdout.write(
                f"{'FAIL' if problem else 'ok  '} {name}{': ' + problem if problem else ''}"
            )
            if problem:
                failures.append(name)

        # Settings were validated at start-up (a bad one never gets this far).
        report(f"settings valid for {settings.CBP_ENVIRONMENT}", None)
        if production_like:
            unsafe = deployment_problems(settings.CBP)
            report("safe settings", "; ".join(unsafe) if unsafe else None)
            out = io.StringIO()
            try:
                call_command("check", deploy=True, fail_level="WARNING", stdout=out, stderr=out)
                report("check --deploy", None)
            except SystemCheckError as exc:
                report("check --deploy", " ".join(str(exc).split())[:500])
        else:
            report("safe settings (skipped in development)", None)
            report("check --deploy (skipped in development)", None)
        report("database reachable", database_ok())
        report("cache reachable", cache_ok())
        storage = backup_storage_problem(settings.CBP_BACKUP_DIR)
        if production_like:
            report("backup storage writable", storage)
        else:
            report(
                "backup storage writable"
                + (f" (not required in development: {storage})" if storage else ""),
                None,
            )
        if "database reachable" not in failures:
            try:
                executor = MigrationExecutor(connections["default"])
                plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
                self.stdout.write(f"migration plan: {len(plan)} to apply")
                for migration, backwards in plan:
                    self.stdout.write(
                        f"  {'unapply' if backwards else 'apply'} {migration.app_label}.{migration.name}"
                    )
            except Exception as exc:  # reported, not raised: preflight lists every failure
                report("migration plan", type(exc).__name__)
        out = io.StringIO()
        try:
            # makemigrations warns on stderr when it cannot check the history against the
            # database; an unreachable database is already reported above, in one line.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                call_command("makemigrations", check=True, dry_run=True, stdout=out, stderr=out)
            report("no model change without a migration", None)
        except (SystemExit, CommandError):
            report("no model change without a migration", "makemigrations --check found changes")
        if failures:
            self.stderr.write(f"preflight failed: {', '.join(failures)}")
            sys.exit(1)
        self.stdout.write("preflight passed")
