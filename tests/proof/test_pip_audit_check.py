"""Part 5: the logic of `make audit` (scripts/pip_audit_check.py) over pip-audit's JSON output.

fixtures/pip_audit_all_skipped.json is the real `pip-audit --format json` report of a real run
on this project's environment where PyPI's per-version JSON API did not answer: every package
skipped, and pip-audit itself said "No known vulnerabilities found" and exited 0. Reports with
checked and vulnerable packages are made with pip-audit's own JSON formatter, so the shape is
pip-audit's, not a guess.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version
from pip_audit._format import JsonFormat
from pip_audit._service import ResolvedDependency, SkippedDependency, VulnerabilityResult

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "pip_audit_all_skipped.json"
SCRIPT = ROOT / "scripts" / "pip_audit_check.py"

pytestmark = [pytest.mark.proof, pytest.mark.timeout(60)]


def _load():
    spec = importlib.util.spec_from_file_location("pip_audit_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["pip_audit_check"] = module
    spec.loader.exec_module(module)
    return module


check = _load()


def formatted(result: dict) -> dict:
    """A report exactly as `pip-audit --format json` writes it (its own formatter)."""
    return json.loads(JsonFormat(output_desc=True, output_aliases=True).format(result, []))


def vuln(ident: str) -> VulnerabilityResult:
    return VulnerabilityResult(
        id=ident,
        description="d",
        fix_versions=[Version("9.9")],
        aliases={"CVE-2099-1"},
        published=None,
    )


def test_real_run_where_every_package_was_skipped_fails():
    report = json.loads(FIXTURE.read_text())
    assert report["dependencies"]
    assert all("skip_reason" in d for d in report["dependencies"])
    summary = check.summarise(report)
    code, text = check.verdict(summary, pip_audit_status=0)
    assert summary.checked == []
    assert len(summary.skipped) == len(report["dependencies"])
    assert code == check.EXIT_CHECKED_NONE != 0
    assert f"checked 0 of {len(report['dependencies'])} packages" in text
    assert "Dependency not found on PyPI" in text


def test_checked_packages_without_vulnerabilities_pass():
    report = formatted(
        {
            ResolvedDependency(name="Django", version=Version("5.2.19")): [],
            ResolvedDependency(name="requests", version=Version("2.34.2")): [],
            SkippedDependency(name="cbpconfig", skip_reason="Dependency not found on PyPI"): [],
        }
    )
    code, text = check.verdict(check.summarise(report))
    assert code == check.EXIT_OK
    assert "checked 2 of 3 packages (1 skipped, 0 with known vulnerabilities)" in text


def test_a_vulnerable_package_fails():
    report = formatted(
        {
            ResolvedDependency(name="Django", version=Version("5.2.19")): [vuln("PYSEC-2099-1")],
            ResolvedDependency(name="requests", version=Version("2.34.2")): [],
        }
    )
    code, text = check.verdict(check.summarise(report))
    assert code == check.EXIT_VULNERABLE
    assert "VULNERABLE django==5.2.19: PYSEC-2099-1 (fixed in 9.9)" in text


def test_an_empty_environment_fails():
    code, _ = check.verdict(check.summarise(formatted({})))
    assert code == check.EXIT_CHECKED_NONE


def test_a_minimum_can_be_required():
    report = formatted({ResolvedDependency(name="Django", version=Version("5.2.19")): []})
    assert check.verdict(check.summarise(report), min_checked=2)[0] == check.EXIT_CHECKED_NONE


@pytest.mark.parametrize("content", ["", "not json", '{"fixes": []}', "[]"])
def test_a_missing_or_broken_report_fails(tmp_path, content):
    path = tmp_path / "report.json"
    if content:
        path.write_text(content)
    code, text = check.judge_file(path, pip_audit_status=1)
    assert code == check.EXIT_CHECKED_NONE
    assert "FAIL" in text


def test_the_command_line_exit_code(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(FIXTURE)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == check.EXIT_CHECKED_NONE, done.stdout + done.stderr
    assert "pip-audit checked 0 of" in done.stdout
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(formatted({ResolvedDependency(name="Django", version=Version("5.2.19")): []}))
    )
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(good)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
