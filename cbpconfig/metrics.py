"""/metrics: every gunicorn worker's samples (prometheus_client multiprocess mode) plus the
platform's own gauges computed at scrape time (age of the newest backup archive); and the
plumbing's own counters (console log-in failures)."""

from __future__ import annotations

import os
from pathlib import Path

import prometheus_client
from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CollectorRegistry, Counter, multiprocess
from prometheus_client.core import GaugeMetricFamily

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


class BackupCollector:
    """Timestamp of the newest domain archive, so an alert can fire when backups stop."""

    def collect(self):
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


@never_cache
def metrics_view(request):
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = prometheus_client.REGISTRY
    own = CollectorRegistry()
    own.register(BackupCollector())
    body = prometheus_client.generate_latest(registry) + prometheus_client.generate_latest(own)
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
