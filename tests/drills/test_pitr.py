"""Drill: point-in-time recovery with pgBackRest (docs/operations.md, "Data recovery").

A scratch cluster archives its WAL with deploy/pgbackrest/postgresql-archiving.conf into a
repository configured by deploy/pgbackrest/pgbackrest.conf (only paths and the port changed).
Then, as the runbook says: stanza-create and check; a full backup; changes through the API of
a real gunicorn; an incremental backup; the time is noted; more changes; `pgbackrest check` (the WAL past the noted
time is archived); the application and the database stop; `pgbackrest restore --type=time`;
the database starts and recovers to the noted time; `manage.py clear_caches`; and the API
answers exactly — status and body of every read, the audit log included — as it did at the
noted time. (The ETags of computed answers are cache tokens, renewed by clear_caches on
purpose; those of stored objects are their versions and come back as they were.)

The drill keeps the same Redis across the restore and reads the API once before
`clear_caches`, to show what that step is for: the cache still holds answers computed after
the noted time, under tokens that nothing below Django has bumped.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.drills.conftest import need
from tests.drills.stack import (
    DEPLOY,
    HOST,
    Calls,
    Cluster,
    as_postgres,
    chown_postgres,
    django_env,
    manage,
    run,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.timeout(300)

READS = [
    "/api/v1/calendars/TARGET2/business-days/check?date=2026-05-04",
    "/api/v1/calendars/TARGET2/business-days/check?date=2026-05-05",
    "/api/v1/calendars/TARGET2/holidays/",
    "/api/v1/windows/SCT/sessions?start=2026-05-04&end=2026-05-08",
    "/api/v1/flags/new-ledger/",
    "/api/v1/flags/evaluate?institution=DEUTDEFF",
    "/api/v1/institutions/DEUTDEFF/configuration?at=2026-06-01T00:00:00Z",
    "/api/v1/configurations/payments.max_amount/values/",
    "/api/v1/audit-log/?page_size=500",
]


def pgbackrest_conf(cluster: Cluster) -> tuple[str, str]:
    """deploy/pgbackrest/pgbackrest.conf with the paths and the port of this cluster."""
    text = (DEPLOY / "pgbackrest" / "pgbackrest.conf").read_text()
    # The retention the runbook promises: any second of the last 7 days.
    assert re.search(r"^repo1-retention-full-type=time$", text, re.M)
    assert re.search(r"^repo1-retention-full=7$", text, re.M)
    root = cluster.root
    for name in ("repo", "pgbackrest-log", "pgbackrest-lock"):
        (root / name).mkdir()
        chown_postgres(root / name)
    values = {
        "repo1-path": root / "repo",
        "log-path": root / "pgbackrest-log",
        "pg1-path": cluster.datadir,
        "pg1-port": cluster.port,
        "pg1-socket-path": cluster.sockdir,
    }
    for key, value in values.items():
        text, count = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
        assert count == 1, f"{key} is not set once in pgbackrest.conf"
    text = text.replace("[global]\n", f"[global]\nlock-path={root / 'pgbackrest-lock'}\n", 1)
    path = root / "pgbackrest.conf"
    path.write_text(text)
    chown_postgres(path)
    return str(path), text


def snapshot(calls: Calls, port: int, key: str) -> dict[str, tuple]:
    answers = {}
    for path in READS:
        status, headers, body = calls.request(port, "GET", path, key)
        answers[path] = (status, headers.get("ETag"), body)
    return answers


def differing(a: dict, b: dict) -> list[str]:
    """Reads whose status or body differ. ETags are compared apart: a computed answer's ETag is
    its cache token, which clear_caches renews on purpose (clients revalidate once)."""
    return [path for path in READS if (a[path][0], a[path][2]) != (b[path][0], b[path][2])]


def new_etags(a: dict, b: dict) -> list[str]:
    return [path for path in READS if a[path][1] != b[path][1]]


def test_pitr__restore_to_a_noted_second__the_api_answers_as_it_did_then(
    golden, procs, drill_report
):
    need("postgres", "pgbackrest", "redis-server")
    started = time.monotonic()
    notes: list[str] = []
    calls = Calls()
    cluster = golden.clone(procs, "pitr")
    conf, _ = pgbackrest_conf(cluster)
    cluster.env = {"PGBACKREST_CONFIG": conf}
    cluster.include(DEPLOY / "pgbackrest" / "postgresql-archiving.conf")
    cluster.start()

    def pgbackrest(*args: str, timeout: float = 120) -> str:
        command = as_postgres(["env", f"PGBACKREST_CONFIG={conf}", "pgbackrest", *args])
        t0 = time.monotonic()
        done = run(command, timeout=timeout)
        notes.append(f"pgbackrest {' '.join(args)}: {time.monotonic() - t0:.1f}s")
        return done.stdout

    pgbackrest("--stanza=cbp", "stanza-create")
    pgbackrest("--stanza=cbp", "check")
    pgbackrest("--stanza=cbp", "--type=full", "backup")

    _, redis_port = procs.redis("redis")
    env = django_env(f"postgres://cbp@{HOST}:{cluster.port}/cbp", f"redis://{HOST}:{redis_port}/0")
    keys = golden.keys
    reader, writer = keys["platform_read"], keys["platform_write"]
    app, http_port = procs.gunicorn("gunicorn", env)

    def write(method: str, path: str, body=None) -> None:
        status, _, payload = calls.request(http_port, method, path, writer, body)
        assert isinstance(status, int), (method, path, status, payload)
        assert 200 <= status < 300, (method, path, status, payload)

    # Changes before the noted time.
    write("POST", "/api/v1/calendars/TARGET2/holidays/", {"date": "2026-05-04", "name": "Before"})
    write("PATCH", "/api/v1/flags/new-ledger/", {"everyone": True})
    write(
        "POST",
        "/api/v1/configurations/payments.max_amount/values/",
        {
            "institution": "DEUTDEFF",
            "value": "6000000.00",
            "effective_from": "2026-03-01T00:00:00Z",
        },
    )
    # The hourly incremental backup (cbp-backups.cron): the restore below starts from full +
    # incremental and replays the WAL from there.
    pgbackrest("--stanza=cbp", "--type=incr", "backup")
    at_noted_time = snapshot(calls, http_port, reader)
    assert all(status == 200 for status, _, _ in at_noted_time.values()), (
        {path: answer[0] for path, answer in at_noted_time.items()},
        procs.log_tail("gunicorn", 6000),
    )
    noted = cluster.query(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"
    )[0][0]
    notes.append(f"noted time {noted}")
    time.sleep(0.5)

    # Changes after it, which the restore must undo.
    write("DELETE", "/api/v1/calendars/TARGET2/holidays/2026-05-04/")
    write("POST", "/api/v1/calendars/TARGET2/holidays/", {"date": "2026-05-05", "name": "After"})
    write("PATCH", "/api/v1/flags/new-ledger/", {"everyone": False})
    write(
        "POST",
        "/api/v1/configurations/payments.max_amount/values/",
        {
            "institution": "DEUTDEFF",
            "value": "9000000.00",
            "effective_from": "2026-04-01T00:00:00Z",
        },
    )
    after_changes = snapshot(calls, http_port, reader)  # also fills the cache with these answers
    changed = differing(at_noted_time, after_changes)
    assert len(changed) >= 6, f"the later changes should show in most reads: {changed}"

    # The runbook: archive the WAL past the noted time, stop the application and the database,
    # restore to the noted time, start the database (it recovers and promotes).
    pgbackrest("--stanza=cbp", "check")
    procs.procs.remove(("gunicorn", app))
    stop_process(app)
    cluster.stop("fast")
    t0 = time.monotonic()
    pgbackrest(
        "--stanza=cbp",
        "--delta",
        "--type=time",
        f"--target={noted}",
        "--target-action=promote",
        "restore",
    )
    cluster.start()
    assert wait_until(
        lambda: not cluster.query("SELECT pg_is_in_recovery()", dbname="postgres")[0][0], 60
    ), cluster.log_tail()
    notes.append(f"restore + recovery to the noted time: {time.monotonic() - t0:.1f}s")
    rows = cluster.query(
        "SELECT h.name FROM calendars_holiday h JOIN calendars_calendar c ON c.id = h.calendar_id "
        "WHERE c.code = 'TARGET2' AND h.date IN ('2026-05-04', '2026-05-05') ORDER BY h.date"
    )
    assert [r[0] for r in rows] == ["Before"], rows

    # The application again, on the same Redis: before clear_caches it may answer from answers
    # cached after the noted time; after it, exactly as at the noted time.
    _, http_port = procs.gunicorn("gunicorn-restored", env)
    stale = differing(at_noted_time, snapshot(calls, http_port, reader))
    notes.append(
        f"before clear_caches {len(stale)} of {len(READS)} reads still answered the later state "
        f"from the cache ({', '.join(p.split('?')[0] for p in stale) or 'none'})"
    )
    cleared = manage(env, "clear_caches")
    notes.append(f"manage.py clear_caches: {cleared.stdout.strip()}")
    restored = snapshot(calls, http_port, reader)
    wrong = differing(at_noted_time, restored)
    # Service restoration: archiving goes on from the new timeline; a new full backup is the
    # base of the next recovery.
    pgbackrest("--stanza=cbp", "check")
    pgbackrest("--stanza=cbp", "--type=full", "backup")
    backups = pgbackrest("--stanza=cbp", "info").count("full backup:")  # incremental not counted
    notes.append(f"pgbackrest info after the restore: {backups} full backups in the repository")
    renewed = new_etags(at_noted_time, restored)
    notes.append(
        f"after clear_caches {len(READS) - len(wrong)} of {len(READS)} reads (status and body) "
        f"equal to the noted time's; {len(renewed)} ETags are new tokens "
        f"({', '.join(p.split('?')[0] for p in renewed) or 'none'})"
    )
    drill_report(
        "drill pitr (pgBackRest, restore to a noted second)",
        time.monotonic() - started,
        calls.figures(),
        notes,
    )
    assert not wrong, {path: (at_noted_time[path], restored[path]) for path in wrong}
    assert backups == 2, "the full backup after the restore is not in the repository"
