"""`manage.py import_configuration FILE [--dry-run]`: apply an exported YAML file.

Prints the difference, then applies all of it in one transaction, or nothing: any invalid entry
(unknown institution, bad type, schema failure, ...) refuses the whole file with a one-line
reason naming the entry and a non-zero exit. See configuration/promotion.py for the semantics.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from cbpconfig.management.base import AuditedCommand
from configuration.promotion import PromotionError, apply_plan, parse_yaml, plan_import


class Command(AuditedCommand):
    help = (
        "Import configurations and values from a YAML file written by export_configuration: "
        "print the difference and apply it all or nothing (--dry-run: print only)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the YAML file")
        parser.add_argument(
            "--dry-run", action="store_true", help="print the difference and change nothing"
        )

    def handle(self, *args, file, dry_run=False, **options):
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        try:
            plan = plan_import(parse_yaml(text))
        except PromotionError as exc:
            raise CommandError(f"{file} refused: {exc}") from exc
        for line in plan.lines:
            self.stdout.write(line)
        if dry_run:
            self.stdout.write(f"dry run: {plan.summary()}; nothing changed")
            return
        apply_plan(plan)
        self.stdout.write(f"applied: {plan.summary()}")
