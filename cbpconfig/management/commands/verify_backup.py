"""`manage.py verify_backup ARCHIVE`: checksums, then a restore into a scratch database compared
object by object with the archive; exit 0 only if identical."""

from __future__ import annotations

import os
import tempfile
import uuid

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from cbpconfig.audit import system_actor
from cbpconfig.backup import (
    BackupError,
    apply_plan,
    current_state,
    load_chain,
    plan_restore,
    state_of_chain,
)

ALIAS = "cbp_verify_scratch"


class Command(BaseCommand):
    help = "Verify an archive: checksums, then a restore into a scratch database compared object by object."

    def add_arguments(self, parser):
        parser.add_argument("archive")

    def handle(self, *args, archive, **options):
        try:
            chain = load_chain(archive)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        target = state_of_chain(chain)
        self.stdout.write(f"checksums ok ({len(chain)} archive(s))")
        with scratch_database() as alias:
            call_command("migrate", database=alias, verbosity=0, interactive=False)
            with system_actor("verify_backup"):
                apply_plan(plan_restore(target, using=alias), using=alias)
            restored = current_state(using=alias)
        differences = []
        for label in sorted(set(target) | set(restored)):
            want, have = target.get(label, {}), restored.get(label, {})
            for pk in sorted(set(want) | set(have)):
                if want.get(pk) != have.get(pk):
                    differences.append(f"{label} pk={pk}")
        if differences:
            raise CommandError(f"restore differs from the archive: {', '.join(differences[:10])}")
        total = sum(len(rows) for rows in target.values())
        self.stdout.write(f"identical: {total} objects restored and compared")


class scratch_database:
    """A throw-away database next to the default one (PostgreSQL) or a temporary SQLite file."""

    def __enter__(self) -> str:
        base = dict(connections.databases["default"])
        self.vendor = connections["default"].vendor
        if self.vendor == "postgresql":
            self.name = f"cbp_verify_{uuid.uuid4().hex[:12]}"
            with connections["default"]._nodb_cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.name}"')
            base["NAME"] = self.name
        else:
            handle, self.name = tempfile.mkstemp(suffix=".sqlite3")
            os.close(handle)
            base["NAME"] = self.name
        base["CONN_MAX_AGE"] = 0
        base["TEST"] = {}
        connections.databases[ALIAS] = base
        return ALIAS

    def __exit__(self, *exc):
        connections[ALIAS].close()
        del connections[ALIAS]
        connections.databases.pop(ALIAS, None)
        if self.vendor == "postgresql":
            with connections["default"]._nodb_cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        else:
            os.unlink(self.name)
