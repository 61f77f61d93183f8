"""Drill: the cache's Redis fails over under Redis Sentinel (docs/operations.md, "Failover").

A master and a replica redis-server run deploy/redis/redis.conf, and three sentinels
deploy/redis/sentinel.conf (each its own writable copy; only ports and the master's address
changed). gunicorn finds the master through the sentinels:

    REDIS_URL=redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/cbp/0

Under a bounded read and write load the master is killed (SIGKILL); the sentinels agree it is
down and promote the replica. No request may fail (a cache outage falls through to the
database), every acknowledged write is in the database, and afterwards the cache works again
on the new master: /ready says `cache: ok`, a write bumps its token there, the next read shows
the write, and reads hit the new master's keys. Then the old master is started again and the
sentinels make it a replica of the new one.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from tests.drills.conftest import need
from tests.drills.stack import (
    DEPLOY,
    HOST,
    Cluster,
    Load,
    Ports,
    django_env,
    missing_rows,
    ready,
    redis_cli,
    request,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.timeout(240)


def sentinel_conf(path, port: int, master_port: int) -> None:
    """deploy/redis/sentinel.conf with this sentinel's port and the master's address."""
    text = (DEPLOY / "redis" / "sentinel.conf").read_text()
    text, ports = re.subn(r"^port \d+$", f"port {port}", text, flags=re.M)
    text, monitors = re.subn(
        r"^sentinel monitor cbp \S+ \d+ (\d+)$",
        rf"sentinel monitor cbp {HOST} {master_port} \1",
        text,
        flags=re.M,
    )
    assert ports == 1, "sentinel.conf: one port line"
    assert monitors == 1, "sentinel.conf: one monitor line"
    path.write_text(text + f'\nbind {HOST}\ndir "{path.parent}"\nlogfile ""\n')


def listed(port: int, *command: str) -> int:
    """How many entries a SENTINEL listing command returns."""
    return sum(1 for line in redis_cli(port, *command, check=False).splitlines() if line == "name")


def master_port(sentinel: int) -> int | None:
    lines = redis_cli(
        sentinel, "SENTINEL", "get-master-addr-by-name", "cbp", check=False
    ).splitlines()
    return int(lines[1]) if len(lines) == 2 else None


def info(port: int, field: str) -> int:
    match = re.search(rf"^{field}:(\d+)", redis_cli(port, "INFO"), re.M)
    return int(match.group(1)) if match else -1


def test_sentinel__master_killed_under_load__no_request_fails_and_the_cache_works_again(
    golden, procs, drill_report
):
    need("postgres", "redis-server", "redis-sentinel", "redis-cli")
    started = time.monotonic()
    cluster: Cluster = golden.clone(procs, "db")
    cluster.start()
    master, master_at = procs.redis("redis-master")
    _, replica_at = procs.redis("redis-replica", "--replicaof", HOST, str(master_at))
    sentinels = []
    for n in range(3):
        port = Ports.take()
        conf = procs.root / f"sentinel-{n}.conf"
        sentinel_conf(conf, port, master_at)
        procs.popen(f"sentinel-{n}", ["redis-sentinel", str(conf)])
        sentinels.append(port)
    assert wait_until(
        lambda: all(
            listed(s, "SENTINEL", "sentinels", "cbp") == 2
            and listed(s, "SENTINEL", "replicas", "cbp") == 1
            for s in sentinels
        ),
        30,
        step=0.5,
    ), procs.log_tail("sentinel-0")

    env = django_env(
        f"postgres://cbp@{cluster.address}/cbp",
        "redis+sentinel://" + ",".join(f"{HOST}:{s}" for s in sentinels) + "/cbp/0",
    )
    _, http_port = procs.gunicorn("gunicorn", env)
    status, body = ready(http_port)
    assert status == 200, body
    assert body["checks"]["cache"] == "ok", body
    keys = golden.keys
    load = Load(http_port, keys, "sentinel")
    marks: dict[str, float] = {}

    def kill_master():
        stop_process(master, signal.SIGKILL)
        marks["killed"] = time.monotonic() - load.started

    def await_promotion():
        promoted = wait_until(lambda: master_port(sentinels[0]) == replica_at, 20, step=0.2)
        marks["promoted"] = time.monotonic() - load.started if promoted else -1

    log = load.run(
        [
            (4.0, "redis master: SIGKILL", kill_master),
            (4.1, "sentinels promote the replica", await_promotion),
        ],
        seconds=20.0,
        limit=26.0,
    )
    assert marks.get("promoted", -1) > 0, f"the sentinels did not fail over: {log}"

    # The cache works again on the new master.
    assert wait_until(lambda: ready(http_port)[1].get("checks", {}).get("cache") == "ok", 15)
    token_key = "drill:1:gen:calendar:TARGET2"
    token_before = redis_cli(replica_at, "GET", token_key)
    writer, reader = keys["platform_write"], keys["platform_read"]
    status, _, body = request(
        http_port,
        "POST",
        "/api/v1/calendars/TARGET2/holidays/",
        writer,
        {"date": "2026-05-07", "name": "After the failover"},
    )
    assert status == 201, body
    token_after = redis_cli(replica_at, "GET", token_key)
    status, _, body = request(
        http_port, "GET", "/api/v1/calendars/TARGET2/business-days/check?date=2026-05-07", reader
    )
    assert status == 200, body
    assert b"After the failover" in body, body
    hits_before = info(replica_at, "keyspace_hits")
    for _ in range(20):
        request(http_port, "GET", "/api/v1/flags/evaluate?institution=DEUTDEFF", reader)
    hits = info(replica_at, "keyspace_hits") - hits_before

    # Restoration: the old master comes back (its own config, as before the failover) and the
    # sentinels turn it into a replica of the new master.
    t0 = time.monotonic()
    procs.redis("redis-old-master", port=master_at)
    rejoined = wait_until(
        lambda: (
            redis_cli(master_at, "ROLE", check=False).splitlines()[:3]
            == ["slave", HOST, str(replica_at)]
        ),
        20,
        step=0.25,
    )
    rejoin_took = time.monotonic() - t0

    figures = load.figures()
    lost = missing_rows(cluster, load.acked)
    notes = [
        *log,
        f"sentinels named the replica master {marks['promoted'] - marks['killed']:.1f}s after "
        f"the kill; the new master holds {redis_cli(replica_at, 'DBSIZE')} keys",
        f"after: a write bumped the calendar's token on the new master "
        f"({token_before != token_after}); 20 reads made {hits} keyspace hits there",
        f"acknowledged writes {len(load.acked)}, lost {len(lost)}",
        f"the old master restarted: a replica of the new master {rejoin_took:.1f}s later "
        f"({rejoined})",
    ]
    drill_report(
        "drill redis sentinel failover (master SIGKILL)",
        time.monotonic() - started,
        figures,
        notes,
    )
    assert figures["failed"] == 0, (figures, procs.log_tail("gunicorn", 6000))
    assert not lost, lost[:10]
    assert token_before != token_after, "the write did not bump its token on the new master"
    assert hits > 0, "the reads did not use the new master"
    assert figures["longest"] < 3.0, figures
    assert rejoined, redis_cli(master_at, "ROLE", check=False)
