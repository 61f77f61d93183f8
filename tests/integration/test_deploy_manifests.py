"""Deployment artefacts: alert rules and routes are valid (promtool, amtool), manifests parse,
and every metric they use is one the service defines."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CBP_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{name} is required in CI")
        pytest.skip(f"needs {name} (apt-get install prometheus prometheus-alertmanager)")
    return path


def test_alert_rules__promtool_check_and_unit_tests_pass():
    promtool = _tool("promtool")
    check = subprocess.run(
        [promtool, "check", "rules", "cbpconfig-rules.yml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run(
        [promtool, "test", "rules", "cbpconfig-rules.test.yml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr


def test_alertmanager_routes__valid_and_critical_pages():
    amtool = _tool("amtool")
    config = str(DEPLOY / "alertmanager" / "alertmanager.yml")
    check = subprocess.run([amtool, "check-config", config], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    route = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            "severity=critical",
            "team=platform",
        ],
        capture_output=True,
        text=True,
    )
    assert "platform-pager" in route.stdout
    route = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            "severity=warning",
            "team=operations",
        ],
        capture_output=True,
        text=True,
    )
    assert route.stdout.strip().startswith("operations-chat")


def test_kubernetes_manifests__parse_and_probe_live_and_ready():
    documents = []
    for path in (DEPLOY / "kubernetes").glob("*.yaml"):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    kinds = {d["kind"] for d in documents}
    assert {"Deployment", "Service", "ConfigMap", "Job", "CronJob"} <= kinds
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"


def _metric_bases_in_source() -> str:
    text = []
    for app in ("cbpconfig", "calendars", "windows", "configuration", "flags"):
        for path in (ROOT / app).rglob("*.py"):
            text.append(path.read_text())
    return "\n".join(text)


def test_rules_and_dashboard__use_only_metrics_the_service_defines():
    source = _metric_bases_in_source()
    used = set()
    for path in [
        DEPLOY / "prometheus" / "cbpconfig-rules.yml",
        DEPLOY / "grafana" / "cbpconfig-dashboard.json",
    ]:
        used |= set(re.findall(r"\bcbp_[a-z_]+", path.read_text()))
    json.loads((DEPLOY / "grafana" / "cbpconfig-dashboard.json").read_text())
    missing = sorted(
        name
        for name in used
        if f'"{name}"' not in source and f'"{name.removesuffix("_total")}"' not in source
    )
    assert not missing, f"metrics used in deploy/ but defined nowhere: {missing}"
