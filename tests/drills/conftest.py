"""The drills (`make drills`): recovery, failover and restarts rehearsed on real servers that the
drills start themselves — scratch PostgreSQL clusters, redis-servers and sentinels, gunicorn,
HAProxy and pgBackRest — on 127.0.0.1 ports 17300-17499, under one temporary directory.

Not part of `make test`: pyproject's `norecursedirs` keeps pytest out of tests/drills unless the
folder is named (`pytest tests/drills`). Every test here is marked `drill`.

Each drill hands its figures to `drill_report` (duration, requests, failed requests, p99,
longest request, and what it checked); they are printed together at the end of the run and
written to var/drills/report.txt.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.drills.stack import (
    REQUIRE,
    ROOT,
    Cluster,
    Processes,
    chown_postgres,
    django_env,
    manage,
    pg_bindir,
    run,
)
from tests.support.reports import write_report

_reports: list[tuple[str, float, dict | None, list[str]]] = []


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    # `make drills` bounds the run with timeout(1), which sends SIGTERM: end like Ctrl-C, so the
    # fixtures' teardown (and stack.py's exit hook) stop every process started here.
    signal.signal(signal.SIGTERM, _interrupt)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith("tests/drills/"):
            item.add_marker(pytest.mark.drill)


@pytest.fixture(autouse=True)
def _fresh_cache_and_keys():
    """The suite-wide fixture clears the runner's own cache; the drills never use it."""


def need(*tools: str) -> None:
    """Fail (CBP_REQUIRE_SERVICES=1, as in CI) or skip when a tool a drill drives is missing."""
    missing = []
    for tool in tools:
        if tool == "postgres":
            if pg_bindir() is None:
                missing.append("PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
            if os.geteuid() == 0 and not shutil.which("runuser"):
                missing.append("runuser")
        elif not shutil.which(tool):
            missing.append(tool)
    if missing:
        message = "this drill needs " + ", ".join(missing) + " (Debian packages)"
        pytest.fail(message) if REQUIRE else pytest.skip(message)


@pytest.fixture(scope="session")
def drill_root():
    root = Path(tempfile.mkdtemp(prefix="cbp-drills-"))
    chown_postgres(root)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def procs(drill_root):
    """The processes of one drill, stopped by pid when it ends (passing or failing)."""
    # Short: a Unix socket path must stay under 108 bytes.
    where = drill_root / f"d{len(list(drill_root.iterdir()))}"
    where.mkdir()
    chown_postgres(where)
    processes = Processes(where)
    yield processes
    processes.stop_all()
    shutil.rmtree(where, ignore_errors=True)


@dataclass
class Golden:
    """A stopped, migrated and seeded cluster (tests.proof.world) that drills copy."""

    datadir: Path
    bindir: Path
    keys: dict

    def clone(self, procs: Processes, name: str) -> Cluster:
        cluster = procs.cluster(name, self.bindir)
        run(["cp", "-a", str(self.datadir), str(cluster.datadir)])
        return cluster


@pytest.fixture(scope="session")
def golden(drill_root):
    need("postgres")
    started = time.monotonic()
    procs = Processes(drill_root)
    cluster = procs.cluster("golden", pg_bindir())
    try:
        cluster.initdb()
        cluster.start()
        cluster.query("CREATE ROLE cbp LOGIN", dbname="postgres")
        cluster.query("CREATE DATABASE cbp OWNER cbp", dbname="postgres")
        env = django_env(f"postgres://cbp@127.0.0.1:{cluster.port}/cbp", "")
        manage(env, "migrate", "--noinput")
        seeded = run(
            [
                sys.executable,
                "-c",
                "import json, django; django.setup(); from tests.proof.world import seed; "
                "print('KEYS=' + json.dumps(seed().keys))",
            ],
            env=env,
        )
        line = next(x for x in seeded.stdout.splitlines() if x.startswith("KEYS="))
        cluster.stop("fast")
    except BaseException:
        procs.stop_all()
        raise
    _reports.append(
        ("setup: golden cluster (initdb, migrate, seed)", time.monotonic() - started, None, [])
    )
    yield Golden(cluster.datadir, cluster.bindir, json.loads(line[5:]))
    procs.stop_all()


@pytest.fixture
def drill_report():
    """drill_report(name, seconds, figures or None, notes): keep them for the run's report."""

    def add(name: str, seconds: float, figures: dict | None, notes: list[str]) -> None:
        _reports.append((name, seconds, figures, notes))

    return add


def _line(name: str, seconds: float, figures: dict | None) -> str:
    if figures is None:
        return f"{name}: {seconds:.1f}s"
    kinds = figures.get("failed_by_kind") or {}
    return (
        f"{name}: {seconds:.1f}s, {figures['requests']} requests, {figures['failed']} failed"
        f"{' ' + json.dumps(kinds) if kinds else ''}, p99 {figures['p99'] * 1000:.0f} ms, "
        f"longest {figures['longest'] * 1000:.0f} ms ({figures['longest_request']})"
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _reports:
        return
    lines = []
    for name, seconds, figures, notes in _reports:
        lines.append(_line(name, seconds, figures))
        lines.extend(f"    {note}" for note in notes)
    total = sum(seconds for _, seconds, _, _ in _reports)
    lines.append(f"drills total: {total:.1f}s")
    write_report(terminalreporter, "drill report", "\n".join(lines), ROOT / "var" / "drills")
