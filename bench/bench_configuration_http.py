"""Benchmark: the resolved configuration of an institution with 200 keys.

1. In process, before the server starts: the time of the *uncached* resolution (what a cache
   miss costs: institution, definitions and the institution's + global rows from PostgreSQL,
   then the pure resolver and JSON encoding) with 10, 100, 1,000 and 10,000 institutions
   present, each with 5 overrides of its own. It should stay flat: a miss reads only the rows
   of one institution and the global ones, through indexes.
2. Over HTTP (gunicorn, 2 sync workers, wrk): req/s of
   `GET /api/v1/institutions/{code}/configuration` served from the cache, beside the
   harness baseline (a trivial DRF view doing one Redis GET), and of the one-key resolve.

The 200 definitions and their values are created through the services (validated, audited).
The extra institutions and their overrides are bulk-inserted straight into the bench database
(`bulk_create`, no validation, no audit entries): creating 10,000 institutions and 50,000
values through the services would take minutes and measure the services, not resolution.

Run from the repository root: ``.venv/bin/python bench/bench_configuration_http.py``
(``BENCH_DB=... BENCH_REDIS=...`` to keep clear of another benchmark running at the same
time). Prints figures, asserts nothing. Needs PostgreSQL, Redis and wrk (bench/harness.py).

Figures from one run on the 2-core development machine while other test suites were running
(so absolute req/s are low and noisy; the ratio is measured back to back):

    institutions  value rows  median ms   best ms     (uncached resolution, 200 keys)
              10         385      23.95     12.56
             100         835      17.52     12.66
            1000        5335      20.29     10.71
           10000       50335      36.17     15.76
    institution configuration, cached, institution key: 164 req/s, baseline 172: ratio 0.95
    institution configuration, cached, platform key:    121 req/s, baseline 122: ratio 0.99
    one key resolve, cached:                            102 req/s, baseline  98: ratio 1.04
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BenchServer, bic

KEYS = 200
OVERRIDES_PER_INSTITUTION = 5
INSTITUTION_STEPS = (10, 100, 1_000, 10_000)
CODE = "DEUTDEFF"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def create_definitions(bank) -> list:
    from configuration import services

    definitions = []
    kinds = [
        ("integer", {"type": "integer", "minimum": 0}, 10),
        ("decimal", {"type": "string", "maxLength": 30}, "1000.00"),
        ("boolean", None, False),
        ("string", None, "plain"),
        ("json", {"type": "object"}, {"retries": 3, "hosts": ["a", "b"]}),
    ]
    for number in range(KEYS):
        value_type, schema, default = kinds[number % len(kinds)]
        configuration = services.create_configuration(
            data={
                "key": f"bench.group_{number // 20:02d}.setting_{number:03d}",
                "description": f"setting {number}",
                "value_type": value_type,
                "schema": schema,
                "default": default,
                "is_sensitive": number % 50 == 0,
            }
        )
        definitions.append(configuration)
        # A global history for every other key, an own value for every fifth.
        if number % 2 == 0:
            for step in range(3):
                services.create_value(
                    configuration=configuration,
                    data={"value": default, "effective_from": T0 + timedelta(days=30 * step)},
                )
        if number % 5 == 0:
            services.create_value(
                configuration=configuration,
                data={"value": default, "institution": bank, "effective_from": T0},
            )
    return definitions


def grow_institutions(target: int, definitions: list, start: int) -> int:
    """Bulk-insert institutions (and their overrides) until `target` exist."""
    from django.db import connection

    from configuration.models import ConfigurationValue, Institution

    have = Institution.objects.count()
    if have >= target:
        return start
    new = [
        Institution(code=bic(start + n), name=f"Bench {start + n}", country="DE", timezone="UTC")
        for n in range(target - have)
    ]
    Institution.objects.bulk_create(new, batch_size=2000)
    created = Institution.objects.filter(code__in=[i.code for i in new])
    rows = []
    for index, institution in enumerate(created.iterator()):
        for k in range(OVERRIDES_PER_INSTITUTION):
            definition = definitions[(index * 7 + k * 13) % len(definitions)]
            rows.append(
                ConfigurationValue(
                    configuration=definition,
                    institution=institution,
                    value=definition.default,
                    effective_from=T0 + timedelta(days=k),
                )
            )
    ConfigurationValue.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return start + len(new)


def time_uncached(rounds: int = 40) -> tuple[float, float]:
    """Median and best ms of one uncached resolution (as on a cache miss)."""
    from configuration import selectors
    from configuration.models import Institution
    from configuration.resolution import resolved_to_dict

    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        institution = Institution.objects.get(code=CODE)
        result = selectors.resolve_institution_uncached(
            institution=institution, at=datetime.now(UTC)
        )
        body = {
            k: resolved_to_dict(v, mask=k in result.sensitive) for k, v in result.resolved.items()
        }
        selectors._encode(body)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), min(samples)


def main() -> None:
    with BenchServer() as srv:
        from configuration import services

        bank = services.create_institution(
            data={"code": CODE, "name": "Bench bank", "country": "DE", "timezone": "Europe/Berlin"}
        )
        definitions = create_definitions(bank)
        print(f"{KEYS} configurations created through the services")
        print()
        print("uncached resolution of one institution (in process, PostgreSQL):")
        print(f"  {'institutions':>12}  {'value rows':>10}  {'median ms':>9}  {'best ms':>8}")
        from configuration.models import ConfigurationValue

        next_number = 0
        for target in INSTITUTION_STEPS:
            next_number = grow_institutions(target, definitions, next_number)
            median, best = time_uncached()
            rows = ConfigurationValue.objects.count()
            print(f"  {target:>12}  {rows:>10}  {median:>9.2f}  {best:>8.2f}")
        print()
        institution_key = srv.key("bench-bank", institution=bank)
        platform_key = srv.key("bench-platform")
        srv.start()
        url = f"/api/v1/institutions/{CODE}/configuration"
        status, body = srv.get(url, {"Authorization": f"Api-Key {institution_key}"})
        print(f"response: {status}, {len(body)} bytes for {KEYS} keys")
        srv.compare(
            f"GET {url} (cached, institution key)",
            url,
            {"Authorization": f"Api-Key {institution_key}"},
        )
        srv.compare(
            f"GET {url} (cached, platform key)",
            url,
            {"Authorization": f"Api-Key {platform_key}"},
        )
        one = f"/api/v1/configurations/{definitions[7].key}/resolve?institution={CODE}"
        srv.compare(
            "GET /api/v1/configurations/{key}/resolve (cached)",
            one,
            {"Authorization": f"Api-Key {platform_key}"},
        )


if __name__ == "__main__":
    main()
