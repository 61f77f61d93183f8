"""`manage.py smoke_test --url URL [--key KEY] [--max-ms MS]`: after a deployment, readiness and
one read of each API family, with the time each took; exit 1 on any failure.

Every check runs: without a platform API key (--key or CBP_SMOKE_API_KEY) the command refuses
at once instead of skipping the reads it cannot make. A check fails when it does not answer
200 or takes longer than --max-ms (default CBP_SMOKE_MAX_MS, else 1000 ms)."""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from django.core.management.base import CommandError, CommandParser

from cbpconfig.management.base import OperationsCommand

CHECKS = [
    ("ready", "/ready", False),
    ("institutions", "/api/v1/institutions/?page_size=1", True),
    ("calendars", "/api/v1/calendars/?page_size=1", True),
    ("windows", "/api/v1/windows/?page_size=1", True),
    ("configurations", "/api/v1/configurations/?page_size=1", True),
    ("flags", "/api/v1/flags/?page_size=1", True),
    ("audit-log", "/api/v1/audit-log/?page_size=1", True),
    ("schema", "/api/schema/", False),
]
DEFAULT_MAX_MS = 1000.0


@dataclass
class Answer:
    status: int | str
    ms: float
    body: bytes


def timed_get(url: str, headers: dict[str, str], timeout: float) -> Answer:
    """One GET (no redirect followed: a redirect is an answer too); the status, or the reason
    when nothing answered, and the time it took."""
    started = time.monotonic()
    body = b""
    try:
        # S310: base_url() admits only http:// and https:// (the operator's --url).
        request = urllib.request.Request(url, headers=headers)  # noqa: S310
        with _OPENER.open(request, timeout=timeout) as response:
            status: int | str = response.status
            body = response.read()
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        status = f"error: {getattr(exc, 'reason', exc)}"
    return Answer(status, (time.monotonic() - started) * 1000, body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def base_url(url: str) -> str:
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise CommandError(f"--url must start with http:// or https://, got {url!r}")
    return base


def api_key(key: str | None) -> str:
    key = key or os.environ.get("CBP_SMOKE_API_KEY")
    if not key:
        raise CommandError(
            "a platform API key is required (--key or CBP_SMOKE_API_KEY): without one most "
            "checks could not run"
        )
    return key


def default_max_ms() -> float:
    raw = os.environ.get("CBP_SMOKE_MAX_MS")
    try:
        return float(raw) if raw else DEFAULT_MAX_MS
    except ValueError:
        raise CommandError(f"CBP_SMOKE_MAX_MS: expected milliseconds, got {raw!r}") from None


class Command(OperationsCommand):
    help = (
        "Check a deployed service: /ready and one read per API family, each within --max-ms "
        "(key from --key or CBP_SMOKE_API_KEY; required)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="base URL, e.g. https://cbp.example.com")
        parser.add_argument(
            "--key", default=None, help="a platform API key (default: $CBP_SMOKE_API_KEY)"
        )
        parser.add_argument("--timeout", type=float, default=10.0)
        parser.add_argument(
            "--max-ms",
            type=float,
            default=None,
            help=f"slowest acceptable answer per check (default $CBP_SMOKE_MAX_MS or {DEFAULT_MAX_MS:.0f})",
        )

    def handle(
        self,
        *args: Any,
        url: str,
        key: str | None = None,
        timeout: float = 10.0,
        max_ms: float | None = None,
        **options: Any,
    ) -> None:
        base = base_url(url)
        key = api_key(key)
        limit = default_max_ms() if max_ms is None else max_ms
        failures = []
        for name, path, needs_key in CHECKS:
            headers = (
                {"Authorization": f"Api-Key {key}", "Accept": "application/json"}
                if needs_key
                else {}
            )
            answer = timed_get(base + path, headers, timeout)
            problem = None
            if answer.status != 200:
                problem = str(answer.status)
            elif answer.ms > limit:
                problem = f"slower than {limit:.0f} ms"
            if problem:
                failures.append(f"{name} ({problem})")
            self.stdout.write(
                f"{'FAIL' if problem else 'OK  '} {name:<15} {answer.status!s:<24} "
                f"{answer.ms:8.1f} ms{'  ' + problem if problem and answer.status == 200 else ''}"
            )
        if failures:
            self.stderr.write(f"smoke test failed: {', '.join(failures)}")
            sys.exit(1)
        self.stdout.write(f"smoke test passed ({len(CHECKS)} checks, each within {limit:.0f} ms)")
