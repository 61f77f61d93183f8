"""`manage.py prune_backups [--output DIR]`: delete archives past retention, never one that a
kept archive needs; and django-dbbackup dumps past theirs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from cbpconfig.backup import list_archives
from cbpconfig.management.base import OperationsCommand

# django-dbbackup's default file name: {database}-{server}-{%Y-%m-%d-%H%M%S}.{extension}[.metadata]
DBBACKUP_NAME = re.compile(r"^[\w.-]+-\d{4}-\d{2}-\d{2}-\d{6}\.")


class Command(OperationsCommand):
    help = (
        "Delete archives past retention (full 90 days, incremental 7 days; dbbackup dumps 30 days)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", default=None, help="directory (default: CBP_BACKUP_DIR)")
        parser.add_argument("--dry-run", action="store_true")

    def handle(
        self, *args: Any, output: str | None = None, dry_run: bool = False, **options: Any
    ) -> None:
        directory = Path(output or settings.CBP_BACKUP_DIR)
        retention = settings.CBP_BACKUP_RETENTION_DAYS
        now = datetime.now(UTC)
        archives = list_archives(directory)
        by_name = {a.path.name: a for a in archives}
        kept = {
            a.path.name for a in archives if now - a.created_at <= timedelta(days=retention[a.kind])
        }
        # Every ancestor of a kept archive is kept too: an incremental is useless without its chain.
        for name in list(kept):
            parent = by_name[name].manifest.get("parent")
            while parent and parent in by_name and parent not in kept:
                kept.add(parent)
                parent = by_name[parent].manifest.get("parent")
        removed = [a.path for a in archives if a.path.name not in kept]
        cutoff = now - timedelta(days=retention["dbbackup"])
        for dump in directory.iterdir() if directory.is_dir() else []:
            if (
                DBBACKUP_NAME.match(dump.name)
                and datetime.fromtimestamp(dump.stat().st_mtime, tz=UTC) < cutoff
            ):
                removed.append(dump)
        for path in removed:
            if not dry_run:
                path.unlink(missing_ok=True)
            self.stdout.write(f"{'would delete' if dry_run else 'deleted'} {path}")
        self.stdout.write(
            f"kept {len(kept)} archive(s), {'would delete' if dry_run else 'deleted'} {len(removed)} file(s)"
        )
