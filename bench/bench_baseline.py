"""Smoke run of the harness: the baseline view and an authenticated institution read."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BenchServer

if __name__ == "__main__":
    with BenchServer() as srv:
        from configuration.services import create_institution

        create_institution(
            data={"code": "DEUTDEFF", "name": "Bench", "country": "DE", "timezone": "Europe/Berlin"}
        )
        key = srv.key("bench")
        srv.start()
        print(f"baseline (DRF view, one Redis GET): {srv.baseline_rps():.0f} req/s")
        srv.compare(
            "GET /api/v1/institutions/DEUTDEFF/",
            "/api/v1/institutions/DEUTDEFF/",
            {"Authorization": f"Api-Key {key}"},
        )
