"""`manage.py export_configuration [--output FILE]`: configurations and values as YAML."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from cbpconfig.management.base import AuditedCommand
from configuration.promotion import export_yaml


class Command(AuditedCommand):
    help = (
        "Write every configuration and its values (institutions by code) as YAML, for "
        "promotion to another environment with import_configuration. Sensitive values are "
        "written in clear: treat the file as a secret."
    )
    # A read (in one transaction for a consistent snapshot): it needs no shared cache.
    needs_cache = False

    def add_arguments(self, parser):
        parser.add_argument("--output", help="write to FILE instead of standard output")

    def handle(self, *args, output=None, **options):
        text = export_yaml(environment=getattr(settings, "CBP_ENVIRONMENT", None))
        if output:
            try:
                Path(output).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"cannot write {output}: {exc.strerror}") from exc
            self.stdout.write(output)
        else:
            self.stdout.write(text, ending="")
