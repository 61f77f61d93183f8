"""`manage.py restore ARCHIVE [--dry-run]`: replace all domain data with the archive's state."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from cbpconfig import cache as coherence
from cbpconfig.backup import (
    BackupError,
    apply_plan,
    check_migrations,
    load_chain,
    plan_restore,
    state_of_chain,
)
from cbpconfig.management.base import AuditedCommand


class Command(AuditedCommand):
    help = "Verify the chain ending at ARCHIVE and replace all domain data with its state (one transaction)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive")
        parser.add_argument(
            "--dry-run", action="store_true", help="print what would change, change nothing"
        )

    def handle(self, *args: Any, archive: str, dry_run: bool = False, **options: Any) -> None:
        try:
            chain = load_chain(archive)
            check_migrations(chain)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        plan = plan_restore(state_of_chain(chain))
        for line in plan.summary():
            self.stdout.write(line)
        if dry_run:
            self.stdout.write("dry run: nothing changed")
            return
        apply_plan(plan)
        # The rows' signals have bumped what they touched; the epoch covers the rest
        # (answers of objects the archive brings back under codes seen before).
        coherence.bump_all()
        self.stdout.write(f"restored {archive} ({len(chain)} archive(s) in the chain)")
