"""/metrics, and the plumbing's own metrics.

/metrics answers every gunicorn worker's samples (prometheus_client multiprocess mode: each
counter is added up across workers, exactly, at every scrape) plus what is read at scrape time:
the newest backup archive, each worker's CPU, memory and open files (read from /proc for every
live worker of this server, not only the one answering), and the database's own statistics and
the dependencies' probes (:mod:`cbpconfig.dbstats`).

Metrics are named ``cbp_<area>_<thing>_<unit>`` and every label value comes from a bounded set:
URL patterns, HTTP status classes, worker slots (0..workers-1, see gunicorn.conf.py), the
models of the schema, and institutions that are registered (an institution label is the code of
the calling institution key, or the institution an answer was computed for after the lookup
succeeded; never a string a caller sent).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import prometheus_client
import psutil
from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from cbpconfig.logging import current_actor, institution_var

if TYPE_CHECKING:
    from django.http import HttpRequest

CONSOLE_LOGIN_FAILURES = Counter(
    "cbp_console_login_failures_total",
    "Failed console (admin) log-ins by reason: bad_credentials (wrong user name or password) "
    "or locked_out (refused because the account or the client address is locked).",
    ["reason"],
)
CONSOLE_LOGIN_FAILURE_REASONS = ("bad_credentials", "locked_out")
for _reason in CONSOLE_LOGIN_FAILURE_REASONS:  # zeros from the start, not gaps
    CONSOLE_LOGIN_FAILURES.labels(reason=_reason)


def console_login_failure(reason: str) -> None:
    CONSOLE_LOGIN_FAILURES.labels(reason=reason).inc()


# -- requests: service health, usage, per-institution activity -----------------------------------

FAMILIES = ("api", "ofrep", "admin", "operations", "docs", "other")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
STATUS_CLASS = {index + 1: name for index, name in enumerate(STATUS_CLASSES)}
NO_INSTITUTION = ("(platform)", "(anonymous)")

HTTP_REQUESTS = Counter(
    "cbp_http_requests_total",
    "Requests answered, by family (api, ofrep, admin, operations, docs, other) and status "
    "class (2xx, 4xx, 5xx, ...).",
    ["family", "status_class"],
)
OPERATION_DURATION = Histogram(
    "cbp_operation_duration_seconds",
    "Time to answer a request, by family and operation (the URL pattern's name; the admin is "
    "one operation).",
    ["family", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OPERATION_ERRORS = Counter(
    "cbp_operation_errors_total",
    "Requests answered with an error, by operation and status code (error patterns).",
    ["operation", "status"],
)
INSTITUTION_REQUESTS = Counter(
    "cbp_institution_requests_total",
    "API and OFREP requests by calling institution (an institution key's institution; "
    "(platform) for platform keys and staff, (anonymous) without credentials).",
    ["institution"],
)
INSTITUTION_ERRORS = Counter(
    "cbp_institution_errors_total",
    "API and OFREP requests answered with an error, by calling institution and kind "
    "(client: 4xx, server: 5xx).",
    ["institution", "kind"],
)
INSTITUTION_LAST_REQUEST = Gauge(
    "cbp_institution_last_request_timestamp_seconds",
    "When the institution last called the API (Unix time).",
    ["institution"],
    multiprocess_mode="max",
)
WORKER_NETWORK = Counter(
    "cbp_worker_network_bytes_total",
    "HTTP bytes received and sent by each worker (request line, headers and body; status "
    "line, headers and body).",
    ["worker", "direction"],
)
DOMAIN_CHANGES = Counter(
    "cbp_domain_changes_total",
    "Committed writes of audited objects, by model and action (institutions registered, "
    "calendars changed, ...): every path (API, console, command) alike.",
    ["model", "action"],
)

for _family in FAMILIES:
    for _status_class in STATUS_CLASSES:
        HTTP_REQUESTS.labels(family=_family, status_class=_status_class)
for _institution in NO_INSTITUTION:
    INSTITUTION_REQUESTS.labels(institution=_institution)
    for _kind in ("client", "server"):
        INSTITUTION_ERRORS.labels(institution=_institution, kind=_kind)

# -- dependencies: PostgreSQL, Redis, the holidays package -----------------------------------------

DEPENDENCY_OPERATIONS = {
    "postgresql": ("select", "insert", "update", "delete", "other"),
    "redis": ("command", "pipeline"),
    "holidays": ("import",),
}
DEPENDENCY_ERROR_KINDS = ("timeout", "lock_timeout", "deadlock", "connection", "other")

DEPENDENCY_DURATION = Histogram(
    "cbp_dependency_request_duration_seconds",
    "Time of each call to a dependency (a PostgreSQL statement, a Redis command, a holiday "
    "import), failed calls included.",
    ["dependency", "operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DEPENDENCY_ERRORS = Counter(
    "cbp_dependency_errors_total",
    "Failed calls to a dependency, by kind (timeout, lock_timeout, deadlock, connection, other).",
    ["dependency", "kind"],
)
SLOW_QUERIES = Counter(
    "cbp_database_slow_queries_total",
    "Statements that took longer than CBP_SLOW_QUERY_SECONDS, by verb.",
    ["operation"],
)

_DEPENDENCY_CHILDREN = {
    (dependency, operation): DEPENDENCY_DURATION.labels(dependency=dependency, operation=operation)
    for dependency, operations in DEPENDENCY_OPERATIONS.items()
    for operation in operations
}
for _dependency in DEPENDENCY_OPERATIONS:
    for _kind in DEPENDENCY_ERROR_KINDS:
        DEPENDENCY_ERRORS.labels(dependency=_dependency, kind=_kind)
for _operation in DEPENDENCY_OPERATIONS["postgresql"]:
    SLOW_QUERIES.labels(operation=_operation)


def dependency_call(dependency: str, operation: str, seconds: float) -> None:
    """Count one call to a dependency and its duration (failed calls too)."""
    child = _DEPENDENCY_CHILDREN.get((dependency, operation))
    if child is not None:
        child.observe(seconds)


def dependency_error(dependency: str, kind: str) -> None:
    if kind not in DEPENDENCY_ERROR_KINDS:
        kind = "other"
    DEPENDENCY_ERRORS.labels(dependency=dependency, kind=kind).inc()


class dependency_timer:  # a context manager, named like the function it stands for
    """``with dependency_timer("holidays", "import"):`` times a call and counts its failure."""

    def __init__(self, dependency: str, operation: str) -> None:
        self.dependency = dependency
        self.operation = operation
        self.started = 0.0

    def __enter__(self) -> dependency_timer:
        self.started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        dependency_call(self.dependency, self.operation, time.perf_counter() - self.started)
        if exc is not None:
            dependency_error(self.dependency, "timeout" if exc_type is TimeoutError else "other")


def slow_query(operation: str) -> None:
    SLOW_QUERIES.labels(operation=operation).inc()


def domain_change(model: str, action: str) -> None:
    DOMAIN_CHANGES.labels(model=model, action=action).inc()


# -- observing a request ---------------------------------------------------------------------------

_OPERATIONS_PATHS = frozenset({"/live", "/ready", "/health", "/health/", "/metrics"})


def family_of(path: str) -> str:
    if path.startswith("/api/v1/"):
        return "api"
    if path.startswith("/ofrep/"):
        return "ofrep"
    if path.startswith("/admin/"):
        return "admin"
    if path in _OPERATIONS_PATHS:
        return "operations"
    if path.startswith("/api/"):
        return "docs"
    return "other"


def operation_of(request: HttpRequest, family: str) -> str:
    """The URL pattern's name (bounded by the URLconf); the admin is one operation."""
    if family == "admin":
        return "admin"
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "(unmatched)"
    return str(match.view_name or match.route or "(unnamed)")


_worker_slot: str | None = None


def worker_slot() -> str:
    """This worker's slot, 0..workers-1 (gunicorn.conf.py sets CBP_WORKER after the fork)."""
    global _worker_slot
    if _worker_slot is None:
        _worker_slot = os.environ.get("CBP_WORKER", "0")
    return _worker_slot


# Label children by their values: `.labels()` costs a look-up under a lock on every call. Each
# cache is bounded by its labels' bounded values.
_children: dict[tuple[object, ...], object] = {}


def _child(metric: object, *values: str) -> Any:
    key = (metric, *values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)  # type: ignore[attr-defined]
    return child


def observe_request(
    request: HttpRequest, status: int, seconds: float, received: int, sent: int
) -> None:
    family = family_of(request.path)
    operation = operation_of(request, family)
    institution = ""
    if family in ("api", "ofrep"):
        institution = institution_var.get() or ""
        if not institution:
            institution = "(platform)" if current_actor(request) else "(anonymous)"
    observe_served(family, operation, institution, status, seconds, received, sent)


def observe_served(
    family: str,
    operation: str,
    institution: str,
    status: int,
    seconds: float,
    received: int,
    sent: int,
) -> None:
    """observe_request's counts, from its labels (cbpconfig.ready serves without a request)."""
    _child(HTTP_REQUESTS, family, STATUS_CLASS[status // 100]).inc()
    _child(OPERATION_DURATION, family, operation).observe(seconds)
    if status >= 400:
        _child(OPERATION_ERRORS, operation, str(status)).inc()
    slot = worker_slot()
    _child(WORKER_NETWORK, slot, "receive").inc(received)
    _child(WORKER_NETWORK, slot, "transmit").inc(sent)
    if family in ("api", "ofrep"):
        _child(INSTITUTION_REQUESTS, institution).inc()
        if status >= 400:
            _child(INSTITUTION_ERRORS, institution, "server" if status >= 500 else "client").inc()
        if institution not in NO_INSTITUTION:
            _child(INSTITUTION_LAST_REQUEST, institution).set(time.time())


# -- worker resources ------------------------------------------------------------------------------

_memory_checked = 0.0
_memory_lock = threading.Lock()
MEMORY_CHECK_SECONDS = 10.0


def check_worker_memory() -> None:
    """At most every 10 s: a WARNING when this worker's memory is over the threshold."""
    global _memory_checked
    now = time.monotonic()
    if now - _memory_checked < MEMORY_CHECK_SECONDS:
        return
    with _memory_lock:
        if now - _memory_checked < MEMORY_CHECK_SECONDS:
            return
        _memory_checked = now
    limit = int(getattr(settings, "CBP_WORKER_MEMORY_WARNING_BYTES", 512 * 1024 * 1024))
    rss = psutil.Process().memory_info().rss
    if rss > limit:
        logging.getLogger("cbpconfig.resources").warning(
            "worker %s memory high: %.0f MiB resident (threshold %.0f MiB)",
            worker_slot(),
            rss / 2**20,
            limit / 2**20,
            extra={"cbp": {"event": "resource_pressure", "resident_bytes": rss}},
        )


def _live_workers() -> list[tuple[str, psutil.Process]]:
    """(slot, process) of every live worker of this gunicorn server (this one alone outside
    gunicorn). Each worker writes its pid to <PROMETHEUS_MULTIPROC_DIR>/worker-<slot>.pid."""
    me = psutil.Process()
    found: dict[str, psutil.Process] = {}
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and Path(directory).is_dir():
        parent = os.getppid()
        for path in Path(directory).glob("worker-*.pid"):
            slot = path.stem.removeprefix("worker-")
            try:
                process = psutil.Process(int(path.read_text().strip()))
                if process.pid == me.pid or process.ppid() == parent:
                    found[slot] = process
            except (ValueError, OSError, psutil.Error):
                continue
    if me.pid not in {p.pid for p in found.values()}:
        found[worker_slot()] = me
    return sorted(found.items())


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def memory_limit_bytes() -> int:
    """The container's memory limit (cgroup v2 or v1) or, without one, the host's memory."""
    total = psutil.virtual_memory().total
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        limit = _read_int(path)
        if limit:
            return min(limit, total)
    return total


def cpu_limit_cores() -> float:
    """The container's CPU quota in cores (cgroup v2 or v1) or, without one, the CPUs usable."""
    try:
        quota_text, period_text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota_text != "max":
            return int(quota_text) / int(period_text)
    except (OSError, ValueError):
        pass
    quota = _read_int("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
    period = _read_int("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    if quota and period:
        return quota / period
    try:
        return float(len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return float(os.cpu_count() or 1)


class ResourceCollector(Collector):
    """CPU, memory and open files of every live worker, read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        cpu = CounterMetricFamily(
            "cbp_worker_cpu_seconds",
            "CPU time used by each worker, by mode (user, system).",
            labels=["worker", "mode"],
        )
        memory = GaugeMetricFamily(
            "cbp_worker_resident_memory_bytes",
            "Resident memory of each worker.",
            labels=["worker"],
        )
        files = GaugeMetricFamily(
            "cbp_worker_open_fds", "Open file descriptors of each worker.", labels=["worker"]
        )
        workers = _live_workers()
        for slot, process in workers:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    rss = process.memory_info().rss
                    fds = process.num_fds()
            except psutil.Error:
                continue
            cpu.add_metric([slot, "user"], times.user)
            cpu.add_metric([slot, "system"], times.system)
            memory.add_metric([slot], rss)
            files.add_metric([slot], fds)
        yield cpu
        yield memory
        yield files
        count = GaugeMetricFamily("cbp_worker_processes", "Live workers of this server.")
        count.add_metric([], len(workers))
        yield count
        limit = GaugeMetricFamily(
            "cbp_host_memory_limit_bytes",
            "Memory this server may use: the container's limit, else the host's memory.",
        )
        limit.add_metric([], memory_limit_bytes())
        yield limit
        cores = GaugeMetricFamily(
            "cbp_host_cpu_limit_cores",
            "CPU cores this server may use: the container's quota, else the CPUs usable.",
        )
        cores.add_metric([], cpu_limit_cores())
        yield cores


class BackupCollector(Collector):
    """Timestamp of the newest domain archive, so an alert can fire when backups stop."""

    def collect(self) -> Iterator[Metric]:
        from cbpconfig.backup import SUFFIX

        directory = Path(settings.CBP_BACKUP_DIR)
        newest = 0.0
        if directory.is_dir():
            for path in directory.glob(f"*{SUFFIX}"):
                newest = max(newest, path.stat().st_mtime)
        gauge = GaugeMetricFamily(
            "cbp_backup_last_archive_timestamp_seconds",
            "Modification time of the newest domain-data archive (0 if none).",
        )
        gauge.add_metric([], newest)
        yield gauge
        required = GaugeMetricFamily(
            "cbp_backup_required", "1 when this environment requires backups (staging, production)."
        )
        required.add_metric([], 1.0 if settings.CBP_BACKUPS_REQUIRED else 0.0)
        yield required


_scrape_time: CollectorRegistry | None = None


def _scrape_time_registry() -> CollectorRegistry:
    global _scrape_time
    if _scrape_time is None:
        from cbpconfig.dbstats import DatabaseCollector

        registry = CollectorRegistry()
        registry.register(BackupCollector())
        registry.register(ResourceCollector())
        registry.register(DatabaseCollector())
        _scrape_time = registry
    return _scrape_time


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = prometheus_client.REGISTRY
    body = prometheus_client.generate_latest(registry) + prometheus_client.generate_latest(
        _scrape_time_registry()
    )
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
