"""`manage.py create_api_key NAME [--institution CODE] [--write]`: prints the key alone, once."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import CommandError, CommandParser

from cbpconfig.management.base import AuditedCommand
from cbpconfig.models import APIKey


class Command(AuditedCommand):
    help = "Create an API key and print it (only once; it is stored hashed)."
    # A new key invalidates no cached answer: it may be created while the cache is down.
    needs_cache = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "name", help="a name for the key (shown in the audit log as api-key:NAME)"
        )
        parser.add_argument("--institution", help="bind the key to this institution (BIC)")
        parser.add_argument("--write", action="store_true", help="allow a platform key to write")

    def handle(
        self,
        *args: Any,
        name: str,
        institution: str | None = None,
        write: bool = False,
        **options: Any,
    ) -> None:
        name = name.strip()
        if not name or len(name) > 50:
            raise CommandError("NAME must be 1-50 characters")
        bound = None
        if institution:
            if write:
                raise CommandError("institution keys never write: drop --write or --institution")
            Institution = apps.get_model("configuration", "Institution")
            bound = Institution.objects.filter(code=institution).first()
            if bound is None:
                raise CommandError(f"unknown institution {institution!r}")
        _, key = APIKey.objects.create_key(name=name, institution=bound, can_write=write)
        self.stdout.write(key)
