"""Flags over the API: fields, validation, versions, audit, scope."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cbpconfig.models import AuditEntry
from flags import services
from flags.models import Flag
from tests.factories import assert_status_everywhere, crud_calls

pytestmark = pytest.mark.django_db

URL = "/api/v1/flags/"


@pytest.fixture
def flag(db, bank):
    return services.create_flag(
        data={"name": "instant-payments", "note": "SCT Inst", "institutions": [bank]}
    )


def _snapshot():
    return list(
        Flag.objects.order_by("name").values_list(
            "name", "note", "everyone", "rollout_percent", "environment_overrides", "version"
        )
    ), sorted(Flag.institutions.through.objects.values_list("flag_id", "institution_id"))


# -- create and read --------------------------------------------------------------------------


def test_create__all_fields__201_contract_shape_and_etag(writer, bank, other):
    body = {
        "name": "new-ledger",
        "note": "the new ledger",
        "everyone": None,
        "rollout_percent": "25.5",
        "institutions": ["DEUTDEFF", "BNPAFRPP"],
        "environment_overrides": {"staging": True, "production": False},
    }
    response = writer.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert response["ETag"] == '"1"'
    assert data["name"] == "new-ledger"
    assert data["rollout_percent"] == "25.5"
    assert sorted(data["institutions"]) == ["BNPAFRPP", "DEUTDEFF"]
    assert data["environment_overrides"] == {"staging": True, "production": False}
    assert data["everyone"] is None
    assert data["version"] == 1
    assert data["created_at"].endswith("Z")
    assert data["updated_at"].endswith("Z")
    assert set(data) == {  # the contract's fields, in alphabetical order
        "created_at",
        "environment_overrides",
        "everyone",
        "institutions",
        "name",
        "note",
        "rollout_percent",
        "updated_at",
        "version",
    }


def test_create__minimal__defaults(writer):
    response = writer.post(URL, {"name": "minimal"}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["rollout_percent"] == "0.0"
    assert data["everyone"] is None
    assert data["institutions"] == []
    assert data["environment_overrides"] == {}
    assert data["note"] == ""


@pytest.mark.parametrize("value", [25.5, "25.5", 25, "25", "25.50"])
def test_create__rollout_percent_as_number_or_string__stored_with_one_place(writer, value):
    response = writer.post(URL, {"name": "p", "rollout_percent": value}, format="json")
    assert response.status_code == 201, response.content
    expected = Decimal(str(value)).quantize(Decimal("0.1"))
    assert response.json()["rollout_percent"] == str(expected)
    assert Flag.objects.get(name="p").rollout_percent == expected


def test_create__100_percent__served_as_100_0(writer):
    response = writer.post(URL, {"name": "all", "rollout_percent": 100}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["rollout_percent"] == "100.0"


def test_retrieve__if_none_match__304(reader, flag):
    first = reader.get(f"{URL}{flag.name}/")
    assert first.status_code == 200
    assert first["ETag"] == '"1"'
    assert first.json()["institutions"] == ["DEUTDEFF"]
    again = reader.get(f"{URL}{flag.name}/", HTTP_IF_NONE_MATCH='"1"')
    assert again.status_code == 304


def test_list__ordered_by_name_and_paginated(reader, db):
    for name in ["b-flag", "a-flag", "c-flag"]:
        services.create_flag(data={"name": name})
    response = reader.get(URL, {"page_size": 2})
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 3
    assert [f["name"] for f in data["results"]] == ["a-flag", "b-flag"]


def test_list__query_count__constant_in_number_of_flags(reader, bank, django_assert_num_queries):
    for i in range(3):
        services.create_flag(data={"name": f"f{i}", "institutions": [bank]})
    reader.get(URL)  # warm the API-key lookup
    with django_assert_num_queries(3):  # count, page, institutions (prefetch)
        assert reader.get(URL).status_code == 200
    for i in range(3, 20):
        services.create_flag(data={"name": f"f{i}", "institutions": [bank]})
    with django_assert_num_queries(3):
        assert reader.get(URL).status_code == 200


# -- bad input: 400 naming the field, nothing changed -----------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Bad-Name"}, "name"),
        ({"name": "-starts-with-dash"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "ok", "rollout_percent": "100.1"}, "rollout_percent"),
        ({"name": "ok", "rollout_percent": -1}, "rollout_percent"),
        ({"name": "ok", "rollout_percent": "12.34"}, "rollout_percent"),
        ({"name": "ok", "rollout_percent": 12.34}, "rollout_percent"),
        ({"name": "ok", "rollout_percent": "abc"}, "rollout_percent"),
        ({"name": "ok", "rollout_percent": True}, "rollout_percent"),
        ({"name": "ok", "rollout_percent": None}, "rollout_percent"),
        ({"name": "ok", "institutions": ["NOPENOPE"]}, "institutions"),
        ({"name": "ok", "institutions": "DEUTDEFF"}, "institutions"),
        ({"name": "ok", "institutions": [42]}, "institutions"),
        ({"name": "ok", "environment_overrides": {"qa": True}}, "environment_overrides"),
        ({"name": "ok", "environment_overrides": {"staging": "yes"}}, "environment_overrides"),
        ({"name": "ok", "environment_overrides": {"staging": 1}}, "environment_overrides"),
        ({"name": "ok", "environment_overrides": ["staging"]}, "environment_overrides"),
        ({"name": "ok", "environment_overrides": None}, "environment_overrides"),
        ({"name": "ok", "everyone": "yes"}, "everyone"),
        ({"name": "ok", "everyone": 1}, "everyone"),
        ({"name": "ok", "surprise": 1}, "surprise"),
    ],
)
def test_create__bad_input__400_naming_field_nothing_created(writer, bank, body, field):
    before = _snapshot()
    response = writer.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert _snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rollout_percent": "150"}, "rollout_percent"),
        ({"rollout_percent": "50.05"}, "rollout_percent"),
        ({"institutions": ["DEUTDEFF", "ZZZZZZZZ"]}, "institutions"),
        ({"environment_overrides": {"prod": False}}, "environment_overrides"),
        ({"environment_overrides": {"production": None}}, "environment_overrides"),
        ({"name": "renamed"}, "name"),
    ],
)
def test_update__bad_input__400_naming_field_nothing_changed(writer, flag, body, field):
    before = _snapshot()
    audit_before = AuditEntry.objects.count()
    response = writer.patch(f"{URL}{flag.name}/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert _snapshot() == before
    assert AuditEntry.objects.count() == audit_before


def test_create__duplicate_name__409(writer, flag):
    response = writer.post(URL, {"name": flag.name}, format="json")
    assert response.status_code == 409
    assert Flag.objects.count() == 1


def test_create__not_json__400(writer):
    response = writer.post(URL, "not json", content_type="application/json")
    assert response.status_code == 400
    assert Flag.objects.count() == 0


# -- versions ---------------------------------------------------------------------------------


def test_update__if_match_current__200_version_bumped(writer, flag, other):
    response = writer.patch(
        f"{URL}{flag.name}/",
        {"rollout_percent": 10, "institutions": ["BNPAFRPP"]},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 200, response.content
    assert response["ETag"] == '"2"'
    assert response.json()["institutions"] == ["BNPAFRPP"]
    assert response.json()["rollout_percent"] == "10.0"


def test_update__stale_if_match__412_nothing_changed(writer, flag):
    services.update_flag(flag=flag, data={"note": "changed"})
    before = _snapshot()
    response = writer.patch(
        f"{URL}{flag.name}/", {"everyone": False}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 412
    assert _snapshot() == before


def test_put__same_name__replaces_fields(writer, flag):
    response = writer.put(
        f"{URL}{flag.name}/",
        {"name": flag.name, "everyone": True, "institutions": []},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["everyone"] is True
    assert response.json()["institutions"] == []


def test_delete__stale_if_match__412_then_current__204(writer, flag):
    assert writer.delete(f"{URL}{flag.name}/", HTTP_IF_MATCH='"7"').status_code == 412
    assert Flag.objects.filter(pk=flag.pk).exists()
    assert writer.delete(f"{URL}{flag.name}/", HTTP_IF_MATCH='"1"').status_code == 204
    assert not Flag.objects.filter(pk=flag.pk).exists()


def test_unknown_flag__404(reader):
    assert reader.get(f"{URL}no-such-flag/").status_code == 404


# -- audit ------------------------------------------------------------------------------------


def _entries(flag_pk):
    return list(
        AuditEntry.objects.filter(content_type__app_label="flags", object_pk=str(flag_pk)).order_by(
            "id"
        )
    )


def test_create__with_institutions__one_audit_entry_with_institutions(writer, bank):
    response = writer.post(URL, {"name": "audited", "institutions": ["DEUTDEFF"]}, format="json")
    assert response.status_code == 201
    entries = _entries(Flag.objects.get(name="audited").pk)
    assert len(entries) == 1
    entry = entries[0]
    assert entry.action == AuditEntry.Action.CREATE
    assert entry.actor_name == "api-key:writer"
    assert entry.changes["institutions"] == [[], ["DEUTDEFF"]]
    assert entry.changes["name"][1] == "audited"


def test_update__institutions_changed__one_entry_with_old_and_new_codes(writer, flag, other):
    response = writer.patch(
        f"{URL}{flag.name}/", {"institutions": ["BNPAFRPP", "DEUTDEFF"]}, format="json"
    )
    assert response.status_code == 200
    entries = _entries(flag.pk)
    assert len(entries) == 2  # create, update
    update = entries[-1]
    assert update.action == AuditEntry.Action.UPDATE
    assert update.changes["institutions"] == [["DEUTDEFF"], ["BNPAFRPP", "DEUTDEFF"]]
    assert update.changes["version"] == [1, 2] or update.changes["version"] == ["1", "2"]


def test_audit_log_endpoint__shows_flag_m2m_change(writer, flag, other):
    writer.patch(f"{URL}{flag.name}/", {"institutions": []}, format="json")
    response = writer.get("/api/v1/audit-log/", {"model": "flags.flag", "action": "update"})
    assert response.status_code == 200
    changes = [e["changes"] for e in response.json()["results"]]
    assert {"institutions": [["DEUTDEFF"], []]}.items() <= changes[0].items()


def test_m2m_outside_services__still_audited_by_auditlog(flag, other):
    flag.institutions.add(other)
    entry = _entries(flag.pk)[-1]
    assert entry.changes["institutions"]["operation"] == "add"
    assert entry.changes["institutions"]["objects"] == ["BNPAFRPP"]


def test_delete__one_delete_entry(writer, flag):
    writer.delete(f"{URL}{flag.name}/")
    entries = _entries(flag.pk)
    assert entries[-1].action == AuditEntry.Action.DELETE


# -- scope ------------------------------------------------------------------------------------


def test_every_endpoint__no_key__401(anon, flag):
    calls = [
        *crud_calls(URL, f"{URL}{flag.name}/"),
        ("get", "/api/v1/flags/evaluate?institution=DEUTDEFF"),
    ]
    assert_status_everywhere(anon, calls, 401)


def test_write__read_only_platform_key__403_nothing_changed(reader, flag):
    before = _snapshot()
    assert reader.post(URL, {"name": "x"}, format="json").status_code == 403
    assert reader.patch(f"{URL}{flag.name}/", {"everyone": False}, format="json").status_code == 403
    assert reader.delete(f"{URL}{flag.name}/").status_code == 403
    assert _snapshot() == before


def test_write__institution_key__403_nothing_changed(make_key, client_for, bank, flag):
    client = client_for(make_key("bank", institution=bank))
    before = _snapshot()
    assert client.post(URL, {"name": "x"}, format="json").status_code == 403
    assert client.patch(f"{URL}{flag.name}/", {"everyone": False}, format="json").status_code == 403
    assert client.delete(f"{URL}{flag.name}/").status_code == 403
    assert _snapshot() == before


def test_read__institution_key__sees_definitions_but_only_its_own_code(
    make_key, client_for, bank, other, flag
):
    services.update_flag(flag=flag, data={"institutions": [bank, other]})
    mine = client_for(make_key("bank", institution=bank))
    theirs = client_for(make_key("bnp", institution=other))
    assert mine.get(f"{URL}{flag.name}/").json()["institutions"] == ["DEUTDEFF"]
    assert theirs.get(URL).json()["results"][0]["institutions"] == ["BNPAFRPP"]
    platform = client_for(make_key("platform"))
    assert platform.get(f"{URL}{flag.name}/").json()["institutions"] == ["BNPAFRPP", "DEUTDEFF"]


def test_read__institution_key_not_targeted__sees_empty_list(make_key, client_for, other, flag):
    client = client_for(make_key("bnp", institution=other))
    assert client.get(f"{URL}{flag.name}/").json()["institutions"] == []


def test_staff__model_permissions__write_allowed(staff_client, bank):
    response = staff_client.post(URL, {"name": "staff-flag"}, format="json")
    assert response.status_code == 201


def test_staff_without_permission__403(client, staff_user, bank):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_login(staff_user)
    assert api.get(URL).status_code == 200
    assert api.post(URL, {"name": "nope"}, format="json").status_code == 403
    assert not Flag.objects.filter(name="nope").exists()


def test_bearer_scheme__accepted(make_key, client_for, flag):
    client = client_for(make_key("of"), scheme="Bearer")
    assert client.get(URL).status_code == 200


def test_create__duplicate_codes__one_institution(writer, bank):
    response = writer.post(
        URL, {"name": "dup", "institutions": ["DEUTDEFF", "DEUTDEFF"]}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["institutions"] == ["DEUTDEFF"]


def test_create__several_unknown_codes__all_named(writer, bank):
    response = writer.post(
        URL, {"name": "x", "institutions": ["DEUTDEFF", "AAAAAAAA", "BBBBBBBB"]}, format="json"
    )
    assert response.status_code == 400
    message = response.json()["institutions"][0]
    assert "AAAAAAAA" in message
    assert "BBBBBBBB" in message
    assert not Flag.objects.exists()


def test_institution_deleted__leaves_flags_as_an_audited_change(reader, flag, other):
    from configuration.services import delete_institution

    services.update_flag(flag=flag, data={"institutions": ["DEUTDEFF", "BNPAFRPP"]})
    delete_institution(institution=other)
    response = reader.get(f"{URL}{flag.name}/")
    assert response.json()["institutions"] == ["DEUTDEFF"]
    assert response["ETag"] == '"3"'
    entry = _entries(flag.pk)[-1]
    assert entry.changes["institutions"] == [["BNPAFRPP", "DEUTDEFF"], ["DEUTDEFF"]]
