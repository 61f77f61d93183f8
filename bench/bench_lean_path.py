"""The lean middleware path in process: time per API-key request to a hot read through the lean
handler, through the dispatcher (which answers warm reads from kept answers) and through the
full one (same WSGI application, same database and cache), so the cost
of the console's middleware shows apart from the network and gunicorn. Prints figures only.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/bench_lean_path.py
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cbpconfig.settings")
os.environ.setdefault("CBP_THROTTLE_RATE", "100000000/minute")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

N = int(os.environ.get("BENCH_REQUESTS", "3000"))


def environ(path: str, key: str) -> dict:
    path, _, query = path.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Api-Key {key}",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }


def timed(handler, path: str, key: str) -> list[float]:
    def start_response(status, headers, exc_info=None):
        assert status.startswith("200"), status

    samples = []
    for _ in range(N):
        started = time.perf_counter()
        b"".join(handler(environ(path, key), start_response))
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    from cbpconfig.lean import application
    from cbpconfig.models import APIKey
    from configuration import services

    name = connection.settings_dict["NAME"]
    print(f"database {name}; {N} requests per path and handler")
    call_command("migrate", verbosity=0)
    if not services.Institution.objects.filter(code="BNCHDEFF").exists():
        services.create_institution(
            data={"code": "BNCHDEFF", "name": "Bench", "country": "DE", "timezone": "UTC"}
        )
    _, key = APIKey.objects.create_key(name="bench-lean")
    app = application()
    # A fixed instant, so that the dispatcher may answer it from a kept answer (cbpconfig/ready.py).
    path = "/api/v1/institutions/BNCHDEFF/configuration?at=2026-06-02T10:00:00Z"
    for label, handler in (
        ("full", app.full),
        ("lean", app.lean),
        ("kept", app),  # the dispatcher: lean path, warm answers kept
        ("full", app.full),
    ):
        timed(handler, path, key)  # warm
        samples = timed(handler, path, key)
        print(
            f"{label:>4}: median {statistics.median(samples) * 1e6:7.0f} µs  "
            f"p99 {sorted(samples)[int(len(samples) * 0.99)] * 1e6:7.0f} µs"
        )


if __name__ == "__main__":
    main()
