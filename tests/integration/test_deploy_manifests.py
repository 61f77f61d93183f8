"""Deployment artefacts: alert rules and routes are valid (promtool, amtool) and say exactly what
the operations specification says; every rule has a runbook entry and a promtool case where it
fires and resolves; retention per environment; dashboards and provisioning parse; manifests
parse; and every metric they use is one the service defines (or an exporter's)."""

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
RULES = DEPLOY / "prometheus" / "cbpconfig-rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "cbpconfig-rules.test.yml"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"

# The operations specification's alerts and severities (plus two of ours).
SPECIFIED = {
    "ServiceDown": "high",
    "DatabaseConnectionLost": "high",
    "HighErrorRate": "high",
    "HighLatency": "medium",
    "ResourcePressure": "medium",
    "SlowQueries": "medium",
    "BackupMissing": "medium",
    "MinorErrors": "low",
    "ResourceWarning": "low",
}
OURS = {"TargetAbsent": "high", "DeadlocksDetected": "medium"}
ROUTES = {
    "high": ["oncall-team", "operations-lead", "technical-lead"],
    "medium": ["operations-team", "development-team"],
    "low": ["system-dashboard", "daily-report"],
}
RETENTION = {"development": "7d", "staging": "30d", "production": "90d"}
EXPORTER_PREFIXES = ("pg_", "redis_")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CBP_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{name} is required in CI")
        pytest.skip(f"needs {name} (apt-get install prometheus prometheus-alertmanager)")
    return path


def _rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def test_alert_rules__promtool_check_and_unit_tests_pass():
    promtool = _tool("promtool")
    for args in (["check", "rules", RULES.name], ["test", "rules", RULE_TESTS.name]):
        result = subprocess.run(
            [promtool, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config__promtool_check_passes():
    promtool = _tool("promtool")
    result = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert sorted(job["job_name"] for job in config["scrape_configs"]) == [
        "cbpconfig",
        "postgres",
        "redis",
    ]
    assert config["rule_files"] == [RULES.name]


def test_alert_rules__the_specifications_alerts_with_exactly_its_severities():
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in _rules()}
    assert severities == {**SPECIFIED, **OURS}
    assert set(severities.values()) == {"high", "medium", "low"}
    absent = [rule["alert"] for rule in _rules() if "absent(" in rule["expr"]]
    assert absent == ["TargetAbsent"]


def test_alert_rules__summary_description_and_a_runbook_entry_that_exists():
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^## (.+)$", runbooks, flags=re.M)
    }
    for rule in _rules():
        annotations = rule["annotations"]
        assert annotations["summary"].strip(), rule["alert"]
        assert annotations["description"].strip(), rule["alert"]
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path == "docs/runbooks.md", rule["alert"]
        assert anchor == rule["alert"].lower(), rule["alert"]
        assert anchor in anchors, rule["alert"]
        entry = runbooks.split(f"## {rule['alert']}\n", 1)[1].split("\n## ", 1)[0]
        assert "**Act:**" in entry, rule["alert"]
        assert "**Over when**" in entry, rule["alert"]
    # no entry for an alert that does not exist
    assert anchors == {rule["alert"].lower() for rule in _rules()}


def test_rule_tests__every_rule_fires_and_then_resolves():
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    seen: dict[str, list[tuple[int, bool]]] = {}
    for case in cases:
        for check in case["alert_rule_test"]:
            seconds = _seconds(check["eval_time"])
            seen.setdefault(check["alertname"], []).append((seconds, bool(check["exp_alerts"])))
            for alert in check["exp_alerts"]:
                assert alert["exp_labels"]["severity"] in ("high", "medium", "low")
    for rule in _rules():
        checks = sorted(seen.get(rule["alert"], []))
        firing = [t for t, fires in checks if fires]
        assert firing, f"{rule['alert']}: no promtool case where it fires"
        assert any(not fires and t > firing[0] for t, fires in checks), (
            f"{rule['alert']}: no promtool case where it resolves after firing"
        )


def _seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", str(text)))


def test_alertmanager__valid_and_routes_exactly_as_specified():
    amtool = _tool("amtool")
    check = subprocess.run(
        [amtool, "check-config", str(ALERTMANAGER)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for severity, receivers in ROUTES.items():
        route = subprocess.run(
            [
                amtool,
                "config",
                "routes",
                "test",
                f"--config.file={ALERTMANAGER}",
                f"severity={severity}",
                "alertname=Probe",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert route.stdout.strip() == ",".join(receivers), (severity, route.stdout)


def test_alertmanager__one_receiver_per_audience_with_placeholder_webhooks_and_a_daily_report():
    config = yaml.safe_load(ALERTMANAGER.read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert sorted(receivers) == sorted(name for names in ROUTES.values() for name in names)
    for name, receiver in receivers.items():
        [hook] = receiver["webhook_configs"]
        assert hook["url"] == f"http://alert-gateway.invalid/{name}"
    [daily] = [r for r in config["route"]["routes"] if r["receiver"] == "daily-report"]
    assert daily["group_by"] == ["severity"]
    assert daily["repeat_interval"] == "24h"
    assert daily["active_time_intervals"] == ["daily-report-window"]


def test_retention__per_environment_and_production_is_backed_up():
    table = yaml.safe_load((DEPLOY / "prometheus" / "environments.yml").read_text())
    assert {env: table[env]["retention"] for env in RETENTION} == RETENTION
    for env, retention in RETENTION.items():
        assert f"--storage.tsdb.retention.time={retention}" in table[env]["flags"]
    production = table["production"]
    assert "--web.enable-admin-api" in production["flags"]
    assert "backup-monitoring.sh" in production["backup"]["command"]
    assert production["backup"]["schedule"]
    script = DEPLOY / "prometheus" / "backup-monitoring.sh"
    assert subprocess.run(["bash", "-n", str(script)], timeout=30).returncode == 0
    assert os.access(script, os.X_OK)


def test_grafana__provisioning_and_four_dashboards_on_its_data_source():
    datasources = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    [source] = datasources["datasources"]
    providers = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "cbpconfig.yml").read_text()
    )
    assert providers["providers"][0]["type"] == "file"
    uids = set()
    for path in DASHBOARDS.glob("*.json"):
        board = json.loads(path.read_text())
        uids.add(board["uid"])
        assert board["panels"]
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == source["uid"], (path.name, panel["title"])
            assert panel["targets"]
            assert all(t["expr"] for t in panel["targets"])
    assert uids == {
        "cbpconfig-service-health",
        "cbpconfig-database-health",
        "cbpconfig-business",
        "cbpconfig-integrations",
    }


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


def _source() -> str:
    text = []
    for app in ("cbpconfig", "calendars", "windows", "configuration", "flags"):
        for path in (ROOT / app).rglob("*.py"):
            text.append(path.read_text())
    return "\n".join(text)


def _defined_metric_names(source: str) -> set[str]:
    return set(re.findall(r"""["'](cbp_[a-z0-9_]+)["']""", source))


def test_rules_and_dashboards__use_only_metrics_the_service_or_an_exporter_defines():
    defined = _defined_metric_names(_source())
    used = set()
    for path in [RULES, *DASHBOARDS.glob("*.json")]:
        used |= set(re.findall(r"\bcbp_[a-z0-9_]+", path.read_text()))
    missing = sorted(
        name
        for name in used
        if not {
            name,
            name.removesuffix("_total"),
            re.sub(r"_(bucket|count|sum)$", "", name),
        }
        & defined
    )
    assert not missing, f"metrics used in deploy/ but defined nowhere: {missing}"


def test_metric_names__cbp_area_thing_unit():
    metric_modules = [*ROOT.glob("*/metrics.py"), ROOT / "cbpconfig" / "dbstats.py"]
    names = _defined_metric_names("\n".join(p.read_text() for p in metric_modules))
    assert len(names) > 40
    for name in names:
        assert re.fullmatch(r"cbp_[a-z]+_[a-z0-9]+(_[a-z0-9]+)*", name), name
