"""`manage.py smoke_test --url URL [--key KEY]`: after a deployment, readiness and one read of
each API family, with the time each took; exit 1 on any failure."""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request

from django.core.management.base import BaseCommand

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


class Command(BaseCommand):
    help = "Check a deployed service: /ready and one read per API family (key from --key or CBP_SMOKE_API_KEY)."

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True, help="base URL, e.g. https://cbp.example.com")
        parser.add_argument(
            "--key", default=None, help="a platform API key (default: $CBP_SMOKE_API_KEY)"
        )
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args, url, key=None, timeout=10.0, **options):
        base = url.rstrip("/")
        if not base.startswith(("http://", "https://")):
            self.stderr.write(f"--url must start with http:// or https://, got {url!r}")
            sys.exit(2)
        key = key or os.environ.get("CBP_SMOKE_API_KEY")
        failures = 0
        for name, path, needs_key in CHECKS:
            if needs_key and not key:
                self.stdout.write(f"SKIP {name:<15} (no API key given)")
                continue
            headers = (
                {"Authorization": f"Api-Key {key}", "Accept": "application/json"}
                if needs_key
                else {}
            )
            started = time.monotonic()
            try:
                request = urllib.request.Request(base + path, headers=headers)
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, OSError) as exc:
                status = f"error: {getattr(exc, 'reason', exc)}"
            elapsed = (time.monotonic() - started) * 1000
            ok = status == 200
            failures += not ok
            self.stdout.write(
                f"{'OK  ' if ok else 'FAIL'} {name:<15} {status!s:<24} {elapsed:8.1f} ms"
            )
        if failures:
            self.stderr.write(f"smoke test failed: {failures} check(s)")
            sys.exit(1)
        self.stdout.write("smoke test passed")
