"""Drills: read scaling and failover on PostgreSQL's own streaming replication
(docs/operations.md, "Failover"; cbpconfig/routers.py).

A scratch primary runs deploy/pgbackrest/postgresql-replication.conf unchanged (synchronous
replication to whichever replica is connected); its replica is made as the runbook says, with
`pg_basebackup -R` and `synchronous_standby_names = ''` in its postgresql.auto.conf. The
replica logs every statement, so the drill can see which reads it served. gunicorn runs with

    DATABASE_URL=postgres://cbp@PRIMARY,REPLICA/cbp?target_session_attrs=read-write
    DATABASE_REPLICA_URL=postgres://cbp@REPLICA,PRIMARY/cbp?target_session_attrs=prefer-standby

1. Routing: hot reads are served by the replica; a caller that has just written reads its
   write although the replica (replay paused) does not have it yet; once the replica has caught
   up and the pin has expired, hot reads go to the replica again.
2. Failover under a bounded read and write load: the primary is stopped (`pg_ctl stop -m
   immediate`), the replica promoted (`pg_ctl promote`); the same gunicorn answers again without
   a restart, every acknowledged write is on the promoted server, and /ready went from the old
   primary's address through 503 to the new one's.
3. Restoration: a new replica of the promoted server (pg_basebackup again), synchronous
   replication turned back on; a write is on the new replica once acknowledged.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.drills.conftest import need
from tests.drills.stack import (
    DEPLOY,
    HOST,
    Load,
    Processes,
    as_postgres,
    chown_postgres,
    django_env,
    manage,
    missing_rows,
    ready,
    redis_cli,
    request,
    run,
    wait_until,
)

pytestmark = pytest.mark.timeout(240)


class Replicated:
    def __init__(self, procs: Processes, golden):
        self.procs = procs
        self.keys = golden.keys
        self.primary = golden.clone(procs, "primary")
        self.primary.include(DEPLOY / "pgbackrest" / "postgresql-replication.conf")
        self.primary.start()
        self.replica = procs.cluster("replica", golden.bindir)
        # The runbook's commands: a base backup that writes standby.signal and primary_conninfo;
        # a replica never waits for a standby of its own once promoted.
        run(
            as_postgres(
                [
                    str(golden.bindir / "pg_basebackup"),
                    "-h",
                    HOST,
                    "-p",
                    str(self.primary.port),
                    "-U",
                    "postgres",
                    "-D",
                    str(self.replica.datadir),
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                ]
            )
        )
        with open(self.replica.datadir / "postgresql.auto.conf", "a", encoding="utf-8") as auto:
            auto.write("synchronous_standby_names = ''\n")
        # Drill only: every statement in the replica's log, to see which reads it served.
        self.replica.configure("log_statement = 'all'", "log_line_prefix = '%m [%p] %u@%d '")
        self.replica.start()
        assert wait_until(
            lambda: self.primary.query("SELECT sync_state FROM pg_stat_replication") == [("sync",)],
            30,
        ), self.primary.log_tail()
        _, self.redis_port = procs.redis("redis")
        self.env = django_env(
            f"postgres://cbp@{self.primary.address},{self.replica.address}/cbp"
            "?target_session_attrs=read-write",
            f"redis://{HOST}:{self.redis_port}/0",
            DATABASE_REPLICA_URL=f"postgres://cbp@{self.replica.address},{self.primary.address}"
            "/cbp?target_session_attrs=prefer-standby",
        )
        self.app, self.port = procs.gunicorn("gunicorn", self.env)

    def replica_statements(self) -> list[str]:
        """Application statements the replica has run (not the router's caught-up check)."""
        lines = self.replica.logfile.read_text(errors="replace").splitlines()
        return [
            line
            for line in lines
            if " cbp@cbp " in line
            and "statement: SELECT" in line
            and "pg_is_in_recovery" not in line
        ]


@pytest.fixture(scope="module")
def replicated(golden, drill_root):
    need("postgres", "redis-server", "redis-cli")
    where = drill_root / "failover"
    where.mkdir()
    chown_postgres(where)
    procs = Processes(where)
    try:
        yield Replicated(procs, golden)
    finally:
        procs.stop_all()


HOT = [
    "/api/v1/calendars/TARGET2/business-days/check?date=2026-12-24",
    "/api/v1/calendars/TARGET2+USFED/business-days/next?date=2026-07-02",
    "/api/v1/windows/SCT/sessions?start=2026-05-04&end=2026-05-08",
    "/api/v1/institutions/DEUTDEFF/configuration?at=2026-06-01T00:00:00Z",
    "/api/v1/flags/evaluate?institution=DEUTDEFF",
]


def hot_reads(stack: Replicated, key: str, rounds: int = 3) -> None:
    for _ in range(rounds):
        for path in HOT:
            status, _, body = request(stack.port, "GET", path, key)
            assert status == 200, (path, status, body, stack.procs.log_tail("gunicorn"))


def pin_present(stack: Replicated) -> bool:
    return redis_cli(stack.redis_port, "EXISTS", "drill:1:db:primary-pin") == "1"


def test_replica__hot_reads_served_by_the_replica__a_writer_reads_its_write(
    replicated, drill_report
):
    stack = replicated
    started = time.monotonic()
    notes = []
    reader, writer = stack.keys["platform_read"], stack.keys["platform_write"]

    # Cold answers (clear_caches) so the reads reach a database at all.
    manage(stack.env, "clear_caches")
    before = len(stack.replica_statements())
    hot_reads(stack, reader)
    served = len(stack.replica_statements()) - before
    notes.append(f"hot reads with a cold cache: {served} statements served by the replica")
    assert served > 0, "no hot read reached the replica"

    # Read-your-writes: the replica stops replaying; a write, then at once a read of it.
    stack.replica.query("SELECT pg_wal_replay_pause()")
    try:
        t0 = time.monotonic()
        status, _, body = request(
            stack.port,
            "POST",
            "/api/v1/calendars/TARGET2/holidays/",
            writer,
            {"date": "2026-05-06", "name": "Read your writes"},
        )
        assert status == 201, body
        pinned = pin_present(stack)
        answers = {}
        for who, key in (("writer", writer), ("another caller", reader)):
            status, _, body = request(
                stack.port,
                "GET",
                "/api/v1/calendars/TARGET2/business-days/check?date=2026-05-06",
                key,
            )
            answers[who] = (status, b"Read your writes" in body)
        took = time.monotonic() - t0
        on_replica = stack.replica.query(
            "SELECT count(*) FROM calendars_holiday WHERE name = 'Read your writes'"
        )[0][0]
    finally:
        stack.replica.query("SELECT pg_wal_replay_resume()")
    notes.append(
        f"write then read in {took * 1000:.0f} ms with replay paused: the replica had "
        f"{on_replica} copies of the row; the answers showed it: {answers}; pin set: {pinned}"
    )
    assert on_replica == 0, "the replica was meant to lag behind"
    assert pinned, "a write must pin the hot reads to the primary"
    assert answers == {"writer": (200, True), "another caller": (200, True)}, answers

    # Caught up and unpinned: the replica serves hot reads again.
    assert wait_until(
        lambda: (
            stack.replica.query(
                "SELECT count(*) FROM calendars_holiday WHERE name = 'Read your writes'"
            )[0][0]
            == 1
        ),
        10,
    )
    assert wait_until(lambda: not pin_present(stack), 10), "the pin never expired"
    time.sleep(1.1)  # one caught-up check interval
    manage(stack.env, "clear_caches")
    before = len(stack.replica_statements())
    hot_reads(stack, reader)
    again = len(stack.replica_statements()) - before
    notes.append(f"after catch-up and the pin's expiry: {again} statements served by the replica")
    drill_report(
        "drill replica reads (router, read-your-writes)", time.monotonic() - started, None, notes
    )
    assert again > 0, "the replica was not used again after catching up"


def test_failover__primary_stopped_replica_promoted__service_answers_again_without_restart(
    replicated, drill_report
):
    stack = replicated
    started = time.monotonic()
    status, body = ready(stack.port)
    assert status == 200, body
    assert body.get("database_server") == stack.primary.address, body
    master_pid = stack.app.pid

    readiness: list[tuple[float, int | str, str | None]] = []
    stop_polling = threading.Event()
    load = Load(stack.port, stack.keys, "failover")

    def poll_ready():
        while not stop_polling.is_set():
            status, body = ready(stack.port)
            readiness.append((time.monotonic() - load.started, status, body.get("database_server")))
            time.sleep(0.2)

    poller = threading.Thread(target=poll_ready, daemon=True)
    marks = {}

    def stop_primary():
        stack.primary.stop("immediate")
        marks["stopped"] = time.monotonic() - load.started

    def promote_replica():
        stack.replica.promote()
        marks["promoted"] = time.monotonic() - load.started

    poller.start()
    try:
        log = load.run(
            [
                (4.0, "primary: pg_ctl stop -m immediate", stop_primary),
                (6.0, "replica: pg_ctl promote", promote_replica),
            ],
            seconds=18.0,
            limit=22.0,
        )
    finally:
        stop_polling.set()
        poller.join(timeout=5)

    figures = load.figures()
    failed = load.failed()
    server_errors = [o for o in load.outcomes if isinstance(o.result, int) and o.result >= 500]
    not_503 = [o for o in server_errors if o.result != 503]
    after_promotion = [o for o in failed if o.at > marks["promoted"] + 3.0]
    lost = missing_rows(stack.replica, load.acked)
    outage = (min(o.at for o in failed), max(o.at for o in failed)) if failed else None
    servers = [s for _, st, s in readiness if st == 200]
    unavailable = [t for t, st, _ in readiness if st != 200]
    notes = [
        *log,
        f"failed requests between t={outage[0]:.1f}s and t={outage[1]:.1f}s" if outage else "",
        f"/ready: 200 from {servers[0] if servers else None} -> 503 for "
        f"{len(unavailable)} polls -> 200 from {servers[-1] if servers else None}",
        f"acknowledged writes {len(load.acked)}, lost {len(lost)}; gunicorn master pid "
        f"{master_pid} before and {stack.app.pid} after, running: {stack.app.poll() is None}",
    ]
    drill_report(
        "drill postgres failover (stop -m immediate, promote)",
        time.monotonic() - started,
        figures,
        [n for n in notes if n],
    )
    assert not not_503, f"server errors other than 503: {not_503[:5]}"
    assert not after_promotion, f"still failing 3 s after promotion: {after_promotion[:5]}"
    assert not lost, f"acknowledged writes lost: {lost[:10]}"
    assert stack.app.poll() is None, "gunicorn was restarted or died"
    assert servers, readiness[:5]
    assert servers[0] == stack.primary.address, readiness[:5]
    assert servers[-1] == stack.replica.address, readiness[-5:]
    assert unavailable, "/ready never reported the outage"
    assert figures["longest"] < 5.0, figures


def test_restoration__a_new_replica_of_the_promoted_server__streams_synchronously(
    replicated, drill_report
):
    """After a failover the old primary is never started as a primary again: a new replica is
    made from the promoted server with the set-up commands, and synchronous replication (so
    the no-loss guarantee) is back; the service keeps answering meanwhile."""
    stack = replicated
    if stack.replica.query("SELECT pg_is_in_recovery()", dbname="postgres")[0][0]:
        pytest.skip("runs after the failover drill")
    started = time.monotonic()
    new_primary = stack.replica
    rebuilt = stack.procs.cluster("rebuilt", new_primary.bindir)
    run(
        as_postgres(
            [
                str(new_primary.bindir / "pg_basebackup"),
                "-h",
                HOST,
                "-p",
                str(new_primary.port),
                "-U",
                "postgres",
                "-D",
                str(rebuilt.datadir),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ]
        )
    )
    with open(rebuilt.datadir / "postgresql.auto.conf", "a", encoding="utf-8") as auto:
        auto.write("synchronous_standby_names = ''\n")
    rebuilt.start()
    # The promoted server came from a replica (synchronous_standby_names = ''): turn synchronous
    # replication back on now that it has a replica of its own.
    new_primary.query("ALTER SYSTEM SET synchronous_standby_names = '*'", dbname="postgres")
    new_primary.query("SELECT pg_reload_conf()", dbname="postgres")
    in_sync = wait_until(
        lambda: (
            new_primary.query("SELECT sync_state FROM pg_stat_replication", dbname="postgres")
            == [("sync",)]
        ),
        30,
    )
    status, _, body = request(
        stack.port,
        "POST",
        "/api/v1/calendars/TARGET2/holidays/",
        stack.keys["platform_write"],
        {"date": "2026-05-08", "name": "After restoration"},
    )
    t0 = time.monotonic()
    replayed = wait_until(
        lambda: (
            rebuilt.query(
                "SELECT count(*) FROM calendars_holiday WHERE name = 'After restoration'"
            )[0][0]
            == 1
        ),
        10,
        step=0.02,
    )
    copies = f"visible there {time.monotonic() - t0:.2f}s after the acknowledgement"
    drill_report(
        "drill postgres restoration (new replica of the promoted server)",
        time.monotonic() - started,
        None,
        [
            f"pg_basebackup + start: in sync {in_sync}; a write answered {status}, flushed on "
            f"the new replica before that (synchronous commit), {copies}"
        ],
    )
    assert in_sync, new_primary.log_tail()
    assert status == 201, body
    assert replayed, "the write never reached the new replica"
