"""deploy/kubernetes and docker-compose.yml: valid against the Kubernetes JSON schemas (offline,
kubernetes-validate), consistent with the Dockerfile and gunicorn's settings, and the Jobs'
shell scripts gate as they claim (run here with a stand-in for `python`)."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes still supported upstream when this was written, and the newest the
# validator knows: every manifest must be valid for both.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


def documents() -> list[dict]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        found += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return found


def one(kind: str, name: str | None = None) -> dict:
    matches = [
        d for d in documents() if d["kind"] == kind and name in (None, d["metadata"]["name"])
    ]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def pod_spec(document: dict) -> dict:
    if document["kind"] == "CronJob":
        return document["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return document["spec"]["template"]["spec"]


def workloads() -> list[dict]:
    return [d for d in documents() if d["kind"] in ("Deployment", "Job", "CronJob")]


def api_container() -> dict:
    return pod_spec(one("Deployment"))["containers"][0]


def configmap() -> dict[str, str]:
    return one("ConfigMap")["data"]


def mounts_by_path(spec: dict, container: dict) -> dict[str, dict]:
    volumes = {v["name"]: v for v in spec["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}


def dockerfile() -> dict:
    """The runtime stage's CMD, WORKDIR, user id and ENV."""
    text = (ROOT / "Dockerfile").read_text()
    runtime = text[text.index("AS runtime") :]
    joined = re.sub(r"\\\n\s*", " ", runtime)
    env: dict[str, str] = {}
    for line in joined.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                key, _, value = item.partition("=")
                env[key] = value
    return {
        "cmd": json.loads(re.search(r"^CMD (\[.*\])$", runtime, re.M).group(1)),
        "workdir": re.search(r"^WORKDIR (\S+)$", runtime, re.M).group(1),
        "uid": int(re.search(r"useradd [^\n]*--uid (\d+)", joined).group(1)),
        "env": env,
    }


def gunicorn_setting(name: str):
    tree = ast.parse((ROOT / "cbpconfig" / "gunicorn.conf.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"gunicorn.conf.py sets no {name}")


# --- schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests__valid_against_the_kubernetes_schemas(version):
    docs = documents()
    assert docs
    for document in docs:
        kubernetes_validate.validate(document, version, strict=True)


def test_manifests__schema_validation_catches_a_misspelt_field():
    deployment = one("Deployment")
    pod_spec(deployment)["containers"][0]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


# --- the API Deployment -----------------------------------------------------------------------


def test_deployment__read_only_root_with_writable_emptydirs_where_the_process_writes():
    spec, container = pod_spec(one("Deployment")), api_container()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = mounts_by_path(spec, container)
    empty_dirs = {path for path, volume in mounts.items() if "emptyDir" in volume}
    env = {**dockerfile()["env"], **{e["name"]: e.get("value") for e in container["env"]}}
    command = container["command"]
    worker_tmp = command[command.index("--worker-tmp-dir") + 1]
    assert {"/tmp", worker_tmp, env["PROMETHEUS_MULTIPROC_DIR"]} <= empty_dirs


def test_deployment__same_command_user_and_directory_as_the_dockerfile():
    image, spec, container = dockerfile(), pod_spec(one("Deployment")), api_container()
    assert container["command"] == image["cmd"]
    assert container["workingDir"] == image["workdir"]
    assert spec["securityContext"]["runAsUser"] == image["uid"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert image["env"]["PROMETHEUS_MULTIPROC_DIR"] == next(
        e["value"] for e in container["env"] if e["name"] == "PROMETHEUS_MULTIPROC_DIR"
    )


def test_deployment__rolling_update_never_below_capacity_and_probes_on_live_and_ready():
    deployment = one("Deployment")
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in deployment["spec"]  # the HorizontalPodAutoscaler owns it
    container = api_container()
    hosts = configmap()["ALLOWED_HOSTS"].split(",")
    for probe, path in (
        ("readinessProbe", "/ready"),
        ("livenessProbe", "/live"),
        ("startupProbe", "/live"),
    ):
        get = container[probe]["httpGet"]
        assert get["path"] == path
        # The kubelet probes the pod's IP: Django would answer 400 without an allowed Host.
        assert {h["name"]: h["value"] for h in get["httpHeaders"]}["Host"] in hosts


def test_deployment__prestop_and_grace_period_cover_gunicorns_drain():
    spec, container = pod_spec(one("Deployment")), api_container()
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    pause = int(pre_stop[1])
    assert pause >= 5
    graceful_timeout = gunicorn_setting("graceful_timeout")
    grace = spec["terminationGracePeriodSeconds"]
    assert grace >= 30
    assert grace >= pause + graceful_timeout + 5, "the kubelet would SIGKILL a draining gunicorn"


def test_deployment__disruption_budget_and_autoscaler():
    pdb, hpa = one("PodDisruptionBudget"), one("HorizontalPodAutoscaler")
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": one("Deployment")["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]


def test_jobs__pods_not_selected_by_the_service_or_the_budget():
    services = [d for d in documents() if d["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} == {"cbpconfig", "cbpconfig-pods"}
    selector = services[0]["spec"]["selector"].items()
    assert all(s["spec"]["selector"].items() == selector for s in services)
    for document in workloads():
        if document["kind"] != "Deployment":
            labels = document["spec"].get("jobTemplate", document)["spec"]["template"]["metadata"][
                "labels"
            ]
            assert not selector <= labels.items(), document["metadata"]["name"]


# --- backup volume ----------------------------------------------------------------------------


def test_backup_volume__claim_defined_and_mounted_at_cbp_backup_dir_everywhere():
    claim = one("PersistentVolumeClaim")
    assert "ReadWriteMany" in claim["spec"]["accessModes"]  # API pods on several nodes + Jobs
    backup_dir = configmap()["CBP_BACKUP_DIR"]
    for document in workloads():
        spec = pod_spec(document)
        for container in spec["containers"]:
            volume = mounts_by_path(spec, container).get(backup_dir)
            assert volume, f"{document['metadata']['name']}: nothing mounted at {backup_dir}"
            assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def test_every_workload__read_only_root_non_root_and_a_writable_tmp():
    for document in workloads():
        spec = pod_spec(document)
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert "emptyDir" in mounts_by_path(spec, container)["/tmp"], document["metadata"][
                "name"
            ]


# --- the Jobs' scripts ------------------------------------------------------------------------


def script_of(document: dict) -> str:
    command = pod_spec(document)["containers"][0]["command"]
    assert command[:2] == ["sh", "-ec"], "scripts stop at the first failing command"
    return command[2]


STUB = """#!/bin/sh
echo "$*" >> "$CALLS"
for failing in $FAIL; do
  case "$*" in *"$failing"*) echo "stub: $* failed" >&2; exit 1;; esac
done
case "$*" in "manage.py backup"*) echo "/backups/cbp-20260101T000000000000Z-full.cbpbackup.json.gz";; esac
exit 0
"""


def run_script(tmp_path: Path, document: dict, fail: str = "") -> tuple[int, list[str]]:
    """Run the Job's script with `python` standing in for the image's: returns its exit status
    and the commands it ran, in order."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "python"
    stub.write_text(STUB)
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls"
    calls.unlink(missing_ok=True)
    calls.touch()
    result = subprocess.run(
        ["sh", "-ec", script_of(document)],
        env={
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "CALLS": str(calls),
            "FAIL": fail,
            "CBP_PUBLIC_URL": configmap()["CBP_PUBLIC_URL"],
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode, calls.read_text().splitlines()


def test_migrate_job__runs_the_gated_pre_deployment_chain(tmp_path):
    job = one("Job", "cbpconfig-migrate")
    assert "|| true" not in script_of(job)
    assert "||" not in script_of(job)
    status, calls = run_script(tmp_path, job)
    assert status == 0
    assert calls == [
        "manage.py deploy_check pre --url https://cbp.example.internal",
        "manage.py deploy_check migrate",
    ]
    status, calls = run_script(tmp_path, job, fail="deploy_check pre")
    assert status != 0
    assert calls == ["manage.py deploy_check pre --url https://cbp.example.internal"]  # no migrate


def test_post_deploy_job__runs_deploy_check_post(tmp_path):
    status, calls = run_script(tmp_path, one("Job", "cbpconfig-post-deploy"))
    assert status == 0
    assert calls == ["manage.py deploy_check post --url https://cbp.example.internal"]


@pytest.mark.parametrize(
    ("name", "schedule", "backup"),
    [
        ("cbpconfig-backup-full", r"^\d+ \d+ \* \* \*$", "manage.py backup"),
        ("cbpconfig-backup-incremental", r"^\d+ \* \* \* \*$", "manage.py backup --incremental"),
    ],
)
def test_backup_cronjobs__archive_then_verify_that_archive(tmp_path, name, schedule, backup):
    cron = one("CronJob", name)
    assert re.match(schedule, cron["spec"]["schedule"])
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    status, calls = run_script(tmp_path, cron)
    assert status == 0
    assert calls == [
        backup,
        "manage.py verify_backup /backups/cbp-20260101T000000000000Z-full.cbpbackup.json.gz",
    ]
    status, calls = run_script(tmp_path, cron, fail="verify_backup")
    assert status != 0  # a failed verification fails the Job (and its alert)


def test_dbbackup_cronjob__daily_whole_database_dump_kept_30_days(tmp_path):
    from django.conf import settings

    cron = one("CronJob", "cbpconfig-dbbackup")
    assert re.match(r"^\d+ \d+ \* \* \*$", cron["spec"]["schedule"])
    status, calls = run_script(tmp_path, cron)
    assert (status, calls) == (0, ["manage.py dbbackup"])
    assert settings.CBP_BACKUP_RETENTION_DAYS["dbbackup"] == 30  # what prune_backups applies


def test_prune_cronjob__runs_regardless_of_verification_and_reports_any_failure(tmp_path):
    cron = one("CronJob", "cbpconfig-prune")
    assert "verify_backup" not in script_of(cron)
    status, calls = run_script(tmp_path, cron)
    assert (status, calls) == (0, ["manage.py prune_backups", "manage.py prune_audit_log"])
    status, calls = run_script(tmp_path, cron, fail="prune_backups")
    assert status != 0
    assert calls == ["manage.py prune_backups", "manage.py prune_audit_log"]
    for document in documents():
        if document["kind"] == "CronJob" and document["metadata"]["name"] != "cbpconfig-prune":
            assert "prune_" not in script_of(document)


# --- docker-compose.yml -----------------------------------------------------------------------


def test_compose__redis_persistent_with_a_volume():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    redis = next(
        s for s in compose["services"].values() if str(s.get("image", "")).startswith("redis")
    )
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    data = [v for v in redis["volumes"] if v.split(":")[1] == "/data"]
    assert data, "the append-only file must outlive the container"
    assert data[0].split(":")[0] in compose["volumes"]
    healthcheck = redis["healthcheck"]["test"]
    assert "redis-cli" in healthcheck


def test_compose__api_command_is_the_dockerfiles():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "command" not in compose["services"]["api"]  # the image's CMD: one start command
