"""Base for every command that changes data: one-line errors, all or nothing, audited as
`system:<command>`."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction

from cbpconfig.audit import system_actor


def one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(
                f"{field}: {' '.join(str(m) for m in msgs)}"
                for field, msgs in exc.message_dict.items()
            )
        return " ".join(str(m) for m in exc.messages)
    return " ".join(str(exc).split())


class AuditedCommand(BaseCommand):
    """Runs `handle` in one transaction with the audit actor `system:<command>`; a validation or
    database error becomes a CommandError (one line on stderr, exit 1) and nothing is kept."""

    atomic = True

    @property
    def command_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]

    def execute(self, *args, **options):
        with system_actor(self.command_name):
            try:
                if self.atomic:
                    with transaction.atomic():
                        return super().execute(*args, **options)
                return super().execute(*args, **options)
            except CommandError:
                raise
            except (ValidationError, DatabaseError, ValueError) as exc:
                raise CommandError(one_line(exc)) from exc
