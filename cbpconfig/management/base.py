"""The base of every operations command: one line and a non-zero exit on any failure.

`OperationsCommand` turns whatever stops a command — the database or the cache unreachable, a
refused validation, an unreadable file, or a bug — into a `CommandError`, which Django prints as
ONE line on stderr with exit status 1 (API.md: "non-zero with a one-line reason on stderr");
`--traceback` still shows the cause for a developer. Commands that change domain data extend
`AuditedCommand`: one transaction, the audit actor `system:<command>`, and a shared cache that
answers before anything changes.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import Error as DatabaseDriverError
from django.db import InterfaceError, OperationalError, transaction

from cbpconfig.audit import system_actor


def one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(
                f"{field}: {' '.join(str(m) for m in msgs)}"
                for field, msgs in exc.message_dict.items()
            )
        return " ".join(str(m) for m in exc.messages)
    return " ".join(str(exc).split())


def _first_line(exc: BaseException) -> str:
    """The driver's first line (psycopg adds hints such as "Is the server running...")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _cache_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = []
    try:
        from redis.exceptions import RedisError

        errors.append(RedisError)
    except ImportError:  # pragma: no cover - redis is a requirement
        pass
    try:
        from django_redis.exceptions import ConnectionInterrupted

        errors.append(ConnectionInterrupted)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def failure_line(exc: BaseException) -> str:
    """What an operator needs to read, in one line, for an exception a command did not expect."""
    if isinstance(exc, OperationalError | InterfaceError):
        return f"database unavailable: {_first_line(exc)}"
    if isinstance(exc, DatabaseDriverError):
        return f"database error: {one_line(exc)}"
    if isinstance(exc, _cache_errors()):
        return f"cache unavailable: {_first_line(exc)}"
    if isinstance(exc, ValidationError | ValueError):
        return one_line(exc)
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"file system error{where}: {exc.strerror or one_line(exc)}"
    return f"unexpected {type(exc).__name__}: {one_line(exc)} (run with --traceback for details)"


class OperationsCommand(BaseCommand):
    """Every operations command extends this (directly or through AuditedCommand): whatever
    stops it becomes a CommandError — one line on stderr, exit 1, never a traceback."""

    @property
    def command_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return self.run_guarded(*args, **options)
        except (CommandError, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise CommandError(failure_line(exc)) from exc

    def run_guarded(self, *args: Any, **options: Any) -> str | None:
        """Runs the command (system checks, then handle); subclasses wrap it."""
        return super().execute(*args, **options)


class AuditedCommand(OperationsCommand):
    """Runs `handle` in one transaction with the audit actor `system:<command>`; any error
    becomes a CommandError (one line on stderr, exit 1) and nothing is kept.

    A change made while the shared cache (Redis) is unreachable could not invalidate the answers
    other processes hold, and this process ends before the cache comes back to renew them, so a
    command that changes domain data first makes sure the cache answers (`needs_cache`)."""

    atomic = True
    needs_cache = True

    def run_guarded(self, *args: Any, **options: Any) -> str | None:
        if self.needs_cache:
            require_shared_cache()
        with system_actor(self.command_name):
            if self.atomic:
                with transaction.atomic():
                    return super().run_guarded(*args, **options)
            return super().run_guarded(*args, **options)


def require_shared_cache() -> None:
    """CommandError unless the shared cache answers (always fine with a per-process cache)."""
    from django.conf import settings

    if not getattr(settings, "CBP_CACHE_IS_REDIS", False):
        return
    from cbpconfig.health import cache_ok

    problem = cache_ok()
    if problem:
        raise CommandError(
            f"cache {problem}: a change now could not invalidate cached answers; nothing changed"
        )
