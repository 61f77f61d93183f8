"""`manage.py deploy_check pre|migrate|post`: the deployment as three gated phases.

    deploy_check pre --url URL      before the new version runs (the migration Job)
    deploy_check migrate            right after pre, same Job
    (roll out the new pods)
    deploy_check post --url URL     after the rollout (the post-deployment Job)

Each phase runs its steps in order and stops at the first that fails: exit 1 and one line on
stderr naming the phase, the step and the reason. Each phase records what it found in a state
file (default ``$CBP_BACKUP_DIR/deploy-check.json``, on the backup volume the Jobs share), and
the next phase refuses to start unless the previous one passed: ``migrate`` needs a ``pre`` of
less than PRE_VALID_FOR with the same migration plan, ``post`` needs that ``migrate``.

pre      configuration  `preflight` (settings safe to deploy, check --deploy, database, cache,
                        backup storage, missing migrations)
         resources      database connections free and server version, backup storage free
                        space, cache memory and (staging, production) persistence
         schema         migration history consistent with the code, no conflicting leaves
         backup         a full `backup` archive: the restore point of this deployment
         plan           `migrate --plan`: the migrations the next phase will apply
         baseline       the running service's /ready and /health, and the latency (p50, p95)
                        of its hot reads, measured --requests times each; --no-baseline for a
                        first deployment (nothing runs yet)
migrate  gate           pre passed, recently, for the same plan
         migrate        `migrate --noinput`
         indexes        rebuild any invalid index (a failed CREATE INDEX CONCURRENTLY leaves
                        one) and ANALYZE the tables of every app a migration changed, so the
                        planner does not run the new version on stale statistics
         integrity      `verify_integrity`: every stored object passes the new code's rules
post     gate           migrate passed after pre
         migrations     nothing pending; every planned migration recorded as applied
         smoke          `smoke_test` (every API family, each within its time limit)
         health         every /health component that was ok at the baseline still is
         performance    the p95 of each hot read within the baseline's p95 × (1 + --tolerance)
                        + --slack-ms (defaults: +50 % and 10 ms; the slack absorbs the
                        millisecond jitter of a fast read, the factor catches a regression)
         backup         `verify_backup` of pre's archive (restored into a scratch database)
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from cbpconfig.backup import list_archives
from cbpconfig.management.base import OperationsCommand, failure_line
from cbpconfig.management.commands.smoke_test import api_key, base_url, timed_get

STATE_FORMAT = 1
# The archive pre takes is the restore point: a pre older than this is stale, run it again.
PRE_VALID_FOR = timedelta(hours=12)
DEFAULT_TOLERANCE = 0.5
DEFAULT_SLACK_MS = 10.0
DEFAULT_REQUESTS = 20
WARMUP_REQUESTS = 2
# Database connections that must stay free for the surge pods and the Jobs.
MIN_FREE_CONNECTIONS = 5
MIN_FREE_BACKUP_BYTES = 256 * 1024 * 1024
# A fixed date, so pre and post measure exactly the same reads.
PROBE_DATE = "2026-03-02"


class StepFailed(Exception):
    """A step's one-line reason for stopping the chain."""


# A phase's step: its name, and what runs it (returning a detail for the `ok` line, or None).
Step = tuple[str, Callable[[], str | None]]


# --- helpers ---------------------------------------------------------------------------------


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p95 of 20 samples is the 19th smallest)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def default_state_file() -> Path:
    return Path(settings.CBP_BACKUP_DIR) / "deploy-check.json"


def read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise StepFailed(f"cannot read the state file {path}: {exc}") from exc
    return state if isinstance(state, dict) and state.get("format") == STATE_FORMAT else {}


def write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(partial, path)


def migration_plan() -> list[str]:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{'unapply ' if backwards else ''}{m.app_label}.{m.name}" for m, backwards in plan]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _age(stamp: str) -> timedelta:
    return datetime.now(UTC) - datetime.fromisoformat(stamp)


def hot_reads(base: str, headers: dict[str, str], timeout: float) -> list[tuple[str, str]]:
    """The reads clients make most (business-day answers, window status, an institution's
    resolved configuration, flag evaluation), on the first object of each kind the service
    holds, plus /ready; a list read stands in for a family that holds nothing yet."""

    def first(path: str, field: str) -> str | None:
        answer = timed_get(base + path, headers, timeout)
        if answer.status != 200:
            raise StepFailed(f"GET {path} answered {answer.status}")
        try:
            results = json.loads(answer.body).get("results") or []
        except ValueError:
            raise StepFailed(f"GET {path} did not answer JSON") from None
        return str(results[0][field]) if results else None

    reads = [("ready", "/ready")]
    calendar = first("/api/v1/calendars/?page_size=1", "code")
    window = first("/api/v1/windows/?page_size=1", "code")
    institution = first("/api/v1/institutions/?page_size=1", "code")
    if calendar:
        reads.append(
            (
                "business-day check",
                f"/api/v1/calendars/{calendar}/business-days/check?date={PROBE_DATE}",
            )
        )
    else:
        reads.append(("calendars list", "/api/v1/calendars/?page_size=1"))
    if window:
        reads.append(
            ("window status", f"/api/v1/windows/{window}/status?at={PROBE_DATE}T12:00:00Z")
        )
    else:
        reads.append(("windows list", "/api/v1/windows/?page_size=1"))
    if institution:
        reads.append(
            ("institution configuration", f"/api/v1/institutions/{institution}/configuration")
        )
        reads.append(("flag evaluation", f"/api/v1/flags/evaluate?institution={institution}"))
    else:
        reads.append(("institutions list", "/api/v1/institutions/?page_size=1"))
    return reads


def measure(
    base: str, reads: list[tuple[str, str]], headers: dict[str, str], requests: int, timeout: float
) -> list[dict[str, Any]]:
    results = []
    for name, path in reads:
        samples = []
        for i in range(WARMUP_REQUESTS + requests):
            answer = timed_get(base + path, headers, timeout)
            if answer.status != 200:
                raise StepFailed(f"{name} (GET {path}) answered {answer.status}")
            if i >= WARMUP_REQUESTS:
                samples.append(answer.ms)
        results.append(
            {
                "name": name,
                "path": path,
                "n": len(samples),
                "p50_ms": round(percentile(samples, 0.50), 2),
                "p95_ms": round(percentile(samples, 0.95), 2),
                "max_ms": round(max(samples), 2),
            }
        )
    return results


def health_components(base: str, timeout: float) -> dict[str, str]:
    answer = timed_get(base + "/health", {"Accept": "application/json"}, timeout)
    try:
        body = json.loads(answer.body)
    except ValueError:
        raise StepFailed(f"/health answered {answer.status} without JSON") from None
    return {str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {}


def index_maintenance(app_labels: set[str]) -> list[str]:
    """Rebuild invalid indexes, then ANALYZE the tables of the apps a migration changed."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        return ["skipped (not PostgreSQL)"]
    done = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_namespace n ON n.oid = i.relnamespace "
            "WHERE NOT x.indisvalid AND n.nspname = current_schema() ORDER BY 1"
        )
        for (name,) in cursor.fetchall():
            # Plain REINDEX, not CONCURRENTLY: if it fails it leaves nothing behind (a failed
            # concurrent rebuild leaves another invalid index), and these tables are small.
            try:
                cursor.execute(f"REINDEX INDEX {quote(name)}")
            except Exception as exc:
                raise StepFailed(
                    f"invalid index {name} cannot be rebuilt: {failure_line(exc)}"
                ) from exc
            done.append(f"rebuilt invalid index {name}")
        tables = sorted(
            {
                model._meta.db_table
                for label in app_labels
                for model in apps.get_app_config(label).get_models(include_auto_created=True)
                if model._meta.managed and not model._meta.proxy
            }
        )
        existing = set(connection.introspection.table_names(cursor))
        for table in tables:
            if table in existing:
                cursor.execute(f"ANALYZE {quote(table)}")
        if tables:
            done.append(f"analyzed {len(tables)} table(s) of {', '.join(sorted(app_labels))}")
    return done


# --- the command -----------------------------------------------------------------------------


class Command(OperationsCommand):
    help = (
        "The deployment, as gated phases: `pre` (configuration, resources, schema, backup, "
        "migration plan, baseline), `migrate` (migrate, index maintenance, integrity) and "
        "`post` (migrations, backup verified, smoke test, health and latency against the baseline)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("phase", choices=["pre", "migrate", "post"])
        parser.add_argument("--url", help="the service's base URL, as clients reach it (pre, post)")
        parser.add_argument("--key", help="a platform API key (default: $CBP_SMOKE_API_KEY)")
        parser.add_argument(
            "--state",
            help="state file shared by the phases (default: $CBP_BACKUP_DIR/deploy-check.json)",
        )
        parser.add_argument(
            "--no-baseline",
            action="store_true",
            help="pre: no running service to measure (first deployment); post then skips the comparison",
        )
        parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="per hot read")
        parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
        parser.add_argument("--slack-ms", type=float, default=DEFAULT_SLACK_MS)
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args: Any, phase: str, **options: Any) -> None:
        self.options: dict[str, Any] = options
        self.state_path = Path(options.get("state") or default_state_file())
        steps = {"pre": self.pre_steps, "migrate": self.migrate_steps, "post": self.post_steps}
        self.run_steps(phase, steps[phase]())
        self.stdout.write(f"deploy_check {phase} passed")

    # --- plumbing ---

    def run_steps(self, phase: str, steps: list[Step]) -> None:
        for name, step in steps:
            started = time.monotonic()
            try:
                detail = step()
            except StepFailed as exc:
                reason = str(exc)
            except CommandError as exc:
                reason = str(exc)
            except Exception as exc:  # an outage or a bug: still one line, with the step named
                reason = failure_line(exc)
            else:
                elapsed = time.monotonic() - started
                self.stdout.write(f"ok   {name} ({elapsed:.1f} s){': ' + detail if detail else ''}")
                continue
            self.stdout.write(f"FAIL {name}: {reason}")
            raise CommandError(f"deploy_check {phase} stopped at {name}: {reason}")

    def sub(self, *args: Any, **kwargs: Any) -> str:
        """Run another command, show its output indented; its failure fails the step."""
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(*args, stdout=out, stderr=err, **kwargs)
        except SystemExit as exc:
            if exc.code not in (0, None):
                self._echo(out)
                lines = err.getvalue().strip().splitlines()
                raise StepFailed(lines[-1] if lines else f"{args[0]} exited {exc.code}") from None
        except CommandError as exc:
            self._echo(out)
            raise StepFailed(str(exc)) from None
        self._echo(out)
        return out.getvalue()

    def _echo(self, out: io.StringIO) -> None:
        for line in out.getvalue().splitlines():
            self.stdout.write(f"     | {line}")

    def url(self) -> str:
        if not self.options.get("url"):
            raise StepFailed("--url is required (the service as clients reach it)")
        return base_url(self.options["url"])

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Api-Key {api_key(self.options.get('key'))}",
            "Accept": "application/json",
        }

    # --- pre ---

    def pre_steps(self) -> list[Step]:
        # A new pre starts a new deployment: the record of the last one goes first, so a pre
        # that fails leaves nothing a later `migrate` could mistake for a pass.
        self.state_path.unlink(missing_ok=True)
        self.state: dict[str, Any] = {
            "format": STATE_FORMAT,
            "environment": settings.CBP_ENVIRONMENT,
        }
        return [
            ("configuration", self.step_configuration),
            ("resources", self.step_resources),
            ("schema", self.step_schema),
            ("backup", self.step_backup),
            ("plan", self.step_plan),
            ("baseline", self.step_baseline),
            ("record", self.step_record_pre),
        ]

    def step_configuration(self) -> None:
        self.sub("preflight")

    def step_resources(self) -> str:
        found = []
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('server_version_num')::int, "
                    "current_setting('max_connections')::int, "
                    "(SELECT count(*) FROM pg_stat_activity)"
                )
                version, most, used = cursor.fetchone()
            if version < 140000:
                raise StepFailed(f"PostgreSQL {version // 10000} is older than 14")
            free = most - used
            needed = max(MIN_FREE_CONNECTIONS, most // 10)
            if free < needed:
                raise StepFailed(f"only {free} of {most} database connections free (need {needed})")
            found.append(f"database {free}/{most} connections free")
        directory = Path(settings.CBP_BACKUP_DIR)
        directory.mkdir(parents=True, exist_ok=True)
        newest_full = max(
            (a.path.stat().st_size for a in list_archives(directory) if a.kind == "full"), default=0
        )
        needed_bytes = max(MIN_FREE_BACKUP_BYTES, 3 * newest_full)
        free_bytes = shutil.disk_usage(directory).free
        if free_bytes < needed_bytes:
            raise StepFailed(
                f"backup storage {directory} has {free_bytes // 2**20} MiB free, needs {needed_bytes // 2**20} MiB"
            )
        found.append(f"backup storage {free_bytes // 2**20} MiB free")
        if getattr(settings, "CBP_CACHE_IS_REDIS", False):
            found.append(self._redis_resources())
        return "; ".join(found)

    def _redis_resources(self) -> str:
        from django_redis import get_redis_connection

        redis = get_redis_connection("default")
        memory = redis.info("memory")
        most = int(memory.get("maxmemory") or 0)
        used = int(memory.get("used_memory") or 0)
        if most and used > 0.9 * most:
            raise StepFailed(f"Redis uses {used // 2**20} of its {most // 2**20} MiB")
        if not settings.CBP_BACKUPS_REQUIRED:
            return "cache answers (persistence not required in development)"
        if int(redis.info("persistence").get("aof_enabled") or 0) == 1:
            return "cache persistent (append-only file)"
        try:
            save = redis.config_get("save").get("save")
        except Exception:
            save = None
        if save:
            return f"cache persistent (snapshots: save {save})"
        raise StepFailed(
            "Redis has no persistence (appendonly no, no save points): staging and production "
            "need it, or a restart loses every cache token and throttle window at once"
        )

    def step_schema(self) -> str:
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        try:
            executor.loader.check_consistent_history(connection)
        except Exception as exc:
            raise StepFailed(f"migration history inconsistent: {failure_line(exc)}") from exc
        conflicts = executor.loader.detect_conflicts()
        if conflicts:
            raise StepFailed(
                "conflicting migrations: "
                + "; ".join(
                    f"{app}: {', '.join(names)}" for app, names in sorted(conflicts.items())
                )
            )
        return "history consistent, no conflicts"

    def step_backup(self) -> str:
        out = self.sub("backup")
        lines = [line for line in out.splitlines() if line.strip()]
        if not lines or not Path(lines[-1]).is_file():
            raise StepFailed("backup printed no archive path")
        archive = str(Path(lines[-1]).resolve())
        self.state["archive"] = archive
        return archive

    def step_plan(self) -> str:
        self.sub("migrate", plan=True)
        self.state["plan"] = migration_plan()
        return f"{len(self.state['plan'])} migration(s) to apply"

    def step_baseline(self) -> str:
        if self.options.get("no_baseline"):
            self.state["baseline"] = None
            return "skipped (--no-baseline: nothing to compare after the deployment)"
        base, headers, timeout = self.url(), self.headers(), self.options["timeout"]
        ready = timed_get(base + "/ready", {}, timeout)
        if ready.status != 200:
            raise StepFailed(f"the running service is not ready (/ready answered {ready.status})")
        health = health_components(base, timeout)
        reads = hot_reads(base, headers, timeout)
        results = measure(base, reads, headers, self.options["requests"], timeout)
        self.state["baseline"] = {
            "url": base,
            "taken_at": _now(),
            "health": health,
            "reads": results,
        }
        for r in results:
            self.stdout.write(
                f"     | {r['name']:<28} p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms"
            )
        return f"{len(results)} hot reads measured, {self.options['requests']} requests each"

    def record_passed(self, phase: str) -> str:
        """Note in the state file that ``phase`` passed now (the gate of the next phase reads
        it); the path of the state file."""
        self.state[phase] = {"passed_at": _now()}
        write_state(self.state_path, self.state)
        return str(self.state_path)

    def step_record_pre(self) -> str:
        return self.record_passed("pre")

    # --- migrate ---

    def migrate_steps(self) -> list[Step]:
        return [
            ("gate", self.step_gate_migrate),
            ("migrate", self.step_migrate),
            ("indexes", self.step_indexes),
            ("integrity", self.step_integrity),
            ("record", self.step_record_migrate),
        ]

    def step_gate_migrate(self) -> str:
        self.state = read_state(self.state_path)
        pre = self.state.get("pre")
        if not pre:
            raise StepFailed(f"no passed `deploy_check pre` in {self.state_path}: run it first")
        if _age(pre["passed_at"]) > PRE_VALID_FOR:
            raise StepFailed(
                f"`deploy_check pre` passed {pre['passed_at']}, too long ago: run it again"
            )
        current = migration_plan()
        if current != self.state.get("plan"):
            raise StepFailed("the migration plan changed since `deploy_check pre`: run it again")
        self.planned = current
        return f"pre passed {pre['passed_at']}"

    def step_migrate(self) -> str:
        self.sub("migrate", interactive=False)
        self.state["applied"] = self.planned
        return f"{len(self.planned)} migration(s) applied"

    def step_indexes(self) -> str:
        labels = {name.split()[-1].split(".")[0] for name in self.planned}
        done = index_maintenance(labels)
        self.state["maintenance"] = done
        return "; ".join(done) if done else "nothing to do"

    def step_integrity(self) -> str | None:
        out = self.sub("verify_integrity")
        return out.strip().splitlines()[-1] if out.strip() else None

    def step_record_migrate(self) -> str:
        self.state.pop("post", None)
        return self.record_passed("migrate")

    # --- post ---

    def post_steps(self) -> list[Step]:
        return [
            ("gate", self.step_gate_post),
            ("migrations", self.step_migrations),
            ("smoke", self.step_smoke),
            ("health", self.step_health),
            ("performance", self.step_performance),
            # Last: the slowest step (a restore into a scratch database), after the quick ones.
            ("backup", self.step_verify_backup),
            ("record", self.step_record_post),
        ]

    def step_gate_post(self) -> str:
        self.state = read_state(self.state_path)
        migrate = self.state.get("migrate")
        if not migrate or not self.state.get("pre"):
            raise StepFailed(
                f"no passed `deploy_check migrate` in {self.state_path}: run pre and migrate first"
            )
        return f"migrate passed {migrate['passed_at']}"

    def step_migrations(self) -> str:
        pending = migration_plan()
        if pending:
            raise StepFailed(f"pending: {', '.join(pending)}")
        applied = {
            f"{app}.{name}"
            for app, name in MigrationRecorder(connections[DEFAULT_DB_ALIAS]).applied_migrations()
        }
        missing = [
            name
            for name in self.state.get("applied", [])
            if name not in applied and not name.startswith("unapply ")
        ]
        if missing:
            raise StepFailed(f"planned but not recorded as applied: {', '.join(missing)}")
        return f"none pending; {len(self.state.get('applied', []))} applied by this deployment"

    def step_verify_backup(self) -> str:
        archive = self.state.get("archive")
        if not archive:
            raise StepFailed("pre recorded no archive")
        out = self.sub("verify_backup", archive)
        return out.strip().splitlines()[-1] if out.strip() else archive

    def step_smoke(self) -> str:
        out = self.sub("smoke_test", url=self.url(), key=api_key(self.options.get("key")))
        return out.strip().splitlines()[-1]

    def step_health(self) -> str:
        baseline = self.state.get("baseline")
        if not baseline:
            return "skipped (pre ran with --no-baseline)"
        now = health_components(self.url(), self.options["timeout"])
        worse = [
            f"{name}: {now.get(name, 'missing')}"
            for name, before in sorted(baseline["health"].items())
            if before == "ok" and now.get(name) != "ok"
        ]
        if worse:
            raise StepFailed(f"ok before the deployment, not now: {'; '.join(worse)}")
        return ", ".join(f"{k} {v}" for k, v in sorted(now.items()))

    def step_performance(self) -> str:
        baseline = self.state.get("baseline")
        if not baseline:
            return "skipped (pre ran with --no-baseline)"
        tolerance, slack = self.options["tolerance"], self.options["slack_ms"]
        base, headers, timeout = self.url(), self.headers(), self.options["timeout"]
        reads = [(r["name"], r["path"]) for r in baseline["reads"]]
        now = {
            r["name"]: r for r in measure(base, reads, headers, self.options["requests"], timeout)
        }
        slower = []
        for before in baseline["reads"]:
            after = now[before["name"]]
            limit = before["p95_ms"] * (1 + tolerance) + slack
            verdict = "ok  " if after["p95_ms"] <= limit else "SLOW"
            self.stdout.write(
                f"     | {verdict} {before['name']:<28} p95 {after['p95_ms']:7.1f} ms "
                f"(baseline {before['p95_ms']:.1f} ms, limit {limit:.1f} ms)"
            )
            if after["p95_ms"] > limit:
                slower.append(f"{before['name']} p95 {after['p95_ms']:.1f} ms > {limit:.1f} ms")
        self.state["performance"] = list(now.values())
        if slower:
            raise StepFailed(
                f"slower than the baseline (+{tolerance:.0%} + {slack:g} ms): {'; '.join(slower)}"
            )
        return f"{len(now)} hot reads within +{tolerance:.0%} + {slack:g} ms of the baseline p95"

    def step_record_post(self) -> str:
        return self.record_passed("post")
