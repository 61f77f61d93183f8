"""`manage.py verify_backup ARCHIVE`: checksums, then a restore into a scratch database compared
object by object with the archive; exit 0 only if identical.

Identical means every archived field of every row, by its exact encoding (date-times to the
microsecond, decimals with their scale, JSON with its key order and number types, m2m); the
only fields not compared are those declared in ``cbpconfig.backup.NOT_ARCHIVED`` (printed).

The restore runs as `manage.py migrate` + `manage.py restore` in a child process whose default
database is the scratch one and whose cache keys have a prefix of their own, so nothing the
restore does (signals, cache invalidation, audit entries) can touch the live database or cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.core.management.base import CommandError, CommandParser
from django.db import connections

from cbpconfig.backup import (
    NOT_ARCHIVED,
    BackupError,
    current_state,
    differences,
    load_chain,
    state_of_chain,
)
from cbpconfig.management.base import OperationsCommand

ALIAS = "cbp_verify_scratch"
ROOT = Path(__file__).resolve().parents[3]


class Command(OperationsCommand):
    help = "Verify an archive: checksums, then a restore into a scratch database compared object by object."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive")

    def handle(self, *args: Any, archive: str, **options: Any) -> None:
        try:
            chain = load_chain(archive)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        target = state_of_chain(chain)
        self.stdout.write(f"checksums ok ({len(chain)} archive(s))")
        # Reach the database first: the scratch database is created beside it (and Django's
        # fallback when it cannot would only add a warning before the same error).
        connections["default"].ensure_connection()
        with ScratchDatabase() as scratch:
            env = dict(
                os.environ,
                DATABASE_URL=scratch.url,
                CBP_CACHE_PREFIX=f"cbp-verify-{uuid.uuid4().hex[:8]}",
            )
            for step in (
                ["migrate", "--noinput", "-v0"],
                ["restore", str(Path(archive).resolve())],
            ):
                # S603: our own interpreter and manage.py with fixed arguments, no shell.
                result = subprocess.run(  # noqa: S603
                    [sys.executable, str(ROOT / "manage.py"), *step],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if result.returncode != 0:
                    reason = (result.stderr.strip().splitlines() or ["failed"])[-1]
                    raise CommandError(f"scratch {step[0]} failed: {reason}")
            restored = current_state(using=scratch.alias())
        found = differences(target, restored)
        if found:
            raise CommandError(f"restore differs from the archive: {'; '.join(found)}")
        total = sum(len(rows) for rows in target.values())
        skipped = ", ".join(
            f"{label}.{name}"
            for label, names in sorted(NOT_ARCHIVED.items())
            for name in sorted(names)
        )
        self.stdout.write(
            f"identical: {total} objects restored and compared"
            + (f" (not archived by design: {skipped})" if skipped else "")
        )


class ScratchDatabase:
    """A throw-away database beside the default one (PostgreSQL) or a temporary SQLite file."""

    def __enter__(self) -> ScratchDatabase:
        self.base = dict(connections.databases["default"])
        self.vendor = connections["default"].vendor
        if self.vendor == "postgresql":
            self.name = f"cbp_verify_{uuid.uuid4().hex[:12]}"
            with connections["default"]._nodb_cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.name}"')
            auth = quote(self.base.get("USER") or "postgres", safe="")
            if self.base.get("PASSWORD"):
                auth += ":" + quote(self.base["PASSWORD"], safe="")
            self.url = f"postgres://{auth}@{self.base.get('HOST') or '127.0.0.1'}:{self.base.get('PORT') or 5432}/{self.name}"
        else:
            handle, self.name = tempfile.mkstemp(suffix=".sqlite3")
            os.close(handle)
            self.url = f"sqlite:///{self.name}"
        return self

    def alias(self) -> str:
        connections.databases[ALIAS] = {
            **self.base,
            "NAME": self.name,
            "CONN_MAX_AGE": 0,
            "TEST": {},
        }
        return ALIAS

    def __exit__(self, *exc: object) -> None:
        if ALIAS in connections.databases:
            connections[ALIAS].close()
            del connections[ALIAS]
            connections.databases.pop(ALIAS, None)
        if self.vendor == "postgresql":
            with connections["default"]._nodb_cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        else:
            os.unlink(self.name)
