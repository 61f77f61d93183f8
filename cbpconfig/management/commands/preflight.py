"""`manage.py preflight`: pre-deployment checks; exit 1 with the failing check named."""

from __future__ import annotations

import io
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, SystemCheckError
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from cbpconfig.health import cache_ok, database_ok


class Command(BaseCommand):
    help = "Pre-deployment checks: settings, check --deploy, database and cache, migration plan, missing migrations."

    def handle(self, *args, **options):
        failures: list[str] = []

        def report(name: str, problem: str | None) -> None:
            self.stdout.write(
                f"{'FAIL' if problem else 'ok  '} {name}{': ' + problem if problem else ''}"
            )
            if problem:
                failures.append(name)

        # Settings were validated at start-up (a bad one never gets this far).
        report(f"settings valid for {settings.CBP_ENVIRONMENT}", None)
        if settings.CBP_ENVIRONMENT != "development":
            out = io.StringIO()
            try:
                call_command("check", deploy=True, fail_level="WARNING", stdout=out, stderr=out)
                report("check --deploy", None)
            except SystemCheckError as exc:
                report("check --deploy", " ".join(str(exc).split())[:500])
        else:
            report("check --deploy (skipped in development)", None)
        report("database reachable", database_ok())
        report("cache reachable", cache_ok())
        if not failures or "database reachable" not in failures:
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
            call_command("makemigrations", check=True, dry_run=True, stdout=out, stderr=out)
            report("no model change without a migration", None)
        except (SystemExit, CommandError):
            report("no model change without a migration", "makemigrations --check found changes")
        if failures:
            self.stderr.write(f"preflight failed: {', '.join(failures)}")
            sys.exit(1)
        self.stdout.write("preflight passed")
