"""The database seen from both sides: every statement this process runs, and PostgreSQL's own
statistics read at scrape time.

**Statements.** An execute wrapper on every database connection times each statement:
``cbp_dependency_request_duration_seconds{dependency="postgresql", operation}`` (operation is
the statement's verb: select, insert, update, delete or other), failures in
``cbp_dependency_errors_total{dependency="postgresql", kind}`` (timeout, lock_timeout, deadlock,
connection, other; a uniqueness or data error is the caller's, not the database's, and is not
counted), statements over ``CBP_SLOW_QUERY_SECONDS`` in ``cbp_database_slow_queries_total`` and
a WARNING line. Inside a request each statement is also a DEBUG line (duration and the first
characters of the SQL, never its parameters).

**Scrape time.** :class:`DatabaseCollector` opens its own short connection (connect timeout
2 s, statement timeout 1 s, lock timeout 0.25 s, at most 3 s in all), so a slow or unreachable
database makes a scrape report ``cbp_dependency_up{dependency="postgresql"} 0`` instead of
hanging it. It reads, for this service's database only: connections by state, lock waits and
the longest wait, locks by mode, the longest open transaction, commits, rollbacks, deadlocks,
the database size, and for each table of this project's models the live and dead tuples, the
sequential and index scans, each index's scans, and the last vacuum and analyze; and, where
the pg_stat_statements extension is installed, the statements' calls and time and how many
are slow on average. Label values are bounded by the schema (table and index names of our
models) and by PostgreSQL's fixed vocabularies (states, lock modes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger("cbpconfig.db")
performance_logger = logging.getLogger("cbpconfig.performance")

OPERATIONS = ("select", "insert", "update", "delete", "other")
ERROR_KINDS = ("timeout", "lock_timeout", "deadlock", "connection", "other")
CONNECTION_STATES = ("active", "idle", "idle_in_transaction", "other")
LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)

CONNECT_TIMEOUT_SECONDS = 2
STATEMENT_TIMEOUT_MS = 1000
LOCK_TIMEOUT_MS = 250
SCRAPE_BUDGET_SECONDS = 3.0


# -- statements ----------------------------------------------------------------------------------

_local = threading.local()


def begin_request() -> None:
    _local.request = True
    _local.queries = 0
    _local.seconds = 0.0


def request_totals() -> tuple[int, float]:
    """(statements, seconds in the database) of the current request."""
    return getattr(_local, "queries", 0), getattr(_local, "seconds", 0.0)


def _operation(sql: str) -> str:
    head = sql.lstrip()[:6].lower()
    for operation in OPERATIONS[:4]:
        if head.startswith(operation):
            return operation
    return "other"


def classify(exc: BaseException) -> str | None:
    """The kind of a failed statement, or None when it is the caller's (integrity, data)."""
    import psycopg
    from django.db import DataError, IntegrityError, InterfaceError, OperationalError

    if isinstance(exc, IntegrityError | DataError):
        return None
    cause = exc.__cause__ or exc
    if isinstance(cause, psycopg.errors.QueryCanceled):
        return "timeout"
    if isinstance(cause, psycopg.errors.LockNotAvailable):
        return "lock_timeout"
    if isinstance(cause, psycopg.errors.DeadlockDetected):
        return "deadlock"
    if isinstance(cause, psycopg.errors.IntegrityError | psycopg.errors.DataError):
        return None
    if isinstance(exc, OperationalError | InterfaceError) or isinstance(
        cause, psycopg.OperationalError | psycopg.InterfaceError
    ):
        return "connection"
    return "other"


class StatementTimer:
    """The execute wrapper (one per database connection wrapper)."""

    def __init__(self) -> None:
        from cbpconfig import metrics

        self.metrics = metrics

    def __call__(
        self,
        execute: Callable[..., Any],
        sql: object,
        params: object,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        started = time.perf_counter()
        failure: BaseException | None = None
        try:
            return execute(sql, params, many, context)
        except Exception as exc:
            failure = exc
            raise
        finally:
            self._record(sql, time.perf_counter() - started, failure)

    def _record(self, sql: object, elapsed: float, failure: BaseException | None) -> None:
        try:
            text = sql if isinstance(sql, str) else str(sql)
            operation = _operation(text)
            self.metrics.dependency_call("postgresql", operation, elapsed)
            if getattr(_local, "request", False):
                _local.queries += 1
                _local.seconds += elapsed
            if failure is not None:
                kind = classify(failure)
                failure._cbp_counted = True  # type: ignore[attr-defined]  # count_failure()
                if kind is not None:
                    self.metrics.dependency_error("postgresql", kind)
                    logger.error(
                        "database statement failed (%s) after %.1f ms: %s",
                        kind,
                        elapsed * 1000,
                        _one_line(str(failure)),
                        extra=_timed_event(
                            "dependency_error", elapsed, 2, dependency="postgresql", kind=kind
                        ),
                    )
            slow = settings.CBP_SLOW_QUERY_SECONDS
            if elapsed > slow:
                self.metrics.slow_query(operation)
                performance_logger.warning(
                    "slow statement: %s took %.0f ms (threshold %.0f ms): %s",
                    operation,
                    elapsed * 1000,
                    slow * 1000,
                    _one_line(text),
                    extra=_timed_event("slow_query", elapsed, 2, operation=operation),
                )
            elif getattr(_local, "request", False) and logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "statement: %s in %.2f ms: %s",
                    operation,
                    elapsed * 1000,
                    _one_line(text),
                    extra=_timed_event(
                        "statement", elapsed, 3, dependency="postgresql", operation=operation
                    ),
                )
        except Exception:  # noqa: S110 - never let bookkeeping fail a statement
            pass


def _one_line(text: str) -> str:
    """A statement or an error as the logs show it: one line, at most 200 characters."""
    return " ".join(text.split())[:200]


def _timed_event(event: str, elapsed: float, digits: int, **fields: str) -> dict[str, Any]:
    """The ``extra`` of a statement's log record: the event, its fields, then its duration in
    milliseconds rounded to ``digits``."""
    return {"cbp": {"event": event, **fields, "duration_ms": round(elapsed * 1000, digits)}}


def count_failure(exc: BaseException) -> None:
    """Count a database error that no statement saw: a connection that could not be opened
    fails before any statement runs. For the one place that handles database errors (the API's
    exception handler); an error a statement already counted is not counted twice."""
    if getattr(exc, "_cbp_counted", False):
        return
    kind = classify(exc)
    if kind is not None:
        from cbpconfig import metrics

        exc._cbp_counted = True  # type: ignore[attr-defined]
        metrics.dependency_error("postgresql", kind)


def _install(sender: object = None, connection: Any = None, **kwargs: object) -> None:
    """connection_created receiver: put the timer on the connection wrapper once."""
    if connection is None:
        return
    if not any(isinstance(w, StatementTimer) for w in connection.execute_wrappers):
        connection.execute_wrappers.append(StatementTimer())


def end_request(**kwargs: object) -> None:
    _local.request = False


def connect() -> None:
    from django.core.signals import request_finished
    from django.db import connections
    from django.db.backends.signals import connection_created

    connection_created.connect(_install, dispatch_uid="cbpconfig.dbstats.install")
    request_finished.connect(end_request, dispatch_uid="cbpconfig.dbstats.end_request")
    for alias in connections:  # connections opened before the receiver was connected
        conn = connections[alias]
        if conn.connection is not None:
            _install(connection=conn)


# -- scrape time ---------------------------------------------------------------------------------


def _is_postgres() -> bool:
    return bool(settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql")


def _connect() -> psycopg.Connection[Any]:
    import psycopg

    db = settings.DATABASES["default"]
    kwargs: dict[str, Any] = {
        "dbname": db.get("NAME") or "",
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": str(db.get("PORT") or "") or None,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": "cbpconfig-metrics",
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}",
        "autocommit": True,
    }
    return psycopg.connect(**{k: v for k, v in kwargs.items() if v is not None})


_tables: tuple[list[str], list[tuple[str, str]]] | None = None


def our_tables() -> tuple[list[str], list[tuple[str, str]]]:
    """(every table of this project's models, [(model label, table)] of the domain models)."""
    global _tables
    if _tables is None:
        from django.apps import apps

        tables = sorted(
            {
                model._meta.db_table
                for model in apps.get_models(include_auto_created=True)
                if not model._meta.proxy and model._meta.managed
            }
        )
        domain = [
            (label.lower(), apps.get_model(label)._meta.db_table)
            for label in getattr(settings, "CBP_DOMAIN_MODELS", [])
        ]
        _tables = (tables, domain)
    return _tables


def _state(raw: str | None) -> str:
    if raw in ("active", "idle"):
        return raw
    if raw and raw.startswith("idle in transaction"):
        return "idle_in_transaction"
    return "other"


class DatabaseCollector:
    """PostgreSQL's statistics of this service's database, read when /metrics is scraped."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "cbp_dependency_up",
            "1 when the dependency answered this scrape's probe, else 0.",
            labels=["dependency"],
        )
        probe = GaugeMetricFamily(
            "cbp_dependency_probe_duration_seconds",
            "How long this scrape's probe of the dependency took.",
            labels=["dependency"],
        )
        families: list[Metric] = []
        if _is_postgres():
            started = time.monotonic()
            try:
                families = self._read(started)
                up.add_metric(["postgresql"], 1.0)
            except Exception as exc:
                up.add_metric(["postgresql"], 0.0)
                logger.error(
                    "database statistics unavailable: %s: %s",
                    type(exc).__name__,
                    " ".join(str(exc).split())[:200],
                    extra={"cbp": {"event": "dependency_error", "dependency": "postgresql"}},
                )
            probe.add_metric(["postgresql"], time.monotonic() - started)
        if getattr(settings, "CBP_CACHE_IS_REDIS", False):
            started = time.monotonic()
            try:
                from django_redis import get_redis_connection

                get_redis_connection("default").ping()
                up.add_metric(["redis"], 1.0)
            except Exception:
                up.add_metric(["redis"], 0.0)
            probe.add_metric(["redis"], time.monotonic() - started)
        yield up
        yield probe
        yield from families

    def _read(self, started: float) -> list[Metric]:
        tables, domain = our_tables()
        out: list[Metric] = []

        def budget_left() -> bool:
            return time.monotonic() - started < SCRAPE_BUDGET_SECONDS

        with _connect() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT state, count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' GROUP BY state"
            )
            states = dict.fromkeys(CONNECTION_STATES, 0.0)
            for state, count in cur.fetchall():
                states[_state(state)] += count
            connections = GaugeMetricFamily(
                "cbp_database_connections",
                "Client connections to this service's database, by state (pool health).",
                labels=["state"],
            )
            for state, count in states.items():
                connections.add_metric([state], count)
            out.append(connections)

            cur.execute(
                "SELECT current_setting('max_connections')::int, "
                "pg_database_size(current_database()), "
                "d.xact_commit, d.xact_rollback, d.deadlocks, d.blks_hit, d.blks_read "
                "FROM pg_stat_database d WHERE d.datname = current_database()"
            )
            max_conn, size, commits, rollbacks, deadlocks, hits, reads = _one_row(cur)
            out.append(_gauge("cbp_database_connections_max", "max_connections.", max_conn))
            out.append(_gauge("cbp_database_size_bytes", "Size of the database.", size))
            out.append(
                _counter_by(
                    "cbp_database_transactions",
                    "Transactions committed and rolled back in the database (all clients).",
                    "result",
                    {"commit": commits, "rollback": rollbacks},
                )
            )
            out.append(
                _counter("cbp_database_deadlocks", "Deadlocks detected in the database.", deadlocks)
            )
            out.append(
                _counter_by(
                    "cbp_database_blocks",
                    "Blocks read: from the buffer cache (hit) or from disk (read).",
                    "source",
                    {"hit": hits, "read": reads},
                )
            )

            cur.execute(
                "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), "
                "coalesce(max(extract(epoch FROM clock_timestamp() - query_start)) "
                "FILTER (WHERE wait_event_type = 'Lock'), 0), "
                "coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0) "
                "FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            waiting, longest_wait, longest_xact = _one_row(cur)
            out.append(
                _gauge(
                    "cbp_database_lock_waits",
                    "Statements waiting for a lock held by another transaction (contention).",
                    waiting,
                )
            )
            out.append(
                _gauge(
                    "cbp_database_lock_wait_max_seconds",
                    "How long the longest-waiting statement has waited for its lock.",
                    float(longest_wait),
                )
            )
            out.append(
                _gauge(
                    "cbp_database_transaction_max_seconds",
                    "Age of the oldest open transaction.",
                    float(longest_xact),
                )
            )

            cur.execute(
                "SELECT l.mode, l.granted, count(*) FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE a.datname = current_database() AND l.pid <> pg_backend_pid() "
                "GROUP BY l.mode, l.granted"
            )
            locks = {(mode, granted): 0.0 for mode in LOCK_MODES for granted in (True, False)}
            for mode, granted, count in cur.fetchall():
                if mode in LOCK_MODES:
                    locks[(mode, granted)] += count
            lock_family = GaugeMetricFamily(
                "cbp_database_locks",
                "Locks held (granted) and awaited, by mode.",
                labels=["mode", "granted"],
            )
            for (mode, granted), count in locks.items():
                lock_family.add_metric([mode, "true" if granted else "false"], count)
            out.append(lock_family)

            # Each part on its own: one that fails (a lock timeout, say) costs only its metrics.
            for part, args in (
                (self._tables, (cur, tables)),
                (self._domain, (cur, domain, budget_left)),
                (self._statements, (cur,)),
            ):
                if not budget_left():
                    break
                try:
                    out.extend(part(*args))
                except Exception as exc:
                    logger.warning(
                        "database statistics partly unavailable (%s): %s: %s",
                        part.__name__.strip("_"),
                        type(exc).__name__,
                        " ".join(str(exc).split())[:200],
                    )
        return out

    def _tables(self, cur: psycopg.Cursor[Any], tables: list[str]) -> list[Metric]:
        cur.execute(
            "SELECT relname, n_live_tup, n_dead_tup, seq_scan, coalesce(idx_scan, 0), "
            "coalesce(extract(epoch FROM greatest(last_vacuum, last_autovacuum)), 0), "
            "coalesce(extract(epoch FROM greatest(last_analyze, last_autoanalyze)), 0), "
            "vacuum_count + autovacuum_count "
            "FROM pg_stat_user_tables WHERE schemaname = current_schema() "
            "AND relname = ANY(%s) ORDER BY relname",
            [tables],
        )
        live = GaugeMetricFamily(
            "cbp_database_table_live_tuples", "Live rows of a table.", labels=["table"]
        )
        dead = GaugeMetricFamily(
            "cbp_database_table_dead_tuples",
            "Dead rows of a table, waiting for vacuum.",
            labels=["table"],
        )
        scans = CounterMetricFamily(
            "cbp_database_table_scans",
            "Scans of a table: sequential or through an index (index use).",
            labels=["table", "kind"],
        )
        vacuumed = GaugeMetricFamily(
            "cbp_database_table_last_vacuum_timestamp_seconds",
            "When the table was last vacuumed (by hand or autovacuum); 0 if never.",
            labels=["table"],
        )
        analyzed = GaugeMetricFamily(
            "cbp_database_table_last_analyze_timestamp_seconds",
            "When the table was last analyzed; 0 if never.",
            labels=["table"],
        )
        vacuums = CounterMetricFamily(
            "cbp_database_table_vacuums", "Vacuums of the table.", labels=["table"]
        )
        for name, n_live, n_dead, seq, idx, last_vac, last_an, n_vac in cur.fetchall():
            live.add_metric([name], n_live)
            dead.add_metric([name], n_dead)
            scans.add_metric([name, "sequential"], seq)
            scans.add_metric([name, "index"], idx)
            vacuumed.add_metric([name], float(last_vac))
            analyzed.add_metric([name], float(last_an))
            vacuums.add_metric([name], n_vac)
        cur.execute(
            "SELECT relname, indexrelname, idx_scan FROM pg_stat_user_indexes "
            "WHERE schemaname = current_schema() AND relname = ANY(%s) "
            "ORDER BY relname, indexrelname",
            [tables],
        )
        index_scans = CounterMetricFamily(
            "cbp_database_index_scans", "Scans through each index.", labels=["table", "index"]
        )
        for table, index, count in cur.fetchall():
            index_scans.add_metric([table, index], count)
        return [live, dead, scans, vacuumed, analyzed, vacuums, index_scans]

    def _domain(
        self,
        cur: psycopg.Cursor[Any],
        domain: list[tuple[str, str]],
        budget_left: Callable[[], bool],
    ) -> list[Metric]:
        import psycopg
        from psycopg import sql

        objects = GaugeMetricFamily(
            "cbp_domain_objects",
            "Objects stored, by model (institutions registered, calendars, flags, ...); a "
            "model whose table is locked at scrape time is left out of that scrape.",
            labels=["model"],
        )
        for label, table in domain:
            if not budget_left():
                break
            try:
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled):
                continue
            objects.add_metric([label], _one_row(cur)[0])
        return [objects]

    def _statements(self, cur: psycopg.Cursor[Any]) -> list[Metric]:
        cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        available = cur.fetchone() is not None
        rows = None
        if available:
            try:
                slow_ms = float(getattr(settings, "CBP_SLOW_QUERY_SECONDS", 0.25)) * 1000
                cur.execute(
                    "SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time), 0) / 1000, "
                    "count(*) FILTER (WHERE mean_exec_time > %s) FROM pg_stat_statements "
                    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = "
                    "current_database())",
                    [slow_ms],
                )
                rows = cur.fetchone()
            except Exception:  # installed but not preloaded (shared_preload_libraries)
                available = False
        out: list[Metric] = [
            _gauge(
                "cbp_database_statements_available",
                "1 when pg_stat_statements is installed and readable in this database.",
                1.0 if available else 0.0,
            )
        ]
        if rows is not None:
            calls, seconds, slow = rows
            out.append(
                _counter(
                    "cbp_database_statement_calls",
                    "Statements executed (pg_stat_statements).",
                    calls,
                )
            )
            out.append(
                _counter(
                    "cbp_database_statement_time_seconds",
                    "Time spent executing statements (pg_stat_statements).",
                    float(seconds),
                )
            )
            out.append(
                _gauge(
                    "cbp_database_slow_statements",
                    "Distinct statements whose mean time is over the slow-query threshold.",
                    slow,
                )
            )
        return out


def _one_row(cur: psycopg.Cursor[Any]) -> Any:
    """The row of an aggregate query (which always has exactly one)."""
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("an aggregate query answered no row")
    return row


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], float(value))
    return family


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation)
    family.add_metric([], float(value))
    return family


def _counter_by(
    name: str, documentation: str, label: str, values: dict[str, float]
) -> CounterMetricFamily:
    """A counter with one sample per value of ``label``, in the order given."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for label_value, value in values.items():
        family.add_metric([label_value], value)
    return family
