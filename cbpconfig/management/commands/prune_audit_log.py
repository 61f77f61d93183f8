"""`manage.py prune_audit_log`: delete audit entries past the environment's retention."""

from datetime import timedelta
from typing import Any

from auditlog import get_logentry_model
from django.conf import settings
from django.core.management.base import CommandParser
from django.utils import timezone

from cbpconfig.management.base import OperationsCommand


class Command(OperationsCommand):
    help = "Delete audit entries older than the retention (production 365 days, staging 90, development 30)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        days = settings.CBP_AUDIT_RETENTION_DAYS
        cutoff = timezone.now() - timedelta(days=days)
        old = get_logentry_model().objects.filter(timestamp__lt=cutoff)
        count = old.count()
        if not dry_run:
            # A raw delete: audit entries are not themselves audited.
            old._raw_delete(old.db)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {count} audit entries older than {days} days ({settings.CBP_ENVIRONMENT})"
        )
