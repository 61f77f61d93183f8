"""Drill: a rolling restart behind HAProxy fails no request (docs/operations.md, "Application
deployment" and "Service restoration").

HAProxy runs deploy/haproxy/haproxy.cfg unchanged (its variables name the drill's ports and
admin socket) in front of two gunicorn instances of the project. Under a bounded read and
write load through HAProxy, each instance in turn is restarted with the runbook's commands:

    deploy/haproxy/cbp-server.sh drain cbp/app1              # no new requests, wait, maint
    kill -TERM <gunicorn master>; start gunicorn again       # it answers what it holds first
    deploy/haproxy/cbp-server.sh ready cbp/app1 HOST:PORT    # its /ready, back in, UP

Zero failed requests, every acknowledged write in the database; HAProxy's own log is read for
5xx answers and for retried connections.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.drills.conftest import need
from tests.drills.stack import (
    DEPLOY,
    HOST,
    Load,
    Ports,
    django_env,
    missing_rows,
    run,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.timeout(240)

HAPROXY_CFG = DEPLOY / "haproxy" / "haproxy.cfg"
SERVER_SH = DEPLOY / "haproxy" / "cbp-server.sh"
# httplog: ... %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc ...
_LOG_LINE = re.compile(r" cbp/(\S+) \S+ (\d{3}) \d+ \S+ \S+ (\S{4}) \d+/\d+/\d+/\d+/\+?(\d+) ")


def test_haproxy_config__haproxy_checks_it_valid():
    need("haproxy")
    done = run(["haproxy", "-c", "-f", str(HAPROXY_CFG)], check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "/ready" in HAPROXY_CFG.read_text()
    run(["bash", "-n", str(SERVER_SH)])


def test_rolling_restart__two_instances_behind_haproxy__no_request_fails(
    golden, procs, drill_report
):
    need("postgres", "redis-server", "haproxy", "socat")
    started = time.monotonic()
    cluster = golden.clone(procs, "db")
    cluster.start()
    _, redis_port = procs.redis("redis")
    env = django_env(f"postgres://cbp@{cluster.address}/cbp", f"redis://{HOST}:{redis_port}/0")
    apps = {}
    for name in ("app1", "app2"):
        apps[name] = procs.gunicorn(name, env)
    front = Ports.take()
    socket_path = procs.root / "haproxy.sock"
    ha_env = {
        **env,
        "CBP_HAPROXY_BIND": f"{HOST}:{front}",
        "CBP_HAPROXY_SOCKET": str(socket_path),
        "CBP_APP1": f"{HOST}:{apps['app1'][1]}",
        "CBP_APP2": f"{HOST}:{apps['app2'][1]}",
        "CBP_HEALTH_HOST": "localhost",
        "CBP_SERVER_TIMEOUT": "30",
    }
    procs.popen("haproxy", ["haproxy", "-db", "-f", str(HAPROXY_CFG)], env=ha_env)

    def show() -> str:
        return run(["bash", str(SERVER_SH), "show"], env=ha_env, check=False).stdout

    assert wait_until(lambda: show().count("status=UP") == 2, 20), show() + procs.log_tail(
        "haproxy"
    )

    timings: list[str] = []

    def restart(name: str) -> None:
        proc, port = apps[name]
        t0 = time.monotonic()
        run(["bash", str(SERVER_SH), "drain", f"cbp/{name}"], env=ha_env, timeout=60)
        t1 = time.monotonic()
        stop_process(proc)  # SIGTERM: gunicorn answers what it holds, then exits
        t2 = time.monotonic()
        apps[name] = procs.gunicorn(f"{name}-new", env, port=port)
        t3 = time.monotonic()
        run(
            ["bash", str(SERVER_SH), "ready", f"cbp/{name}", f"{HOST}:{port}"],
            env=ha_env,
            timeout=60,
        )
        timings.append(
            f"{name}: drained {t1 - t0:.1f}s, stopped {t2 - t1:.1f}s, started {t3 - t2:.1f}s, "
            f"UP again {time.monotonic() - t3:.1f}s (exit code of the old master {proc.returncode})"
        )

    load = Load(front, golden.keys, "rolling")
    log = load.run(
        [
            (2.0, "restart app1", lambda: restart("app1")),
            (2.0, "restart app2", lambda: restart("app2")),
            (0.0, "load goes on 2 s", lambda: time.sleep(2.0)),
        ],
        seconds=0.0,
        limit=90.0,
    )
    time.sleep(0.5)  # HAProxy writes its last log lines
    lines = [
        m.groups()
        for m in map(_LOG_LINE.search, procs.log_tail("haproxy", 10**7).splitlines())
        if m
    ]
    by_server = {name: sum(1 for s, *_ in lines if s == name) for name in ("app1", "app2")}
    errors = [line for line in lines if not line[1].startswith(("2", "3"))]
    retried = [line for line in lines if int(line[3]) > 0]
    figures = load.figures()
    lost = missing_rows(cluster, load.acked)
    notes = [
        *log,
        *timings,
        f"HAProxy's log: {len(lines)} requests ({by_server}), {len(errors)} not 2xx/3xx, "
        f"{len(retried)} retried on another instance",
        f"acknowledged writes {len(load.acked)}, lost {len(lost)}",
    ]
    drill_report(
        "drill rolling restart (HAProxy, 2 gunicorn)", time.monotonic() - started, figures, notes
    )
    assert len(timings) == 2, log
    assert figures["failed"] == 0, figures
    assert not errors, errors[:5]
    assert not lost, lost[:10]
