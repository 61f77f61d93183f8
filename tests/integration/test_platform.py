"""The shared plumbing: request ids, throttling, pagination, audit log API, commands, schema,
operations endpoints, admin."""

from __future__ import annotations

import io
import os
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIRequestFactory

from cbpconfig.api.pagination import StrictPageNumberPagination
from cbpconfig.models import APIKey, AuditEntry
from configuration.models import Institution
from configuration.services import create_institution
from tests.factories import run_manage

GOOD_SECRET = "Vq3x-9fLr_Zp2Wm8Kt5Yb7Nc4Hd6Gj1Ae0Su3Ri9Oo2Lw7Qx-r4Tz8Ue1"
BANK = {"code": "DEUTDEFF", "name": "Deutsche Bank", "country": "DE", "timezone": "Europe/Berlin"}


@pytest.fixture
def bank(db):
    return create_institution(data=dict(BANK))


# -- request ids ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_request_id__absent__new_uuid_on_every_response(anon):
    response = anon.get("/api/v1/institutions/")
    assert len(response["X-Request-ID"]) == 36


@pytest.mark.django_db
def test_request_id__malformed__replaced(anon):
    response = anon.get("/live", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"


# -- throttling ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_throttle__over_the_rate__429_with_retry_after(reader, settings):
    settings.CBP_THROTTLE_RATE = "3/minute"
    codes = [reader.get("/api/v1/institutions/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = reader.get("/api/v1/institutions/")
    assert "Retry-After" in response


@pytest.mark.django_db
def test_throttle__counts_per_key(make_key, client_for, settings):
    settings.CBP_THROTTLE_RATE = "2/minute"
    one, two = client_for(make_key("one")), client_for(make_key("two"))
    assert [one.get("/api/v1/institutions/").status_code for _ in range(3)] == [200, 200, 429]
    assert two.get("/api/v1/institutions/").status_code == 200


@pytest.mark.django_db
def test_throttle__batched_counting__still_enforced(reader, settings):
    settings.CBP_THROTTLE_RATE = "300/minute"  # counted in batches of 3
    codes = [reader.get("/api/v1/institutions/").status_code for _ in range(306)]
    assert codes[:300] == [200] * 300
    assert 429 in codes[300:]


# -- pagination ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_pagination__unordered_queryset__refused():
    from rest_framework.request import Request

    request = Request(APIRequestFactory().get("/x"))
    with pytest.raises(ImproperlyConfigured):
        StrictPageNumberPagination().paginate_queryset(Institution.objects.order_by(), request)


@pytest.mark.django_db
def test_pagination__page_size_capped_at_500(reader):
    for i in range(3):
        create_institution(data={**BANK, "code": f"DEUTDEF{i}"})
    body = reader.get("/api/v1/institutions/", {"page_size": 2}).json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"] is not None
    assert StrictPageNumberPagination.max_page_size == 500


# -- audit log -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_audit_log__api_write__entry_with_actor_request_id_and_changes(writer, reader):
    writer.post("/api/v1/institutions/", BANK, format="json", HTTP_X_REQUEST_ID="trace-1")
    body = reader.get("/api/v1/audit-log/", {"model": "configuration.institution"}).json()
    assert body["count"] == 1
    entry = body["results"][0]
    assert entry["action"] == "create"
    assert entry["model"] == "configuration.institution"
    assert entry["actor"] == "api-key:writer"
    assert entry["request_id"] == "trace-1"
    assert entry["object_repr"] == "DEUTDEFF"
    assert entry["changes"]["name"][1] == "Deutsche Bank"
    assert entry["remote_addr"] == "127.0.0.1"
    assert entry["timestamp"].endswith("Z")


@pytest.mark.django_db
def test_audit_log__filters(writer, reader, bank):
    writer.patch(f"/api/v1/institutions/{bank.code}/", {"name": "New"}, format="json")
    assert reader.get("/api/v1/audit-log/", {"action": "update"}).json()["count"] == 1
    assert reader.get("/api/v1/audit-log/", {"actor": "api-key:writer"}).json()["count"] == 1
    assert (
        reader.get(
            "/api/v1/audit-log/", {"object_pk": str(bank.pk), "model": "configuration.institution"}
        ).json()["count"]
        == 2
    )
    assert reader.get("/api/v1/audit-log/", {"since": "2199-01-01T00:00:00Z"}).json()["count"] == 0
    assert (
        reader.get("/api/v1/audit-log/", {"until": "2000-01-01T00:00:00+01:00"}).json()["count"]
        == 0
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("since", "2026-01-01T00:00:00"),
        ("until", "yesterday"),
        ("action", "explode"),
        ("model", "institution"),
    ],
)
def test_audit_log__bad_filter__400_naming_it(reader, param, value):
    response = reader.get("/api/v1/audit-log/", {param: value})
    assert response.status_code == 400
    assert param in response.json()


@pytest.mark.django_db
def test_audit_log__institution_key__403(make_key, client_for, bank):
    client = client_for(make_key("inst", institution=bank))
    assert client.get("/api/v1/audit-log/").status_code == 403


@pytest.mark.django_db
def test_audit_log__read_only(writer):
    assert writer.post("/api/v1/audit-log/", {}, format="json").status_code == 405


@pytest.mark.django_db
def test_audit__trusted_proxy__client_address_from_forwarded_for(writer, settings):
    settings.CBP_TRUSTED_PROXIES = ["127.0.0.1/32"]
    writer.post(
        "/api/v1/institutions/", BANK, format="json", HTTP_X_FORWARDED_FOR="203.0.113.9, 127.0.0.1"
    )
    assert AuditEntry.objects.filter(actor_name="api-key:writer").get().remote_addr == "203.0.113.9"


@pytest.mark.django_db
def test_audit__untrusted_peer__forwarded_for_ignored(writer, settings):
    settings.CBP_TRUSTED_PROXIES = []
    writer.post("/api/v1/institutions/", BANK, format="json", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert AuditEntry.objects.filter(actor_name="api-key:writer").get().remote_addr == "127.0.0.1"


# -- concurrency ---------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_update__two_concurrent_writes_same_version__exactly_one_wins(make_key, client_for):
    from django.db import connection

    create_institution(data=dict(BANK))
    key = make_key("racer", write=True)
    barrier = threading.Barrier(2)
    results = []

    def write(name):
        client = client_for(key)
        barrier.wait()
        try:
            response = client.patch(
                "/api/v1/institutions/DEUTDEFF/", {"name": name}, format="json", HTTP_IF_MATCH='"1"'
            )
            results.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in ("Alpha", "Beta")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 412]
    stored = Institution.objects.get(code="DEUTDEFF")
    assert stored.version == 2
    assert stored.name in ("Alpha", "Beta")
    assert AuditEntry.objects.filter(action=AuditEntry.Action.UPDATE).count() == 1


# -- commands ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_api_key__prints_the_key_alone_and_audits_as_system(bank):
    out = io.StringIO()
    call_command("create_api_key", "ops", "--institution", "DEUTDEFF", stdout=out)
    raw = out.getvalue().strip()
    assert "\n" not in raw
    assert "." in raw
    key = APIKey.objects.get(name="ops")
    assert key.institution == bank
    assert not key.can_write
    assert key.is_valid(raw)
    entry = AuditEntry.objects.get(object_pk=key.pk)
    assert entry.actor_name == "system:create_api_key"
    assert "hashed_key" not in (entry.changes or {})


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [["x", "--institution", "NOPEXXXX"], ["x", "--institution", "DEUTDEFF", "--write"], [""]],
)
def test_create_api_key__bad_input__command_error_nothing_created(bank, args):
    with pytest.raises(CommandError):
        call_command("create_api_key", *args, stdout=io.StringIO())
    assert APIKey.objects.count() == 0


def _manage(*args, env=None):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL")
        and (not k.startswith("CBP_") or k == "CBP_TEST_DB_NAME")
    }
    base.update(env or {})
    return run_manage(*args, env=base, timeout=120)


def test_manage__bad_setting__one_line_and_nonzero_exit():
    result = _manage(
        "check",
        env={
            "CBP_ENVIRONMENT": "production",
            "SECRET_KEY": GOOD_SECRET,
            "ALLOWED_HOSTS": "cbp.example",
        },
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "DATABASE_URL" in lines[0]


def test_manage__command_error__one_line_on_stderr():
    result = _manage("create_api_key", "x", "--institution", "NOPEXXXX", "--write")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1


# -- schema, operations endpoints ----------------------------------------------------------


@pytest.mark.django_db
def test_schema__generates_without_warnings():
    out = io.StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", os.devnull, stdout=out, stderr=out
    )


@pytest.mark.django_db
def test_schema_and_docs__served_without_cdn(anon):
    assert anon.get("/api/schema/").status_code == 200
    docs = anon.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower()
    assert "unpkg" not in html.lower()


def test_live__200_touches_nothing(client):
    assert client.get("/live").status_code == 200


@pytest.mark.django_db
def test_ready__database_and_migrations_ok__200(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_health__json_on_accept(client):
    response = client.get("/health", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {
        "database": "ok",
        "cache": "ok",
        "migrations": "ok",
        "backup_storage": "ok",
    }


@pytest.mark.django_db
def test_metrics__prometheus_text(client, reader):
    reader.get("/api/v1/institutions/")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content


# -- admin ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin__institution_pages_load_for_staff(client, superuser, bank):
    client.force_login(superuser)
    for url in [
        "/admin/",
        "/admin/configuration/institution/",
        "/admin/configuration/institution/?q=deut",
        "/admin/configuration/institution/add/",
        f"/admin/configuration/institution/{bank.pk}/change/",
        f"/admin/configuration/institution/{bank.pk}/auditlog/",
        "/admin/cbpconfig/auditentry/",
    ]:
        assert client.get(url).status_code == 200, url


def _admin_form(bank, **changes):
    data = {
        "name": bank.name,
        "country": bank.country,
        "timezone": bank.timezone,
        "calendar": "",
        "is_active": "on",
        "expected_version": bank.version,
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_admin__change__saved_through_service_and_audited_with_username(client, superuser, bank):
    client.force_login(superuser)
    url = f"/admin/configuration/institution/{bank.pk}/change/"
    response = client.post(url, _admin_form(bank, name="Renamed"))
    assert response.status_code == 302
    bank.refresh_from_db()
    assert bank.name == "Renamed"
    assert bank.version == 2
    entry = AuditEntry.objects.get(action=AuditEntry.Action.UPDATE)
    assert entry.actor_display == "admin"


@pytest.mark.django_db
def test_admin__stale_version__refused_with_message(client, superuser, bank):
    client.force_login(superuser)
    url = f"/admin/configuration/institution/{bank.pk}/change/"
    form = _admin_form(bank, name="Mine")
    from configuration.services import update_institution

    update_institution(institution=bank, data={"name": "Theirs"})
    response = client.post(url, form)
    assert response.status_code == 200
    assert "Someone else changed this object" in response.content.decode()
    assert Institution.objects.get(pk=bank.pk).name == "Theirs"


@pytest.mark.django_db
def test_admin__bad_timezone__form_error_nothing_changed(client, superuser, bank):
    client.force_login(superuser)
    response = client.post(
        f"/admin/configuration/institution/{bank.pk}/change/",
        _admin_form(bank, timezone="Mars/Base"),
    )
    assert response.status_code == 200
    assert "IANA time zone" in response.content.decode()
    assert Institution.objects.get(pk=bank.pk).timezone == "Europe/Berlin"


@pytest.mark.django_db
def test_json_body__nested_too_deeply__400_not_500(writer):
    body = "[" * 5000 + "]" * 5000
    response = writer.generic(
        "POST", "/api/v1/institutions/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert Institution.objects.count() == 0


@pytest.mark.django_db
def test_json_body__malformed__400(writer):
    response = writer.generic(
        "POST", "/api/v1/institutions/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert "detail" in response.json()
