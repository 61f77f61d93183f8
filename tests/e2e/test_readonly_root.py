"""The API container's start command, as deploy/kubernetes/deployment.yaml declares it, runs on a
read-only root filesystem with exactly the manifest's writable volumes.

In a mount namespace of its own (`unshare --mount --propagation private`) the whole root is
remounted read-only — the project, the virtualenv, the interpreter, /tmp and /var/tmp alike —
then a tmpfs is mounted at each emptyDir's mountPath and the backup claim's stand-in directory
is bound writable; gunicorn is started with the manifest's command, working directory and
environment (the Dockerfile's ENV, the ConfigMap, the container's env). /live must answer 200
(and /ready and /health, which write nothing but the backup-storage probe on the claim). The
same start without the emptyDirs must fail: the mounts really are read-only.

Translations, because this checkout is not the image: the image's working directory (/app) is
this checkout, `gunicorn` is the virtualenv's, the secret and the claim are directories under
/var/tmp named in the environment in place of their mountPaths, GUNICORN_BIND is a local port and
GUNICORN_WORKERS is 1. It runs as root (the virtualenv is under /root): root may write past file
permissions but not to a read-only mount.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.support.processes import database_url_of_test_db, free_port, stop_process
from tests.support.web import fetch

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
SECRET = "Vq3x-9fLr_Zp2Wm8Kt5Yb7Nc4Hd6Gj1Ae0Su3Ri9Oo2Lw7Qx-r4Tz8Ue1"

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _require_namespaces() -> None:
    if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("mount"):
        return
    if os.environ.get("CBP_REQUIRE_SERVICES") == "1":
        pytest.fail("needs root with unshare and mount (util-linux) in CI")
    pytest.skip("needs root with unshare and mount (util-linux)")


def _documents() -> list[dict]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        found += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return found


def _dockerfile_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text()
    runtime = re.sub(r"\\\n\s*", " ", text[text.index("AS runtime") :])
    env = {}
    for line in runtime.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                key, _, value = item.partition("=")
                env[key] = value
    return env


class Container:
    """The API container of the Deployment, translated onto this machine."""

    def __init__(self, host_dir: Path, database_url: str, redis_url: str, port: int):
        docs = _documents()
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        spec = deployment["spec"]["template"]["spec"]
        container = spec["containers"][0]
        configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
        volumes = {v["name"]: v for v in spec["volumes"]}
        self.command = list(container["command"])
        self.workdir = container["workingDir"]
        self.empty_dirs: list[str] = []
        self.claims: list[Path] = []
        # Where the checkout is kept while an emptyDir hides it (a clone under /tmp, say): the
        # image has its code at /app, outside every emptyDir, so the checkout must stay visible.
        self.stash = host_dir / "checkout"
        self.stash.mkdir()
        translate: dict[str, str] = {}
        for mount in container["volumeMounts"]:
            volume = volumes[mount["name"]]
            if "emptyDir" in volume:
                self.empty_dirs.append(mount["mountPath"])
                continue
            stand_in = host_dir / mount["name"]
            stand_in.mkdir()
            translate[mount["mountPath"]] = str(stand_in)
            if "secret" in volume:
                (stand_in / "secret_key").write_text(SECRET)
                (stand_in / "database_url").write_text(database_url)
                (stand_in / "redis_url").write_text(redis_url)
            elif "persistentVolumeClaim" in volume:
                self.claims.append(stand_in)
        env = dict(_dockerfile_env())
        for source in container.get("envFrom", []):
            env.update(configmaps[source["configMapRef"]["name"]])
        env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
        for key, value in env.items():
            for mount_path, stand_in in translate.items():
                if value == mount_path or value.startswith(mount_path + "/"):
                    env[key] = stand_in + value[len(mount_path) :]
        env.update(
            PATH=f"{ROOT / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            HOME=str(ROOT),
            GUNICORN_BIND=f"127.0.0.1:{port}",
            GUNICORN_WORKERS="1",
            CBP_CACHE_PREFIX=f"{os.environ.get('CBP_CACHE_PREFIX', 'cbp')}-ro",
        )
        self.env = env
        self.host = configmaps["cbpconfig"]["ALLOWED_HOSTS"].split(",")[0]
        self.url = f"http://127.0.0.1:{port}"

    def script(self, with_empty_dirs: bool) -> str:
        lines = ["set -e", "mount -o remount,bind,ro /"]
        for claim in self.claims:
            quoted = shlex.quote(str(claim))
            # A bind mount copies the read-only flag of the mount it comes from: lift it.
            lines.append(f"mount --bind {quoted} {quoted}")
            lines.append(f"mount -o remount,bind,rw {quoted}")
        if with_empty_dirs:
            root, stash = shlex.quote(str(ROOT)), shlex.quote(str(self.stash))
            hidden = any(
                Path(path) == ROOT or Path(path) in ROOT.parents for path in self.empty_dirs
            )
            if hidden:
                lines.append(f"mount --bind {root} {stash}")
            for path in sorted(self.empty_dirs, key=len):
                quoted = shlex.quote(path)
                lines.append(f"[ -d {quoted} ] || mkdir {quoted}")
                lines.append(f"mount -t tmpfs -o size=64m,mode=1777 tmpfs {quoted}")
            if hidden:
                lines.append(f"mkdir -p {root}")
                lines.append(f"mount --bind {stash} {root}")
        else:
            # Nothing writable but the claim: /dev/shm too (the host's) becomes read-only.
            lines.append("mount -o remount,bind,ro /dev/shm")
        lines.append('exec "$@"')
        return "\n".join(lines)

    def start(self, with_empty_dirs: bool = True) -> subprocess.Popen:
        cwd = str(ROOT) if self.workdir == "/app" else self.workdir
        return subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                self.script(with_empty_dirs),
                "sh",
                *self.command,
            ],
            cwd=cwd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def get(self, path: str) -> tuple[int, str]:
        headers = {"Host": self.host, "Accept": "application/json"}
        status, _, body = fetch("GET", self.url + path, headers, timeout=5)
        return status, body.decode()


def _stop(process: subprocess.Popen) -> str:
    stop_process(process, timeout=30)
    return process.stderr.read() if process.stderr else ""


@pytest.fixture
def container(transactional_db, tmp_path):
    _require_namespaces()
    from django.conf import settings

    database_url = database_url_of_test_db()
    # Under /var/tmp: the manifest's /tmp emptyDir hides the host's /tmp inside the namespace.
    host_dir = Path(tempfile.mkdtemp(prefix="cbp-ro-", dir="/var/tmp"))
    try:
        yield Container(
            host_dir,
            database_url,
            settings.CACHES["default"]["LOCATION"],
            free_port(range(17230, 17300)),
        )
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)


def test_api_container__read_only_root_with_the_manifests_volumes__live_ready_and_healthy(
    container,
):
    assert container.env["CBP_ENVIRONMENT"] == "production"
    process = container.start()
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, _ = container.get("/live")
                break
            except OSError:
                time.sleep(0.3)
        assert status == 200, f"gunicorn did not answer /live: {_stop(process)[-3000:]}"
        assert container.get("/ready")[0] == 200
        # Every component, the backup storage included (the claim, where CBP_BACKUP_DIR points).
        status, body = container.get("/health")
        assert status == 200, body
        assert process.poll() is None
    finally:
        stderr = _stop(process)
    assert "No usable temporary directory" not in stderr
    assert "Read-only file system" not in stderr


def test_api_container__without_the_emptydirs__cannot_start(container):
    process = container.start(with_empty_dirs=False)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=60)
    stderr = _stop(process)
    assert process.returncode not in (None, 0)
    assert "Read-only file system" in stderr or "No usable temporary directory" in stderr, stderr[
        -3000:
    ]
