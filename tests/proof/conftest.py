"""The proof suite (`make proof`): its reports and the time each part took.

Not part of `make test`: pyproject's `norecursedirs` keeps pytest out of tests/proof unless the
folder is named on the command line (`pytest tests/proof`). Every test here is marked `proof`.

Each part hands its findings to `proof_report(part, text)`; they are printed together at the
end of the run (passing or failing) and written to var/proof/report.txt, followed by one line
per part with its outcome and wall time.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support.reports import write_report

ROOT = Path(__file__).resolve().parents[2]
PARTS = {
    "test_schemathesis_all_checks": "1 schemathesis, all checks",
    "test_authz_matrix": "2 authorization matrix",
    "test_hostile_input": "3 hostile input",
    "test_fault_drills": "4 fault drills",
    "test_pip_audit_check": "5 pip-audit check logic",
}

# The parts send tens of thousands of requests in-process; the service's per-request and
# per-statement logs (DEBUG/INFO in development) would cost more than the requests. Errors stay.
logging.disable(logging.WARNING)

_reports: list[tuple[str, str]] = []
_timing: dict[str, float] = defaultdict(float)
_outcomes: dict[str, list[str]] = defaultdict(list)
_started: dict[str, float] = {}


def part_of(nodeid: str) -> str | None:
    if not nodeid.startswith("tests/proof/"):
        return None
    module = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    return PARTS.get(module, module)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if part_of(item.nodeid):
            item.add_marker(pytest.mark.proof)


@pytest.fixture
def proof_report(request):
    """proof_report(text): keep `text` for the end-of-run report of this test's part."""

    def add(text: str) -> None:
        _reports.append((part_of(request.node.nodeid) or "?", text))

    return add


def pytest_runtest_logstart(nodeid, location):
    _started[nodeid] = time.monotonic()


def pytest_runtest_logfinish(nodeid, location):
    part = part_of(nodeid)
    if part and nodeid in _started:
        _timing[part] += time.monotonic() - _started.pop(nodeid)


def pytest_runtest_logreport(report):
    part = part_of(report.nodeid)
    if part and (report.when == "call" or report.outcome != "passed"):
        _outcomes[part].append(report.outcome)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _timing:
        return
    lines = []
    for part, text in sorted(_reports, key=lambda r: r[0]):
        lines.append(f"--- [{part}]")
        lines.append(text)
    lines.append("")
    lines.append("proof parts (wall time, setup and teardown included):")
    total = 0.0
    for part in sorted(_timing):
        outcomes = _outcomes.get(part, [])
        counts = ", ".join(f"{outcomes.count(o)} {o}" for o in sorted(set(outcomes)))
        lines.append(f"  {part:32} {_timing[part]:7.1f}s  {counts}")
        total += _timing[part]
    lines.append(f"  {'total':32} {total:7.1f}s")
    write_report(terminalreporter, "proof report", "\n".join(lines), ROOT / "var" / "proof")
