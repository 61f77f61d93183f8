"""Monitoring proven with the real parts: a gunicorn with two workers on the real PostgreSQL and
Redis, Debian's postgres_exporter and redis_exporter, a Prometheus scraping all three every
second with the deploy/ rules (and production's flags from environments.yml), and an
Alertmanager with deploy/alertmanager/alertmanager.yml delivering to a small webhook server.

- every metric family moves when its operation happens, and the counters equal the number of
  operations made, whichever worker answered;
- the database metrics come from the real PostgreSQL: a held lock and a planted deadlock show
  up (and the deadlock's alert reaches its receivers through the real Alertmanager);
- every alert expression and every dashboard query evaluates in the real Prometheus, and each
  metric they name returns series;
- a high, a medium and a low alert reach exactly their receivers;
- the monitoring backup of production works against the real Prometheus.

Every process listens on 127.0.0.1:17020-17025 and is stopped by its pid at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
import yaml
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from tests.support import processes
from tests.support.processes import child_env, log_tail, port_is_free, wait_for_http
from tests.support.servers import gunicorn_command
from tests.support.web import fetch

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

GUNICORN_PORT = 17020
PG_EXPORTER_PORT = 17021
REDIS_EXPORTER_PORT = 17022
PROMETHEUS_PORT = 17023
ALERTMANAGER_PORT = 17024
WEBHOOK_PORT = 17025

TOOLS = {
    "prometheus": "prometheus",
    "promtool": "promtool",
    "alertmanager": "prometheus-alertmanager",
    "postgres_exporter": "prometheus-postgres-exporter",
    "redis_exporter": "prometheus-redis-exporter",
}
RELEASE = "monitoring-test-1"

# One server for the whole module, so the data it writes lives for the module too (a flush
# between tests would renumber the content types under the server's feet); the module flushes
# the test database at its end. The django_db mark makes pytest-django create the test database.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db,
    pytest.mark.timeout(240),
]


# -- processes -------------------------------------------------------------------------------------


def tool(name: str) -> str:
    path = shutil.which(TOOLS[name])
    if path is None:
        message = (
            f"needs {TOOLS[name]} (apt-get install prometheus prometheus-alertmanager "
            "prometheus-postgres-exporter prometheus-redis-exporter)"
        )
        if os.environ.get("CBP_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def wait_http(url: str, proc: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    """Until ``url`` answers (any status); RuntimeError with the end of ``log`` if ``proc``
    exits or ``seconds`` pass first."""
    if not wait_for_http(url, proc=proc, timeout=seconds, attempt_timeout=2, any_status=True):
        raise RuntimeError(f"{url} did not come up: {log_tail(log)}")


class Processes(processes.Processes):
    """Start processes with their output in files; stop each by its pid."""

    def start(self, name: str, args: list[str], ready: str, env: dict | None = None, cwd=None):
        """Start it and wait until ``ready`` answers; (the process, its log)."""
        proc = self.popen(name, args, env=env, cwd=cwd)
        wait_http(ready, proc, self.log_path(name))
        return proc, self.log_path(name)

    def stop_all(self, timeout: float = 20, *, together: bool = True) -> None:
        super().stop_all(timeout, together=together)


class Webhook:
    """Records what the Alertmanager delivers: [(receiver path, alertname, status, body)]."""

    def __init__(self, port: int):
        self.deliveries: list[tuple[str, str, str, dict]] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with hook.lock:
                    for alert in body.get("alerts", []):
                        hook.deliveries.append(
                            (
                                self.path.strip("/"),
                                alert["labels"].get("alertname"),
                                alert["status"],
                                body,
                            )
                        )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def receivers_of(self, alertname: str, status: str = "firing") -> set[str]:
        with self.lock:
            return {r for r, name, s, _ in self.deliveries if name == alertname and s == status}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- configuration for the test: the deploy files, pointed at 127.0.0.1 -------------------------------


def prometheus_config(directory: Path) -> Path:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(
        {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    )
    config["rule_files"] = [str(DEPLOY / "prometheus" / name) for name in config["rule_files"]]
    config["alerting"]["alertmanagers"] = [
        {"static_configs": [{"targets": [f"127.0.0.1:{ALERTMANAGER_PORT}"]}]}
    ]
    targets = {
        "cbpconfig": GUNICORN_PORT,
        "postgres": PG_EXPORTER_PORT,
        "redis": REDIS_EXPORTER_PORT,
    }
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert sorted(jobs) == sorted(targets), jobs
    for job in config["scrape_configs"]:
        for key in [k for k in job if k.endswith("_sd_configs")]:
            del job[key]
        job["static_configs"] = [
            {
                "targets": [f"127.0.0.1:{targets[job['job_name']]}"],
                "labels": {"instance": f"{job['job_name']}-0"},
            }
        ]
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _timings(route: dict) -> None:
    """Notification delays scaled down from minutes and hours to a second (routes untouched)."""
    for key in ("group_wait", "group_interval"):
        if key in route:
            route[key] = "1s"
    if "repeat_interval" in route:
        route["repeat_interval"] = "1h"
    for child in route.get("routes", []):
        _timings(child)


def alertmanager_config(directory: Path) -> Path:
    text = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    assert "http://alert-gateway.invalid/" in text
    config = yaml.safe_load(
        text.replace("http://alert-gateway.invalid", f"http://127.0.0.1:{WEBHOOK_PORT}")
    )
    config["route"].update({"group_wait": "1s", "group_interval": "1s"})
    _timings(config["route"])
    # The daily report's window, moved to contain the present minute (the test may run at any
    # time of day; the route and its grouping are unchanged).
    now = datetime.now(UTC)
    start = now.replace(second=0, microsecond=0)
    end = min(start + timedelta(minutes=20), start.replace(hour=23, minute=59))
    if end <= start:  # 23:59: the window is the last minute of the day
        start = start - timedelta(minutes=1)
    for interval in config["time_intervals"]:
        if interval["name"] == "daily-report-window":
            interval["time_intervals"] = [
                {
                    "times": [
                        {
                            "start_time": start.strftime("%H:%M"),
                            "end_time": end.strftime("%H:%M")
                            if end.minute or end.hour
                            else "24:00",
                        }
                    ]
                }
            ]
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def environment_flags(environment: str, directory: Path, config: Path) -> list[str]:
    """Prometheus's command line of the environment (environments.yml), paths made local."""
    table = yaml.safe_load((DEPLOY / "prometheus" / "environments.yml").read_text())
    flags = []
    for flag in table[environment]["flags"]:
        if flag.startswith("--config.file="):
            flag = f"--config.file={config}"
        elif flag.startswith("--storage.tsdb.path="):
            flag = f"--storage.tsdb.path={directory / 'data'}"
        flags.append(flag)
    return flags


# -- the stack -------------------------------------------------------------------------------------


class Stack:
    def __init__(self, directory: Path, database: dict):
        self.directory = directory
        self.database = database
        self.processes = Processes(directory)
        self.url = f"http://127.0.0.1:{GUNICORN_PORT}"
        self.prometheus = f"http://127.0.0.1:{PROMETHEUS_PORT}"
        self.alertmanager = f"http://127.0.0.1:{ALERTMANAGER_PORT}"
        self.webhook: Webhook | None = None

    @property
    def dsn(self) -> str:
        db = self.database
        return (
            f"postgresql://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )

    def start(self) -> None:
        for port in range(GUNICORN_PORT, WEBHOOK_PORT + 1):
            assert port_is_free(port, reuse_address=True), (
                f"port {port} is taken: another run of this test?"
            )
        self.webhook = Webhook(WEBHOOK_PORT)
        self.start_gunicorn()
        self.start_exporters()
        self.start_alertmanager()
        self.start_prometheus()

    def start_gunicorn(self) -> None:
        metrics_dir = self.directory / "multiproc"
        metrics_dir.mkdir()
        env = child_env(
            ("DATABASE_URL", "CBP_TEST_DB_NAME"),
            drop_prefixes=("PYTEST",),
            DATABASE_URL=self.dsn.replace("postgresql://", "postgres://"),
            REDIS_URL=os.environ["REDIS_URL"],
            CBP_ENVIRONMENT="development",
            DEBUG="false",
            LOG_LEVEL="INFO",
            CBP_RELEASE=RELEASE,
            CBP_STATEMENT_TIMEOUT_MS="2000",
            CBP_BACKUP_DIR=str(self.directory / "backups"),
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            GUNICORN_WORKERS="2",
            GUNICORN_BIND=f"127.0.0.1:{GUNICORN_PORT}",
        )
        self.gunicorn, self.gunicorn_log = self.processes.start(
            "gunicorn", gunicorn_command(), f"{self.url}/live", env=env, cwd=ROOT
        )

    def start_exporters(self) -> None:
        env = dict(os.environ, DATA_SOURCE_NAME=f"{self.dsn}?sslmode=disable")
        self.processes.start(
            "postgres_exporter",
            [tool("postgres_exporter"), f"--web.listen-address=127.0.0.1:{PG_EXPORTER_PORT}"],
            f"http://127.0.0.1:{PG_EXPORTER_PORT}/metrics",
            env=env,
        )
        redis_url = urllib.parse.urlsplit(os.environ["REDIS_URL"])
        self.processes.start(
            "redis_exporter",
            [
                tool("redis_exporter"),
                f"-redis.addr=redis://{redis_url.hostname}:{redis_url.port or 6379}",
                f"-web.listen-address=127.0.0.1:{REDIS_EXPORTER_PORT}",
            ],
            f"http://127.0.0.1:{REDIS_EXPORTER_PORT}/metrics",
        )

    def start_alertmanager(self) -> None:
        config = alertmanager_config(self.directory)
        self.processes.start(
            "alertmanager",
            [
                tool("alertmanager"),
                f"--config.file={config}",
                f"--storage.path={self.directory / 'alertmanager'}",
                f"--web.listen-address=127.0.0.1:{ALERTMANAGER_PORT}",
                "--cluster.listen-address=",
            ],
            f"{self.alertmanager}/-/ready",
        )

    def start_prometheus(self) -> None:
        config = prometheus_config(self.directory)
        self.processes.start(
            "prometheus",
            [
                tool("prometheus"),
                *environment_flags("production", self.directory, config),
                f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
            ],
            f"{self.prometheus}/-/ready",
        )

    def stop(self) -> None:
        self.processes.stop_all()
        if self.webhook is not None:
            self.webhook.stop()

    # -- reading ---------------------------------------------------------------------------------

    def scrape(self) -> dict[tuple[str, frozenset], float]:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            text = response.read().decode()
        return parse(text)

    def query(self, expr: str) -> list[dict]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{expr!r}: {error.read().decode()}") from None
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]["result"]

    def wait_for_scrapes(self, count: int = 3) -> None:
        """Let Prometheus take `count` more scrapes of every target."""
        time.sleep(count * 1.0 + 0.5)


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name: str, **labels) -> float:
    """Sum of every sample of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def http(method: str, url: str, key: str | None = None, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    sent = dict(headers or {})
    if key:
        sent["Authorization"] = f"Api-Key {key}"
    if data is not None:
        sent["Content-Type"] = "application/json"
    status, _, payload = fetch(method, url, sent, data, timeout=30)
    return status, payload


def in_parallel(calls, workers: int = 6) -> list:
    """Run the calls concurrently, so both gunicorn workers answer some of them."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda call: call(), calls))


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker):
    for name in TOOLS:
        tool(name)
    directory = Path(tempfile.mkdtemp(prefix="cbp-monitoring-"))
    started = Stack(directory, settings.DATABASES["default"])
    try:
        started.start()
        yield started
    finally:
        started.stop()
        shutil.rmtree(directory, ignore_errors=True)
        with django_db_blocker.unblock():
            from django.core.management import call_command

            call_command("flush", interactive=False, verbosity=0)


def make_key(django_db_blocker, name: str, institution_code: str | None = None, write=False):
    from cbpconfig.models import APIKey
    from configuration.models import Institution

    with django_db_blocker.unblock():
        institution = Institution.objects.get(code=institution_code) if institution_code else None
        _, key = APIKey.objects.create_key(name=name, institution=institution, can_write=write)
    return key


@pytest.fixture(scope="module")
def world(stack, django_db_blocker):
    """A platform write key, an institution with its own key, a calendar and two flags, all
    made through the API (so the writes themselves are observed)."""
    writer = make_key(django_db_blocker, "monitoring-writer", write=True)
    assert (
        http(
            "POST",
            f"{stack.url}/api/v1/institutions/",
            writer,
            {
                "code": "MONIDEFF",
                "name": "Monitoring Bank",
                "country": "DE",
                "timezone": "Europe/Berlin",
            },
        )[0]
        == 201
    )
    assert (
        http(
            "POST",
            f"{stack.url}/api/v1/calendars/",
            writer,
            {
                "code": "MONCAL",
                "name": "Monitoring",
                "timezone": "UTC",
            },
        )[0]
        == 201
    )
    for flag in (
        {"name": "monitoring-flag", "everyone": True},
        {"name": "monitoring-other", "everyone": False},
    ):
        status, body = http("POST", f"{stack.url}/api/v1/flags/", writer, flag)
        assert status == 201, body
    institution_key = make_key(django_db_blocker, "monitoring-bank", institution_code="MONIDEFF")
    return {"writer": writer, "bank": institution_key, "code": "MONIDEFF"}


# -- every family moves, exactly ----------------------------------------------------------------------


def test_counters__equal_the_operations_made__across_both_workers(stack, world, django_db_blocker):
    writer, bank, code = world["writer"], world["bank"], world["code"]
    url = stack.url
    before = stack.scrape()

    # 11 single evaluations and 7 bulk evaluations (2 flags each), concurrently, then idle.
    calls = [
        lambda: http(
            "POST",
            f"{url}/ofrep/v1/evaluate/flags/monitoring-flag",
            bank,
            {"context": {"targetingKey": code}},
        )
        for _ in range(11)
    ] + [
        lambda: http(
            "POST", f"{url}/ofrep/v1/evaluate/flags", bank, {"context": {"targetingKey": code}}
        )
        for _ in range(7)
    ]
    # Institution activity: 5 reads of its own record, 2 of another's (404), 3 configuration reads.
    calls += [lambda: http("GET", f"{url}/api/v1/institutions/{code}/", bank) for _ in range(5)]
    calls += [lambda: http("GET", f"{url}/api/v1/institutions/NOPEDEFF/", bank) for _ in range(2)]
    calls += [
        lambda: http("GET", f"{url}/api/v1/institutions/{code}/configuration", bank)
        for _ in range(3)
    ]
    # A platform key asking for an institution that does not exist: no series for that code.
    calls += [lambda: http("GET", f"{url}/api/v1/institutions/GHOSTDEFF/configuration", writer)]
    # Two more institutions registered, one refused (400).
    calls += [
        lambda: http(
            "POST",
            f"{url}/api/v1/institutions/",
            writer,
            {"code": "MONADEFF", "name": "A", "country": "DE", "timezone": "UTC"},
        ),
        lambda: http(
            "POST",
            f"{url}/api/v1/institutions/",
            writer,
            {"code": "MONBDEFF", "name": "B", "country": "DE", "timezone": "UTC"},
        ),
        lambda: http(
            "POST",
            f"{url}/api/v1/institutions/",
            writer,
            {"code": "BAD", "name": "C", "country": "DE", "timezone": "UTC"},
        ),
    ]
    results = in_parallel(calls)
    statuses = [status for status, _ in results]
    assert statuses.count(200) == 11 + 7 + 5 + 3
    assert statuses.count(404) == 3
    assert statuses.count(201) == 2
    assert statuses.count(400) == 1
    api_requests = 5 + 2 + 3 + 1 + 3
    time.sleep(2)  # idle: nothing may be held back in a worker

    after = stack.scrape()

    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    # Flags: exact, whichever worker answered.
    assert delta("cbp_flag_evaluations_total", flag="monitoring-flag", result="enabled") == 11 + 7
    assert delta("cbp_flag_evaluations_total", flag="monitoring-other", result="disabled") == 7
    # Requests, by family and class.
    assert delta("cbp_http_requests_total", family="api") == api_requests
    assert delta("cbp_http_requests_total", family="ofrep") == 18
    assert delta("cbp_http_requests_total", family="api", status_class="4xx") == 4
    assert delta("cbp_operation_duration_seconds_count", operation="institution-detail") == 7
    assert delta("cbp_operation_errors_total", operation="institution-detail", status="404") == 2
    # Institution activity: the calling institution, errors, configuration reads.
    assert delta("cbp_institution_requests_total", institution=code) == 5 + 2 + 3 + 18
    assert delta("cbp_institution_errors_total", institution=code, kind="client") == 2
    assert delta("cbp_institution_configuration_reads_total", institution=code) == 3
    assert (
        total(after, "cbp_institution_last_request_timestamp_seconds", institution=code)
        > time.time() - 60
    )
    assert delta("cbp_institution_requests_total", institution="(platform)") == 4
    assert not [
        ls
        for (n, ls) in after
        if ("institution", "GHOSTDEFF") in ls or ("institution", "NOPEDEFF") in ls
    ]
    # Business events: institutions registered.
    assert (
        delta("cbp_domain_changes_total", model="configuration.institution", action="create") == 2
    )
    with django_db_blocker.unblock():
        from configuration.models import Institution

        registered = Institution.objects.count()
    assert value(after, "cbp_domain_objects", model="configuration.institution") == registered >= 3
    # Integrations: every statement is timed (at least one per write), none failed.
    assert (
        delta(
            "cbp_dependency_request_duration_seconds_count",
            dependency="postgresql",
            operation="insert",
        )
        >= 2 * 2
    )
    assert delta("cbp_dependency_errors_total", dependency="postgresql") == 0
    assert value(after, "cbp_dependency_up", dependency="postgresql") == 1
    assert value(after, "cbp_dependency_up", dependency="redis") == 1
    # Resources: both workers, each with its CPU, memory and network bytes.
    assert value(after, "cbp_worker_processes") == 2
    for worker in ("0", "1"):
        assert value(after, "cbp_worker_resident_memory_bytes", worker=worker) > 20e6
        assert value(after, "cbp_worker_cpu_seconds_total", worker=worker, mode="user") > 0
        assert delta("cbp_worker_network_bytes_total", worker=worker, direction="receive") > 0, (
            f"worker {worker} answered none of the requests"
        )
    assert delta("cbp_worker_network_bytes_total", direction="transmit") > delta(
        "cbp_worker_network_bytes_total", direction="receive"
    )

    # The access log of the live server: one JSON line per request with its context.
    lines = [
        json.loads(line)
        for line in stack.gunicorn_log.read_text().splitlines()
        if line.startswith("{")
    ]
    access = [
        line
        for line in lines
        if line.get("event") == "access" and line["path"].startswith("/ofrep/")
    ]
    assert len(access) >= 18
    for line in access:
        assert line["request_id"]
        assert line["actor"] == "api-key:monitoring-bank"
        assert line["institution"] == code
        assert line["release"] == RELEASE
        assert line["environment"] == "development"
        assert line["host"]


# -- the database, read from the real PostgreSQL --------------------------------------------------------


def test_database_metrics__a_held_lock_and_a_planted_deadlock_show_up(stack, world):
    writer = world["writer"]
    before = stack.scrape()
    pg_before = parse(
        urllib.request.urlopen(f"http://127.0.0.1:{PG_EXPORTER_PORT}/metrics").read().decode()
    )
    database = settings.DATABASES["default"]["NAME"]

    # A transaction holds an exclusive lock; a request waits for it until the statement timeout.
    holder = psycopg.connect(stack.dsn)
    answer: list = []
    try:
        holder.execute("LOCK TABLE configuration_institution IN ACCESS EXCLUSIVE MODE")
        waiter = threading.Thread(
            target=lambda: answer.append(http("GET", f"{stack.url}/api/v1/institutions/", writer))
        )
        waiter.start()
        time.sleep(1.0)
        during = stack.scrape()
        pg_during = parse(
            urllib.request.urlopen(f"http://127.0.0.1:{PG_EXPORTER_PORT}/metrics").read().decode()
        )
        waiter.join(timeout=20)
    finally:
        holder.rollback()
        holder.close()
    assert value(during, "cbp_database_lock_waits") >= 1
    assert value(during, "cbp_database_lock_wait_max_seconds") >= 0.5
    assert value(during, "cbp_database_locks", mode="AccessExclusiveLock", granted="true") >= 1
    assert value(during, "cbp_database_locks", mode="AccessShareLock", granted="false") >= 1
    assert value(during, "cbp_database_transaction_max_seconds") >= 0.5
    assert total(pg_during, "pg_locks_count", datname=database, mode="accessexclusivelock") >= 1
    # The waiting request was cancelled by the statement timeout: one 503, one timeout counted.
    assert answer
    assert answer[0][0] == 503
    after_lock = stack.scrape()
    assert (
        total(after_lock, "cbp_dependency_errors_total", dependency="postgresql", kind="timeout")
        - total(before, "cbp_dependency_errors_total", dependency="postgresql", kind="timeout")
        == 1
    )
    assert (
        total(after_lock, "cbp_http_requests_total", family="api", status_class="5xx")
        - total(before, "cbp_http_requests_total", family="api", status_class="5xx")
        == 1
    )

    # A deadlock between two transactions: PostgreSQL cancels one of them.
    setup = psycopg.connect(stack.dsn, autocommit=True)
    setup.execute("CREATE TABLE IF NOT EXISTS monitoring_deadlock (id int PRIMARY KEY, n int)")
    setup.execute("INSERT INTO monitoring_deadlock VALUES (1, 0), (2, 0) ON CONFLICT DO NOTHING")
    first, second = psycopg.connect(stack.dsn), psycopg.connect(stack.dsn)
    errors: list = []
    try:
        first.execute("UPDATE monitoring_deadlock SET n = n + 1 WHERE id = 1")
        second.execute("UPDATE monitoring_deadlock SET n = n + 1 WHERE id = 2")

        def cross(conn, row):
            try:
                conn.execute("UPDATE monitoring_deadlock SET n = n + 1 WHERE id = %s", [row])
            except psycopg.errors.DeadlockDetected as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=cross, args=(first, 2)),
            threading.Thread(target=cross, args=(second, 1)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
    finally:
        for conn in (first, second):
            conn.rollback()
            conn.close()  # a backend reports its statistics when it ends
        setup.execute("DROP TABLE IF EXISTS monitoring_deadlock")
        setup.close()
    assert len(errors) == 1

    deadline = time.monotonic() + 20
    while True:
        now = stack.scrape()
        moved = value(now, "cbp_database_deadlocks_total") - value(
            before, "cbp_database_deadlocks_total"
        )
        if moved >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert moved == 1
    pg_after = parse(
        urllib.request.urlopen(f"http://127.0.0.1:{PG_EXPORTER_PORT}/metrics").read().decode()
    )
    # (prometheus_client's parser names a counter's samples <name>_total)
    assert (
        total(pg_after, "pg_stat_database_deadlocks_total", datname=database)
        - total(pg_before, "pg_stat_database_deadlocks_total", datname=database)
        == 1
    )
    assert value(now, "cbp_database_transactions_total", result="rollback") > value(
        before, "cbp_database_transactions_total", result="rollback"
    )

    # The deadlock's alert fires in the real Prometheus and reaches exactly the medium receivers.
    # (60 s: with 1 s scrapes and a 1 s scrape timeout, a loaded CI machine can miss scrapes for
    # a while; 30 s was once not enough.)
    deadline = time.monotonic() + 60
    while stack.webhook.receivers_of("DeadlocksDetected") != {
        "operations-team",
        "development-team",
    }:
        assert time.monotonic() < deadline, stack.webhook.deliveries
        time.sleep(0.5)


def test_table_statistics__our_tables_with_tuples_scans_and_indexes(stack, world):
    samples = stack.scrape()
    tables = {dict(ls)["table"] for (n, ls) in samples if n == "cbp_database_table_live_tuples"}
    assert {"configuration_institution", "calendars_holiday", "cbpconfig_auditentry"} <= tables
    assert value(samples, "cbp_database_table_live_tuples", table="configuration_institution") >= 0
    assert (
        "cbp_database_table_dead_tuples",
        frozenset({("table", "configuration_institution")}),
    ) in samples
    indexes = {dict(ls)["index"] for (n, ls) in samples if n == "cbp_database_index_scans_total"}
    assert "configuration_institution_pkey" in indexes
    assert (
        value(
            samples,
            "cbp_database_table_scans_total",
            table="configuration_institution",
            kind="index",
        )
        > 0
    )
    assert (
        "cbp_database_table_last_vacuum_timestamp_seconds",
        frozenset({("table", "configuration_institution")}),
    ) in samples
    assert ("cbp_database_statements_available", frozenset()) in samples
    assert value(samples, "cbp_database_connections_max") >= 10


# -- rules and dashboards in the real Prometheus --------------------------------------------------------

_FUNCTIONS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "increase",
    "irate",
    "by",
    "on",
    "without",
    "ignoring",
    "or",
    "and",
    "unless",
    "histogram_quantile",
    "clamp_min",
    "clamp_max",
    "absent",
    "time",
    "topk",
    "bottomk",
    "group_left",
    "group_right",
    "vector",
    "scalar",
    "le",
    "offset",
}


def selectors(expr: str) -> list[str]:
    """The vector selectors of a PromQL expression: `name{matchers}` or a bare name."""
    found = []
    stripped = re.sub(r'"[^"]*"', '""', expr)  # label values never look like names
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", stripped):
        name = match.group(1)
        if name in _FUNCTIONS or stripped[match.end() :].lstrip().startswith("("):
            continue
        if match.start() and (
            stripped[match.start() - 1].isdigit() or stripped[match.start() - 1] == "."
        ):
            continue  # the exponent of a number (1e-9)
        before = stripped[: match.start()].rstrip()
        if before.endswith(("by (", "on (", "by(", "on(")) or re.search(
            r"(by|on|without|ignoring)\s*\([^)]*$", before
        ):
            continue
        if re.fullmatch(r"\d+[smhdwy]?", name) or re.search(r"\[[^\]]*$", before):
            continue
        found.append(name)
    # Put the real matchers back from the original text.
    result = []
    for name in dict.fromkeys(found):
        for original in re.finditer(
            rf"(?<![a-zA-Z0-9_:]){re.escape(name)}(?![a-zA-Z0-9_:])\s*(\{{[^}}]*\}})?", expr
        ):
            result.append(name + (original.group(1) or ""))
    return list(dict.fromkeys(result))


def signals(expr: str) -> list[str]:
    """Each `or`/`and` branch of an alert expression without its threshold comparison: what the
    alert compares, which must return series even when the alert does not fire. (absent()
    branches are left out: they return series only when their target is gone.)"""
    branches, depth, start = [], 0, 0
    tokens = list(re.finditer(r"[()]|\b(?:or|and)\b", expr))
    for token in tokens:
        text = token.group(0)
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif depth == 0:
            branches.append(expr[start : token.start()])
            start = token.end()
    branches.append(expr[start:])
    result = []
    for branch in branches:
        branch = " ".join(branch.split())
        while branch.startswith("(") and branch.endswith(")") and _balanced(branch[1:-1]):
            branch = branch[1:-1].strip()
        branch = re.sub(r"\s*(>|<|==|>=|<=|!=)\s*[\d.e+\-* ]+$", "", branch)
        if not branch.startswith("absent("):
            result.append(branch)
    return result


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _traffic(stack, world) -> None:
    """One of everything the rules and panels look at."""
    writer, bank, code = world["writer"], world["bank"], world["code"]
    url = stack.url
    assert (
        http(
            "POST",
            f"{url}/api/v1/calendars/MONCAL/holidays/",
            writer,
            {"date": "2030-01-01", "name": "New Year"},
        )[0]
        == 201
    )
    assert (
        http("GET", f"{url}/api/v1/calendars/MONCAL/business-days/check?date=2030-01-01", bank)[0]
        == 200
    )
    assert (
        http("POST", f"{url}/ofrep/v1/evaluate/flags", bank, {"context": {"targetingKey": code}})[0]
        == 200
    )
    assert http("GET", f"{url}/api/v1/institutions/{code}/configuration", bank)[0] == 200
    assert http("GET", f"{url}/api/v1/institutions/NOPEDEFF/", bank)[0] == 404
    assert http("GET", f"{url}/live")[0] == 200


def test_prometheus__every_rule_and_every_panel_evaluates_and_names_live_metrics(stack, world):
    _traffic(stack, world)
    stack.wait_for_scrapes(4)
    targets = stack.query("up")
    assert {(t["metric"]["job"], t["value"][1]) for t in targets} == {
        ("cbpconfig", "1"),
        ("postgres", "1"),
        ("redis", "1"),
    }

    problems = []
    rules = yaml.safe_load((DEPLOY / "prometheus" / "cbpconfig-rules.yml").read_text())
    alert_exprs = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    for name, expr in alert_exprs.items():
        stack.query(expr)  # evaluates without error (empty unless it fires)
        for selector in selectors(expr):
            if not stack.query(selector):
                problems.append(f"rule {name}: {selector} returns no series")
        for signal in signals(expr):
            if not stack.query(signal):
                problems.append(f"rule {name}: {signal} returns no series")
    panels = 0
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                panels += 1
                if not stack.query(target["expr"]):
                    problems.append(
                        f"{path.name} / {panel['title']}: {target['expr']} returns no series"
                    )
    assert not problems, "\n".join(problems)
    assert len(alert_exprs) >= 10
    assert panels >= 40


def test_prometheus__production_retention_and_monitoring_backup(stack, tmp_path):
    with urllib.request.urlopen(
        f"{stack.prometheus}/api/v1/status/runtimeinfo", timeout=10
    ) as response:
        info = json.loads(response.read())["data"]
    table = yaml.safe_load((DEPLOY / "prometheus" / "environments.yml").read_text())
    assert info["storageRetention"] == table["production"]["retention"] == "90d"

    output = tmp_path / "backups"
    result = subprocess.run(
        [
            "bash",
            str(DEPLOY / "prometheus" / "backup-monitoring.sh"),
            "--prometheus",
            stack.prometheus,
            "--data-dir",
            str(stack.directory / "data"),
            "--alertmanager",
            stack.alertmanager,
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    archive = Path(result.stdout.strip())
    assert archive.is_file()
    assert archive.parent == output
    listing = subprocess.run(
        ["tar", "-tzf", str(archive)], capture_output=True, text=True, check=True
    ).stdout
    assert "chunks_head" in listing or "/index" in listing or "/meta.json" in listing, listing
    assert list(output.glob("alertmanager-silences-*.json"))
    assert not list((stack.directory / "data" / "snapshots").glob("*"))


# -- routing in the real Alertmanager ----------------------------------------------------------------


def test_alertmanager__each_severity_reaches_exactly_its_receivers(stack):
    now = datetime.now(UTC)
    alerts = [
        {
            "labels": {
                "alertname": f"RoutingProbe{severity.title()}",
                "severity": severity,
                "instance": "probe",
            },
            "annotations": {"summary": f"a {severity} probe"},
            "startsAt": now.isoformat().replace("+00:00", "Z"),
        }
        for severity in ("high", "medium", "low")
    ]
    request = urllib.request.Request(
        f"{stack.alertmanager}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    expected = {
        "RoutingProbeHigh": {"oncall-team", "operations-lead", "technical-lead"},
        "RoutingProbeMedium": {"operations-team", "development-team"},
        "RoutingProbeLow": {"system-dashboard", "daily-report"},
    }
    deadline = time.monotonic() + 30
    while any(stack.webhook.receivers_of(name) != want for name, want in expected.items()):
        assert time.monotonic() < deadline, {n: stack.webhook.receivers_of(n) for n in expected}
        time.sleep(0.3)
    time.sleep(2)  # nothing else arrives
    for name, want in expected.items():
        assert stack.webhook.receivers_of(name) == want
    # The daily report groups every low alert of the day into one notification.
    reports = [
        body for receiver, name, _, body in stack.webhook.deliveries if receiver == "daily-report"
    ]
    assert all(body["groupLabels"] == {"severity": "low"} for body in reports)


def test_signals__branches_without_thresholds():
    assert signals("max(a) == 0 or max(pg_up) == 0 or sum(increase(b[5m])) > 5") == [
        "max(a)",
        "max(pg_up)",
        "sum(increase(b[5m]))",
    ]
    assert signals("(sum by (i) (m) / on (i) l > 0.9) or (x / y > 0.75)") == [
        "sum by (i) (m) / on (i) l",
        "x / y",
    ]
    assert signals("absent(up) or absent(x)") == []
    assert signals("max(r) == 1 and (time() - max(t)) > 26 * 3600") == [
        "max(r)",
        "(time() - max(t))",
    ]


def test_selectors__finds_names_and_matchers():
    assert selectors(
        'sum(rate(cbp_http_requests_total{family=~"api|ofrep",status_class="5xx"}[5m])) / up'
    ) == [
        'cbp_http_requests_total{family=~"api|ofrep",status_class="5xx"}',
        "up",
    ]
    assert selectors("sum by (instance) (x_bytes) / on (instance) y_bytes > 0.9") == [
        "x_bytes",
        "y_bytes",
    ]
    assert selectors('absent(up{job="redis"}) or max(pg_up) == 0') == ['up{job="redis"}', "pg_up"]
    assert selectors("(time() - max(cbp_backup_last_archive_timestamp_seconds)) > 26 * 3600") == [
        "cbp_backup_last_archive_timestamp_seconds"
    ]
