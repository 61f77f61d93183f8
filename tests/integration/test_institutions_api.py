"""Institutions over the API: scope, validation, versions, audit."""

from __future__ import annotations

import pytest

from cbpconfig.models import AuditEntry
from configuration.models import Institution
from tests.factories import (
    assert_field_refused,
    assert_stale_version_refused,
    assert_status_everywhere,
    crud_calls,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/institutions/"
VALID = {"code": "DEUTDEFF", "name": "Deutsche Bank", "country": "DE", "timezone": "Europe/Berlin"}


def test_create__platform_write_key__201_with_etag_and_audit(writer):
    response = writer.post(URL, VALID, format="json", HTTP_X_REQUEST_ID="req-123")
    assert response.status_code == 201, response.content
    assert response["ETag"] == '"1"'
    assert response.json()["version"] == 1
    assert response.json()["calendar"] is None
    entry = AuditEntry.objects.get(object_pk=str(Institution.objects.get(code="DEUTDEFF").pk))
    assert entry.actor_name == "api-key:writer"
    assert entry.cid == "req-123"
    assert entry.changes["code"] == [None, "DEUTDEFF"] or entry.changes["code"][1] == "DEUTDEFF"
    assert response["X-Request-ID"] == "req-123"


def test_list__no_key__401(anon, bank):
    response = anon.get(URL)
    assert response.status_code == 401
    assert "X-Request-ID" in response


def test_every_endpoint__no_key__401(anon, bank):
    assert_status_everywhere(anon, crud_calls(URL, f"{URL}{bank.code}/"), 401)
    assert Institution.objects.get(pk=bank.pk).version == 1


def test_write__read_key__403_nothing_changed(reader, bank):
    assert reader.post(URL, {**VALID, "code": "COBADEFF"}, format="json").status_code == 403
    assert reader.patch(f"{URL}{bank.code}/", {"name": "x"}, format="json").status_code == 403
    assert reader.delete(f"{URL}{bank.code}/").status_code == 403
    assert Institution.objects.count() == 1
    assert Institution.objects.get(pk=bank.pk).name == "Deutsche Bank"


def test_institution_key__other_institution__404_nothing_changed(make_key, client_for, bank, other):
    client = client_for(make_key("bank-key", institution=bank))
    assert client.get(f"{URL}{other.code}/").status_code == 404
    assert client.get(f"{URL}{bank.code}/").status_code == 200
    listed = client.get(URL).json()
    assert [row["code"] for row in listed["results"]] == [bank.code]
    # It never writes, own institution or not.
    assert client.patch(f"{URL}{other.code}/", {"name": "x"}, format="json").status_code in (
        403,
        404,
    )
    assert client.patch(f"{URL}{bank.code}/", {"name": "x"}, format="json").status_code == 403
    assert Institution.objects.get(pk=other.pk).name == "BNP Paribas"


def test_bearer_scheme__accepted(make_key, client_for, bank):
    client = client_for(make_key("ofrep"), scheme="Bearer")
    assert client.get(URL).status_code == 200


def test_invalid_key__401(client_for, bank):
    assert client_for("abc.def").get(URL).status_code == 401
    assert client_for("nonsense").get(URL).status_code == 401


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code", "deutdeff"),
        ("code", "DEUTDEF"),
        ("code", "DEUTDEFF5000"),
        ("name", ""),
        ("name", "x" * 201),
        ("country", "XX"),
        ("country", "de"),
        ("timezone", "Mars/Olympus"),
        ("calendar", "NOPE"),
        ("is_active", "maybe"),
        ("unknown_field", 1),
    ],
)
def test_create__bad_field__400_names_it_nothing_changed(writer, field, value):
    entries_before = AuditEntry.objects.count()
    response = writer.post(URL, {**VALID, field: value}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Institution.objects.count() == 0
    assert AuditEntry.objects.count() == entries_before


def test_create__duplicate_code__409(writer, bank):
    response = writer.post(URL, VALID, format="json")
    assert response.status_code == 409
    assert Institution.objects.count() == 1


def test_update__code_is_immutable__400(writer, bank):
    assert_field_refused(writer, f"{URL}{bank.code}/", {"code": "COBADEFF"}, "code")


def test_update__stale_if_match__412_nothing_changed(writer, bank):
    assert_stale_version_refused(writer, f"{URL}{bank.code}/", "name", "First", "Second")
    assert Institution.objects.get(pk=bank.pk).name == "First"
    assert writer.delete(f"{URL}{bank.code}/", HTTP_IF_MATCH='"1"').status_code == 412
    assert (
        writer.patch(
            f"{URL}{bank.code}/", {"name": "x"}, format="json", HTTP_IF_MATCH="garbage"
        ).status_code
        == 412
    )


def test_retrieve__if_none_match__304(reader, bank):
    first = reader.get(f"{URL}{bank.code}/")
    assert first["ETag"] == '"1"'
    again = reader.get(f"{URL}{bank.code}/", HTTP_IF_NONE_MATCH='"1"')
    assert again.status_code == 304


def test_delete__write_key__204_and_audited(writer, bank):
    assert writer.delete(f"{URL}{bank.code}/", HTTP_IF_MATCH='"1"').status_code == 204
    assert not Institution.objects.filter(code=bank.code).exists()
    assert (
        AuditEntry.objects.filter(
            action=AuditEntry.Action.DELETE, actor_name="api-key:writer"
        ).count()
        == 1
    )


def test_filters__country_and_search(reader, bank, other):
    assert [r["code"] for r in reader.get(URL, {"country": "FR"}).json()["results"]] == ["BNPAFRPP"]
    assert [r["code"] for r in reader.get(URL, {"search": "deutsche"}).json()["results"]] == [
        "DEUTDEFF"
    ]
    assert reader.get(URL, {"is_active": "nope"}).status_code == 400


def test_staff__needs_model_permission_to_write(client, django_user_model, bank):
    user = django_user_model.objects.create_user("viewer", password="pw-123456!", is_staff=True)
    client.force_login(user)
    assert client.get(URL).status_code == 200
    response = client.patch(f"{URL}{bank.code}/", {"name": "x"}, content_type="application/json")
    assert response.status_code == 403


def test_staff_with_permission__write_audited_with_username(staff_client, bank):
    response = staff_client.patch(f"{URL}{bank.code}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200
    entry = AuditEntry.objects.filter(action=AuditEntry.Action.UPDATE).get()
    assert entry.actor_display == "admin"
    assert entry.changes["name"] == ["Deutsche Bank", "Renamed"]
