"""Drill: the two Django-level restores on a running service (docs/operations.md, "Data
recovery" and "Recovery: which mechanism gives what"; point in time is test_pitr.py).

1. Configuration archive: `manage.py backup`, a change, `manage.py restore ARCHIVE --dry-run`,
   `manage.py restore ARCHIVE` while gunicorn serves: the domain data answers exactly as in the
   archive; users, API keys and the audit log are kept (the audit log gains the restore's own
   entries); no cache step is needed (restore renews the cache epoch).
2. Whole-database dump: `manage.py dbbackup`, changes (a holiday, a new API key), the application
   stopped, `manage.py dbrestore --noinput`, the application started: everything — domain data,
   API keys, the audit log — answers as at the dump; the key created after it no longer works.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.drills.conftest import need
from tests.drills.stack import HOST, Calls, django_env, manage, request, stop_process

pytestmark = pytest.mark.timeout(240)

DOMAIN = [
    "/api/v1/calendars/TARGET2/business-days/check?date=2026-05-11",
    "/api/v1/calendars/TARGET2/holidays/",
    "/api/v1/flags/new-ledger/",
    "/api/v1/flags/evaluate?institution=DEUTDEFF",
    "/api/v1/institutions/DEUTDEFF/configuration?at=2026-06-01T00:00:00Z",
]
AUDIT = "/api/v1/audit-log/?page_size=500"


def answers(calls: Calls, port: int, key: str, paths: list[str]) -> dict[str, tuple]:
    out = {}
    for path in paths:
        status, _, body = calls.request(port, "GET", path, key)
        out[path] = (status, body)
    return out


def audit_count(calls: Calls, port: int, key: str) -> int:
    status, _, body = calls.request(port, "GET", AUDIT, key)
    assert status == 200, body
    return json.loads(body)["count"]


def test_archive_and_dump__restored_on_a_running_service__answers_as_when_taken(
    golden, procs, drill_report
):
    need("postgres", "redis-server", "pg_dump", "psql")
    started = time.monotonic()
    notes: list[str] = []
    calls = Calls()
    cluster = golden.clone(procs, "db")
    cluster.start()
    _, redis_port = procs.redis("redis")
    backups = procs.root / "backups"
    backups.mkdir()
    env = django_env(
        f"postgres://cbp@{cluster.address}/cbp",
        f"redis://{HOST}:{redis_port}/0",
        CBP_BACKUP_DIR=str(backups),
    )
    app, port = procs.gunicorn("gunicorn", env)
    reader, writer = golden.keys["platform_read"], golden.keys["platform_write"]

    def write(method: str, path: str, body=None) -> None:
        status, _, payload = calls.request(port, method, path, writer, body)
        assert status in (200, 201, 204), (method, path, status, payload)

    # 1. The configuration archive.
    archived = answers(calls, port, reader, DOMAIN)
    audit_at_archive = audit_count(calls, port, reader)
    t0 = time.monotonic()
    archive = manage(env, "backup").stdout.strip().splitlines()[-1]
    notes.append(f"manage.py backup: {time.monotonic() - t0:.1f}s")
    write("POST", "/api/v1/calendars/TARGET2/holidays/", {"date": "2026-05-11", "name": "Later"})
    write("PATCH", "/api/v1/flags/new-ledger/", {"everyone": True})
    assert answers(calls, port, reader, DOMAIN) != archived
    dry_run = manage(env, "restore", archive, "--dry-run").stdout
    t0 = time.monotonic()
    manage(env, "restore", archive)
    notes.append(
        f"manage.py restore (gunicorn serving): {time.monotonic() - t0:.1f}s; the dry run said: "
        + " ".join(dry_run.split())[:160]
    )
    restored = answers(calls, port, reader, DOMAIN)
    audit_after = audit_count(calls, port, reader)
    notes.append(
        f"archive restored: {sum(restored[p] == archived[p] for p in DOMAIN)} of {len(DOMAIN)} "
        f"domain reads as archived; audit log {audit_at_archive} -> {audit_after} entries (kept, "
        "plus the changes and the restore)"
    )
    assert restored == archived
    assert audit_after > audit_at_archive

    # 2. The whole-database dump.
    t0 = time.monotonic()
    manage(env, "dbbackup")
    notes.append(f"manage.py dbbackup: {time.monotonic() - t0:.1f}s")
    dumped = answers(calls, port, reader, [*DOMAIN, AUDIT])
    write("POST", "/api/v1/calendars/TARGET2/holidays/", {"date": "2026-05-11", "name": "Late"})
    late_key = manage(env, "create_api_key", "late-key").stdout.strip().splitlines()[-1]
    assert request(port, "GET", "/api/v1/calendars/", late_key)[0] == 200
    procs.procs.remove(("gunicorn", app))
    stop_process(app)
    t0 = time.monotonic()
    manage(env, "dbrestore", "--noinput")
    notes.append(f"manage.py dbrestore (application stopped): {time.monotonic() - t0:.1f}s")
    _, port = procs.gunicorn("gunicorn-restored", env)
    after = answers(calls, port, reader, [*DOMAIN, AUDIT])
    late = request(port, "GET", "/api/v1/calendars/", late_key)[0]
    same = sum(after[p] == dumped[p] for p in after)
    notes.append(
        f"dump restored: {same} of {len(after)} reads (audit log included) as at the dump; "
        f"the key created after the dump now answers {late}"
    )
    drill_report(
        "drill restore mechanisms (backup/restore, dbbackup/dbrestore)",
        time.monotonic() - started,
        calls.figures(),
        notes,
    )
    assert after == dumped, [p for p in after if after[p] != dumped[p]]
    assert late in (401, 403), late
