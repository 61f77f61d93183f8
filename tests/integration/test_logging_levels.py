"""The log, as the operations specification's table says: ERROR for system errors, business-rule
violations and integration failures; WARNING for performance issues, resource pressure and
business warnings; INFO for successful operations and every write (the object, the actor, the
change); DEBUG for the flow, performance data and integration details. One JSON line per event,
each with the request id, actor, institution, environment and release (Django's own error lines
too); an access log by default; audit entries carry the system's context."""

from __future__ import annotations

import json
import logging
import socket

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from cbpconfig import metrics
from cbpconfig.logging import JsonFormatter, RequestContextFilter
from cbpconfig.models import AuditEntry

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

CONTEXT = ("request_id", "actor", "institution", "environment", "release", "host")
BANK = {"code": "DEUTDEFF", "name": "Deutsche Bank", "country": "DE", "timezone": "Europe/Berlin"}


class Capture(logging.Handler):
    """The lines as the console handler writes them (same filter, same formatter)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.addFilter(RequestContextFilter())
        self.setFormatter(JsonFormatter())
        self.texts: list[str] = []

    def emit(self, record):
        self.texts.append(self.format(record))

    @property
    def lines(self) -> list[dict]:
        return [json.loads(text) for text in self.texts]

    def find(self, **fields) -> list[dict]:
        return [line for line in self.lines if all(line.get(k) == v for k, v in fields.items())]

    def clear(self):
        self.texts.clear()


@pytest.fixture
def log():
    root = logging.getLogger()
    handler = Capture()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _every_line_has_the_context(log: Capture) -> None:
    for text in log.texts:
        assert "\n" not in text
        line = json.loads(text)
        missing = [key for key in CONTEXT if key not in line]
        assert not missing, (missing, line)
        assert line["environment"] == settings.CBP_ENVIRONMENT
        assert line["release"] == settings.CBP_RELEASE
        assert line["host"] == socket.gethostname()


def test_write__one_info_line_naming_object_actor_and_change(
    writer, log, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = writer.post("/api/v1/institutions/", BANK, format="json")
    assert response.status_code == 201
    rid = response["X-Request-ID"]
    [write] = log.find(event="write")
    assert write["level"] == "INFO"
    assert write["logger"] == "cbpconfig.writes"
    assert write["action"] == "create"
    assert write["model"] == "configuration.institution"
    assert write["object_repr"] == "DEUTDEFF"
    assert write["by"] == "api-key:writer"
    assert write["changes"]["code"] == [None, "DEUTDEFF"]
    assert "DEUTDEFF" in write["message"]
    assert "api-key:writer" in write["message"]
    assert write["request_id"] == rid
    assert write["actor"] == "api-key:writer"
    [access] = log.find(event="access")
    assert access["level"] == "INFO"
    assert access["status"] == 201
    assert access["request_id"] == rid
    _every_line_has_the_context(log)


def test_write__rolled_back__no_write_line(writer, log, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = writer.post(
            "/api/v1/institutions/", {**BANK, "timezone": "Mars/Olympus"}, format="json"
        )
    assert response.status_code == 400
    assert log.find(event="write") == []


def test_rule_violation__error_naming_the_fields_never_the_values(writer, log):
    response = writer.post("/api/v1/institutions/", {**BANK, "code": "SECRET-ish"}, format="json")
    assert response.status_code == 400
    [line] = log.find(event="rule_violation")
    assert line["level"] == "ERROR"
    assert line["status"] == 400
    assert line["fields"] == ["code"]
    assert "SECRET-ish" not in json.dumps(log.lines)
    assert line["request_id"] == response["X-Request-ID"]
    _every_line_has_the_context(log)


def test_not_found__access_line_only(reader, log):
    response = reader.get("/api/v1/institutions/NOPEDEFF/")
    assert response.status_code == 404
    assert [line["status"] for line in log.find(event="access")] == [404]
    assert not [line for line in log.lines if line["level"] in ("ERROR", "WARNING")]


def test_refused__business_warning(anon, log):
    response = anon.get("/api/v1/institutions/")
    assert response.status_code == 401
    [line] = log.find(event="refused")
    assert line["level"] == "WARNING"
    assert line["status"] == 401
    assert line["actor"] is None
    assert line["request_id"] == response["X-Request-ID"]


def test_debug__flow_performance_and_integration_details(reader, log):
    response = reader.get("/api/v1/institutions/")
    assert response.status_code == 200
    rid = response["X-Request-ID"]
    [started] = log.find(event="request_started")
    assert started["level"] == "DEBUG"
    assert started["logger"] == "cbpconfig.flow"
    statements = log.find(event="statement")
    assert statements
    assert all(s["level"] == "DEBUG" and s["request_id"] == rid for s in statements)
    assert all(s["dependency"] == "postgresql" and s["duration_ms"] >= 0 for s in statements)
    [finished] = log.find(event="request_finished")
    assert finished["level"] == "DEBUG"
    assert finished["db_statements"] == len(statements)
    assert finished["actor"] == "api-key:reader"
    _every_line_has_the_context(log)


def test_operations_endpoints__access_line_at_debug(anon, log):
    assert anon.get("/live").status_code == 200
    [access] = log.find(event="access")
    assert access["level"] == "DEBUG"
    assert access["path"] == "/live"


def test_institution_key__institution_on_every_line(make_key, client_for, log):
    from configuration.services import create_institution

    bank = create_institution(data=dict(BANK))
    client = client_for(make_key("bank", institution=bank))
    log.clear()
    response = client.get("/api/v1/institutions/DEUTDEFF/")
    assert response.status_code == 200
    # Every line once the key is known (the flow line and the key's own look-up come before).
    after_auth = [line for line in log.lines if line["actor"]]
    assert len(after_auth) >= 3
    assert all(line["institution"] == "DEUTDEFF" for line in after_auth)
    assert all(line["actor"] == "api-key:bank" for line in after_auth)


def test_slow_request_and_slow_statement__warnings(reader, log):
    before = metrics.SLOW_QUERIES.labels(operation="select")._value.get()
    with override_settings(CBP_SLOW_REQUEST_SECONDS=1e-6, CBP_SLOW_QUERY_SECONDS=1e-6):
        response = reader.get("/api/v1/institutions/")
    assert response.status_code == 200
    [slow] = log.find(event="slow_request")
    assert slow["level"] == "WARNING"
    assert slow["logger"] == "cbpconfig.performance"
    queries = log.find(event="slow_query")
    assert queries
    assert all(q["level"] == "WARNING" for q in queries)
    assert metrics.SLOW_QUERIES.labels(operation="select")._value.get() - before == len(
        [q for q in queries if q["operation"] == "select"]
    )
    _every_line_has_the_context(log)


def test_resource_pressure__warning(reader, log, monkeypatch):
    monkeypatch.setattr(metrics, "_memory_checked", 0.0)
    with override_settings(CBP_WORKER_MEMORY_WARNING_BYTES=1):
        assert reader.get("/api/v1/institutions/").status_code == 200
    [line] = log.find(event="resource_pressure")
    assert line["level"] == "WARNING"
    assert line["resident_bytes"] > 1


@pytest.mark.django_db(transaction=True)
def test_database_timeout__system_error_integration_failure_and_djangos_own_line(
    make_key, client_for, log
):
    """A statement cancelled by the statement timeout: the integration failure (cbpconfig.db),
    the system error (cbpconfig.api) and Django's own 5xx line, each with the request id."""
    client = client_for(make_key("reader"))
    dsn = settings.DATABASES["default"]
    holder = psycopg.connect(
        dbname=dsn["NAME"],
        user=dsn["USER"] or "postgres",
        host=dsn["HOST"] or "127.0.0.1",
        port=dsn["PORT"] or 5432,
    )
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 300")
    try:
        # Not the institutions: the key's own look-up reads them, and the actor would be unknown.
        holder.execute("LOCK TABLE calendars_calendar IN ACCESS EXCLUSIVE MODE")
        log.clear()
        response = client.get("/api/v1/calendars/")
    finally:
        holder.rollback()
        holder.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
    assert response.status_code == 503
    rid = response["X-Request-ID"]
    [failed] = log.find(event="dependency_error", dependency="postgresql")
    assert failed["level"] == "ERROR"
    assert failed["kind"] == "timeout"
    assert failed["request_id"] == rid
    [system] = log.find(logger="cbpconfig.api", level="ERROR")
    assert system["request_id"] == rid
    assert system["actor"] == "api-key:reader"
    [django_line] = log.find(logger="django.request", level="ERROR")
    assert django_line["request_id"] == rid
    assert django_line["actor"] == "api-key:reader"
    _every_line_has_the_context(log)


def test_command__write_line_and_audit_entry_carry_the_system(
    log, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("create_api_key", "ops-key", stdout=open("/dev/null", "w"))  # noqa: SIM115
    [write] = log.find(event="write")
    assert write["actor"] == "system:create_api_key"
    assert write["by"] == "system:create_api_key"
    assert write["request_id"] is None
    assert write["object_repr"] == "ops-key"
    assert "$" not in write["object_pk"]  # an API key's pk embeds its hash
    entry = AuditEntry.objects.get(object_repr="ops-key")
    assert entry.additional_data["system"] == {
        "host": socket.gethostname(),
        "release": settings.CBP_RELEASE,
        "environment": settings.CBP_ENVIRONMENT,
    }


def test_audit_entry__keeps_its_own_additional_data_beside_the_system(writer):
    from configuration.services import create_configuration

    create_configuration(data={"key": "limits.daily", "value_type": "integer", "default": 5})
    entry = AuditEntry.objects.filter(object_repr__contains="limits.daily").latest("id")
    assert "sensitive" in entry.additional_data
    assert "system" in entry.additional_data


def test_access_log__on_by_default_in_every_environment():
    from cbpconfig.config import ENVIRONMENT_DEFAULTS

    for defaults in ENVIRONMENT_DEFAULTS.values():
        assert logging.getLevelName(defaults["log_level"]) <= logging.INFO
    configured = settings.LOGGING["loggers"]
    for name in ("cbpconfig", "cbpconfig.access", "cbpconfig.writes"):
        assert (
            name not in configured
            or logging.getLevelName(configured[name]["level"]) <= logging.INFO
        )
