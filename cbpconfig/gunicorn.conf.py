"""gunicorn settings: `gunicorn -c cbpconfig/gunicorn.conf.py cbpconfig.wsgi:application`.

Sync workers (the service is CPU-light and answers from Redis); a worker timeout above the
database statement_timeout so PostgreSQL cancels a runaway query first; recycled workers to
bound memory, forked from a master that loaded the application once (preload_app, below);
Prometheus multiprocess mode so /metrics adds up every worker.

Graceful shutdown. On SIGTERM gunicorn's arbiter closes its copy of the listening socket and
tells each worker to stop; its sync worker finishes the request in hand and exits at once, and
when the last worker's copy of the socket closes the kernel resets every connection still
waiting in the listen backlog — requests the load balancer had already handed us. The worker
class below drains instead: after SIGTERM it keeps accepting until no connection has arrived
for DRAIN_QUIET seconds (bounded by graceful_timeout), so everything in flight or queued is
answered. New connections stop when the socket closes; in Kubernetes a preStop pause lets the
endpoint removal reach the load balancers before SIGTERM (deploy/kubernetes).

Logs. The access log is the application's (cbpconfig.logging: one JSON line per request with
its request id, actor and institution), so gunicorn's own is off unless GUNICORN_ACCESSLOG names
a destination; gunicorn's error log (boot, signals, worker timeouts) is written as the same
JSON lines as the application's.

Worker slots. Each worker gets the lowest free slot 0..workers-1 (a recycled worker takes its
predecessor's), exported as CBP_WORKER and written to <PROMETHEUS_MULTIPROC_DIR>/worker-<slot>.pid,
so per-worker metrics carry a bounded `worker` label and the worker answering a scrape can
read every live worker's CPU and memory (cbpconfig.metrics.ResourceCollector).
"""

import ipaddress
import logging
import multiprocessing
import os
import select
import shutil
import tempfile
import time

from gunicorn import util
from gunicorn.workers.sync import SyncWorker

# After SIGTERM, stop once the listen backlog has stayed empty this long.
DRAIN_QUIET = 0.5


class DrainingSyncWorker(SyncWorker):
    """gunicorn's sync worker, except that SIGTERM drains the listen backlog before exiting."""

    draining = False

    def handle_exit(self, sig, frame):
        self.draining = True
        super().handle_exit(sig, frame)

    def run(self):
        super().run()
        if self.draining and self.is_parent_alive():
            self.drain()

    def drain(self):
        # Leave a margin before the arbiter's SIGKILL at graceful_timeout.
        deadline = time.monotonic() + max(1.0, self.cfg.graceful_timeout - 2.0)
        quiet_until = time.monotonic() + DRAIN_QUIET
        served = 0
        while time.monotonic() < min(deadline, quiet_until):
            self.notify()
            accepted = False
            for listener in self.sockets:
                try:
                    client, addr = listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError:  # the listener is gone
                    return
                client.setblocking(1)
                util.close_on_exec(client)
                self.handle(listener, client, addr)
                served += 1
                accepted = True
            if accepted:
                quiet_until = time.monotonic() + DRAIN_QUIET
                continue
            try:
                select.select(
                    self.sockets, [], [], max(0.0, min(deadline, quiet_until) - time.monotonic())
                )
            except (OSError, ValueError):
                return
        if served:
            self.log.info("Drained %d queued connection(s) after SIGTERM", served)


def _networks(raw: str) -> str:
    """CBP_TRUSTED_PROXIES as gunicorn wants it (strict networks), or "" for none."""
    items = [p.strip() for p in raw.split(",") if p.strip()]
    return ",".join(str(ipaddress.ip_network(p, strict=False)) for p in items)


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = DrainingSyncWorker
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# How long SIGTERM waits for requests in flight and queued before workers are killed; keep the
# pod's terminationGracePeriodSeconds above this plus any preStop pause.
graceful_timeout = 20
keepalive = 2
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "2000"))
# The master imports the application once and each worker is forked from it. A recycled worker
# (max_requests) then answers within milliseconds instead of importing Django and the project
# again (~1.1 s of CPU, taken from the worker still serving): measured with 2 workers recycled
# every ~4,000 requests under wrk -c8, p99 218 ms without preloading and 31 ms with it (8 ms
# without recycling), and each worker's RSS 110 -> 96 MB (the imported code is shared).
# Nothing at import opens a connection (databases and Redis connect on first use, in the
# worker), so no socket is shared across the fork. A new release means new processes (a
# rolling restart); SIGHUP re-forks workers from the already loaded code.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() != "false"
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "warning")
proc_name = "cbpconfig"
# gunicorn 25+ opens a runtime control socket at a fixed per-user path ($HOME/.gunicorn/): an
# extra management surface we do not use, and one that two servers on a host would share.
control_socket_disable = True
# gunicorn sets wsgi.url_scheme from X-Forwarded-Proto only for these peers, the same trusted
# proxies Django believes (cbpconfig.middleware.TrustedProxyHeadersMiddleware); none by default.
forwarded_allow_ips = _networks(os.environ.get("CBP_TRUSTED_PROXIES", ""))

# prometheus_client multiprocess mode: every worker writes its samples to files in this
# directory and /metrics merges them. It must be empty when the master starts.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if not _metrics_dir:
    _metrics_dir = tempfile.mkdtemp(prefix="cbp-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
# It must exist before the master preloads the application (creating a metric opens a file in
# it); on_starting, which runs after the preload, then empties it of the master's files.
os.makedirs(_metrics_dir, exist_ok=True)


def _json_error_log() -> None:
    """gunicorn's error log in the project's JSON lines (cbpconfig.logging.JsonFormatter)."""
    from cbpconfig.logging import JsonFormatter

    for handler in logging.getLogger("gunicorn.error").handlers:
        handler.setFormatter(JsonFormatter())


def on_starting(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)
    _json_error_log()


def on_reload(server):
    _json_error_log()


def pre_fork(server, worker):
    taken = {getattr(w, "cbp_slot", None) for w in server.WORKERS.values()}
    worker.cbp_slot = next(slot for slot in range(len(taken) + 1) if slot not in taken)


def post_fork(server, worker):
    slot = str(getattr(worker, "cbp_slot", 0))
    os.environ["CBP_WORKER"] = slot
    with open(os.path.join(_metrics_dir, f"worker-{slot}.pid"), "w") as pid_file:
        pid_file.write(str(os.getpid()))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
    path = os.path.join(_metrics_dir, f"worker-{getattr(worker, 'cbp_slot', 0)}.pid")
    try:
        with open(path) as pid_file:
            if pid_file.read().strip() == str(worker.pid):
                os.remove(path)
    except OSError:
        pass
