"""gunicorn settings: `gunicorn -c cbpconfig/gunicorn.conf.py cbpconfig.wsgi:application`.

Sync workers (the service is CPU-light and answers from Redis); a worker timeout above the
database statement_timeout so PostgreSQL cancels a runaway query first; recycled workers to
bound memory; Prometheus multiprocess mode so /metrics adds up every worker.
"""

import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 2
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = 2000
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "warning")
proc_name = "cbpconfig"
forwarded_allow_ips = os.environ.get("CBP_TRUSTED_PROXIES", "127.0.0.1")

# prometheus_client multiprocess mode: every worker writes its samples to files in this
# directory and /metrics merges them. It must be empty when the master starts.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if not _metrics_dir:
    _metrics_dir = tempfile.mkdtemp(prefix="cbp-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
