"""`manage.py backup [--incremental] [--output DIR]`: one archive of all domain data."""

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from cbpconfig.backup import SUFFIX, BackupError, write_archive
from cbpconfig.management.base import OperationsCommand


class Command(OperationsCommand):
    help = "Write a full (or incremental) archive of all domain data and print its path."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--incremental",
            action="store_true",
            help=(
                "only what changed since the latest archive (a full archive when that one was "
                "made with other migrations: such a chain could not be restored)"
            ),
        )
        parser.add_argument("--output", default=None, help="directory (default: CBP_BACKUP_DIR)")

    def handle(
        self, *args: Any, incremental: bool = False, output: str | None = None, **options: Any
    ) -> None:
        try:
            path = write_archive(
                output_dir=output or settings.CBP_BACKUP_DIR,
                incremental=incremental,
                environment=settings.CBP_ENVIRONMENT,
            )
        except (BackupError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        if incremental and path.name.endswith(f"-full{SUFFIX}"):
            self.stderr.write(
                "the latest archive was made with other migrations: wrote a full archive"
            )
        self.stdout.write(str(path))
