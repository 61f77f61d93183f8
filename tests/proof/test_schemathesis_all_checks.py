"""Part 1: Schemathesis with every check over every documented operation.

The equivalent of `schemathesis run /api/schema/ --checks all`, driven from Python in-process
through the WSGI application (the test run's PostgreSQL and Redis; ~10x faster than HTTP to a
live server, so far more cases fit the budget): all phases (examples, coverage, fuzzing,
stateful), positive and negative data, every built-in check, a bounded number of examples per
operation and a wall-clock cap. Run once with a platform write key and once with institution
A's key. Failures are printed grouped by check and operation (with the status code received);
any failure or engine error fails the test.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connections
from schemathesis.engine import Status, events, from_schema
from schemathesis.transport.wsgi import WSGITransport

from cbpconfig.wsgi import application
from tests.proof.exemptions import exempted, register_date_formats
from tests.proof.world import seed

# Dates within the documented supported range (tests/proof/exemptions.py, 1.).
register_date_formats()

# Budgets: examples per operation and phase, and a wall-clock cap per run (seconds).
MAX_EXAMPLES = int(os.environ.get("PROOF_ST_MAX_EXAMPLES", "10"))
# The seed is fixed, so a run covers the same prefix of cases each time; a longer run (more
# PROOF_ST_MAX_TIME) reaches further and finds more domain rules the schema cannot express.
MAX_TIME = int(os.environ.get("PROOF_ST_MAX_TIME", "60"))
# Another seed reaches other cases (a local exploration; CI keeps the default).
SEED = int(os.environ.get("PROOF_ST_SEED", "20261130"))

pytestmark = [pytest.mark.proof, pytest.mark.timeout(MAX_TIME + 60)]


@pytest.fixture
def in_process(monkeypatch):
    """Serve schemathesis in-process from the engine's worker threads.

    - schemathesis 4.32's WSGI transport passes the network-only `max_redirects`/`verify`/
      `cert`/`proxies` options on to werkzeug when its session is werkzeug's client
      ("EnvironBuilder.__init__() got an unexpected keyword argument 'max_redirects'"); drop them.
    - Each worker thread gets its own database connection (the data is committed:
      transactional_db); keep them open for speed and close them all at the end.
    """
    opened = []
    original = WSGITransport.send

    def send(self, case, *, session=None, **kwargs):
        for name in ("max_redirects", "verify", "cert", "proxies"):
            kwargs.pop(name, None)
        try:
            return original(self, case, session=session, **kwargs)
        finally:
            conn = connections["default"]
            if conn not in opened:
                opened.append(conn)

    monkeypatch.setattr(WSGITransport, "send", send)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    for conn in opened:
        if conn is not connections["default"]:
            conn.inc_thread_sharing()
            conn.close()


def _config(key: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "max-time": MAX_TIME,
            "headers": {"Authorization": f"Api-Key {key}"},
            "workers": 1,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
            "checks": {
                "enabled": True,
                # API.md: a PUT/PATCH/DELETE whose If-Match names another version is a 412, and
                # "a malformed If-Match is 412": neither a schema-valid nor a schema-violating
                # If-Match can promise anything else. Otherwise the checks' own defaults.
                "positive_data_acceptance": {
                    "expected-statuses": [
                        "2xx",
                        "3xx",
                        "401",
                        "403",
                        "404",
                        "409",
                        "412",
                        "429",
                        "5xx",
                    ]
                },
                "negative_data_rejection": {
                    "expected-statuses": [
                        "400",
                        "401",
                        "403",
                        "404",
                        "405",
                        "406",
                        "409",
                        "412",
                        "415",
                        "422",
                        "428",
                        "429",
                        "5xx",
                    ]
                },
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True},
            },
            "suppress-health-check": ["all"],
        }
    )


def record_failures(
    recorder, failures: dict, checks_run: set[str], exempt: dict | None = None
) -> None:
    """Add a scenario's failed checks to `failures[(check, operation)]`: the status codes
    received and, per distinct reason, the request sent and the start of the answer. A
    failure an API.md rule explains (tests/proof/exemptions.py) is counted in `exempt`
    under that rule instead."""
    for case_id, nodes in recorder.checks.items():
        for node in nodes:
            checks_run.add(node.name)
            if node.status != Status.FAILURE or node.failure_info is None:
                continue
            failure = node.failure_info.failure
            operation = failure.operation or recorder.label
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            got = response.status_code if response is not None else "-"
            if response is not None:
                text = response.content.decode("utf-8", "replace")
                rule = exempted(node.name, operation, got, text)
                if rule is not None:
                    if exempt is not None:
                        exempt[rule] = exempt.get(rule, 0) + 1
                    continue
            found = failures.setdefault((node.name, operation), {"got": set(), "why": []})
            found["got"].add(str(got))
            message = " ".join(f"{failure.title}: {failure.message}".split())[:400]
            if response is not None:
                uri = interaction.request.uri.split("/", 3)[-1]
                body = " ".join(response.content[:160].decode("utf-8", "replace").split())
                sent = interaction.request.body or b""
                if isinstance(sent, str):
                    sent = sent.encode()
                sent_text = " ".join(sent[:200].decode("utf-8", "replace").split())
                message += f" | sent /{uri[:120]} {sent_text} | got {got} {body}"
            if message not in found["why"]:
                found["why"].append(message)


def run_all_checks(key: str):
    """Run the engine; return ({(check, operation): [messages]}, errors, counters)."""
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=_config(key))
    failures: dict[tuple[str, str], dict] = {}
    exempt: dict[str, int] = {}
    errors: list[str] = []
    stop = "?"
    phase_status: dict[str, str] = {}
    checks_run: set[str] = set()
    scenarios = 0
    operations: set[str] = set()
    phases: dict[str, list[float]] = {}  # phase -> [first event, last event, scenarios]
    for event in from_schema(schema).execute():
        phase = getattr(event, "phase", None)
        if phase is not None:
            name = str(getattr(phase, "name", phase)).lower().removeprefix("phasename.")
            name = name.removesuffix("_testing")
            now = time.monotonic()
            span = phases.setdefault(name, [now, now, 0])
            span[1] = now
            if isinstance(event, events.ScenarioFinished):
                span[2] += 1
        if isinstance(event, events.PhaseFinished):
            phase_status[name] = str(event.status)
        if isinstance(event, events.ScenarioFinished):
            scenarios += 1
            operations.add(event.recorder.label)
            record_failures(event.recorder, failures, checks_run, exempt)
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.title}: {event.info.message}"[:300])
        elif isinstance(event, events.FatalError):
            errors.append(f"FATAL: {event.exception!r}"[:500])
        elif isinstance(event, events.EngineFinished):
            stop = str(event.stop_reason)
    timing = ", ".join(
        f"{name} {span[1] - span[0]:.0f}s/{span[2]} scenarios ({phase_status.get(name, '-')})"
        for name, span in phases.items()
    )
    return (
        failures,
        errors,
        {
            "scenarios": scenarios,
            "operations": len(operations),
            "stop": stop,
            "phases": timing,
            "checks": ", ".join(sorted(checks_run)),
            "exempt": exempt,
        },
    )


def report(title: str, failures, errors, counters) -> str:
    """Grouped by check, then operation: the status codes received and the first reason."""
    lines = [
        f"== schemathesis --checks all [{title}]: {counters['operations']} operations, "
        f"{counters['scenarios']} scenarios (engine stop: {counters['stop']}), "
        f"{len(failures)} failing (check, operation) pairs, {len(errors)} errors",
        f"  phases: {counters['phases']}",
        f"  checks that ran: {counters['checks']}",
    ]
    by_check: dict[str, list[str]] = defaultdict(list)
    for (check, operation), found in sorted(failures.items()):
        got = ",".join(sorted(found["got"]))
        by_check[check].append(f"    {operation}  [got {got}]  {found['why'][0]}")
    for check, rows in sorted(by_check.items()):
        lines.append(f"  [{check}] {len(rows)} operation(s)")
        lines.extend(rows)
    lines.extend(f"  [error] {e}" for e in errors)
    for rule, count in sorted(counters.get("exempt", {}).items()):
        lines.append(f"  [exempt, API.md] {count}x {rule}")
    return "\n".join(lines)


@pytest.mark.parametrize("who", ["platform_write", "a_read"])
def test_schemathesis_all_checks(who, transactional_db, in_process, proof_report):
    world = seed()
    started = time.monotonic()
    failures, errors, counters = run_all_checks(world.keys[who])
    text = report(who, failures, errors, counters) + f"\n  took {time.monotonic() - started:.1f}s"
    proof_report(text)
    assert counters["operations"] > 0, "schemathesis ran no operation"
    clean = not failures and not errors
    assert clean, text.splitlines()[0] + " (details: proof report)"
