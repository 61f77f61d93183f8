"""Configurations and values over the API: validation, versions, scope, masking, audit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cbpconfig.models import AuditEntry
from configuration import services
from configuration.models import Configuration, ConfigurationValue
from tests.factories import assert_field_refused, assert_stale_version_refused, make_configuration

pytestmark = pytest.mark.django_db

URL = "/api/v1/configurations/"
T0 = "2026-01-01T00:00:00Z"


def values_url(key: str) -> str:
    return f"{URL}{key}/values/"


@pytest.fixture
def limit(db):
    return make_configuration(
        "payments.max_amount",
        description="Largest single payment",
        schema={"type": "integer", "minimum": 0},
        default=100,
    )


@pytest.fixture
def secret(db):
    return make_configuration(
        "gateway.api_secret", "string", default="default-secret", is_sensitive=True
    )


def add_value(configuration, value, institution=None, effective_from=T0):
    return services.create_value(
        configuration=configuration,
        data={
            "value": value,
            "institution": institution,
            "effective_from": datetime.fromisoformat(effective_from),
        },
    )


@pytest.fixture
def institution_client(make_key, client_for, bank):
    return client_for(make_key("bank-key", institution=bank))


# ---------------------------------------------------------------- definitions


def test_create_configuration__write_key__201_etag_and_audited(writer):
    body = {
        "key": "payments.cutoff_minutes",
        "description": "Minutes before close",
        "value_type": "integer",
        "schema": {"type": "integer", "minimum": 0, "maximum": 600},
        "default": 30,
        "is_sensitive": False,
    }
    response = writer.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    assert response["ETag"] == '"1"'
    data = response.json()
    assert {k: data[k] for k in body} == body
    assert data["version"] == 1
    configuration = Configuration.objects.get(key="payments.cutoff_minutes")
    entry = AuditEntry.objects.get(
        object_pk=str(configuration.pk),
        action=AuditEntry.Action.CREATE,
        content_type__model="configuration",
    )
    assert entry.actor_name == "api-key:writer"


def test_create_configuration__minimal__defaults_applied(writer):
    response = writer.post(URL, {"key": "a", "value_type": "boolean"}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["description"] == ""
    assert data["schema"] is None
    assert data["default"] is None
    assert data["is_sensitive"] is False


@pytest.mark.parametrize(
    "key",
    ["Payments", "1payments", "payments..limit", "payments.", "pay-ments", "a.1b", "x" * 101, ""],
)
def test_create_configuration__key_breaks_pattern__400_names_key(writer, key):
    entries = AuditEntry.objects.count()
    response = writer.post(URL, {"key": key, "value_type": "string"}, format="json")
    assert response.status_code == 400
    assert "key" in response.json()
    assert Configuration.objects.count() == 0
    assert AuditEntry.objects.count() == entries


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"value_type": "float"}, "value_type", "valid choice"),
        ({"schema": {"type": "nonsense"}}, "schema", "not a valid JSON Schema"),
        ({"schema": {"minimum": "zero"}}, "schema", "not a valid JSON Schema"),
        ({"schema": {"$ref": "https://example.com/s.json"}}, "schema", "not defined"),
        ({"schema": [1, 2]}, "schema", "JSON object"),
        ({"schema": {"maximum": 10}, "default": 11}, "default", "schema"),
        ({"default": "ten"}, "default", "expected an integer"),
        ({"default": 1.5}, "default", "not an integer"),
        ({"is_sensitive": "maybe"}, "is_sensitive", ""),
        ({"colour": "blue"}, "colour", "Unknown field"),
    ],
)
def test_create_configuration__bad_definition__400_names_problem(writer, body, field, fragment):
    payload = {"key": "payments.limit", "value_type": "integer", **body}
    response = writer.post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert fragment in " ".join(response.json()[field])
    assert Configuration.objects.count() == 0


def test_create_configuration__decimal_default_as_float__400(writer):
    body = {"key": "fees.rate", "value_type": "decimal", "default": 0.1}
    response = writer.post(URL, body, format="json")
    assert response.status_code == 400
    assert "JSON strings" in response.json()["default"][0]


def test_create_configuration__duplicate_key__409(writer, limit):
    response = writer.post(URL, {"key": limit.key, "value_type": "string"}, format="json")
    assert response.status_code == 409
    assert Configuration.objects.count() == 1


def test_retrieve_configuration__dotted_key__200_with_etag(reader, limit):
    response = reader.get(f"{URL}{limit.key}/")
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert response.json()["schema"] == {"type": "integer", "minimum": 0}
    assert reader.get(f"{URL}{limit.key}/", HTTP_IF_NONE_MATCH='"1"').status_code == 304
    assert reader.get(f"{URL}nope.nope/").status_code == 404


def test_list_configurations__filters(reader, limit, secret):
    assert reader.get(URL).json()["count"] == 2
    sensitive = reader.get(URL, {"is_sensitive": "true"}).json()["results"]
    assert [c["key"] for c in sensitive] == [secret.key]
    assert [c["key"] for c in reader.get(URL, {"value_type": "integer"}).json()["results"]] == [
        limit.key
    ]
    assert reader.get(URL, {"is_sensitive": "perhaps"}).status_code == 400


def test_update_configuration__key_immutable__400(writer, limit):
    assert_field_refused(writer, f"{URL}{limit.key}/", {"key": "payments.other"}, "key")
    assert Configuration.objects.get(pk=limit.pk).key == "payments.max_amount"


def test_update_configuration__stale_if_match__412_nothing_changed(writer, limit):
    assert_stale_version_refused(writer, f"{URL}{limit.key}/", "description", "first", "second")
    assert Configuration.objects.get(pk=limit.pk).description == "first"


def test_update_configuration__put_full_object__200(writer, limit):
    body = {
        "key": limit.key,
        "description": "new",
        "value_type": "integer",
        "schema": None,
        "default": 5,
        "is_sensitive": False,
    }
    response = writer.put(f"{URL}{limit.key}/", body, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    assert response.json()["schema"] is None


def test_update_configuration__type_change_leaves_value_invalid__400_names_value(writer):
    plain = services.create_configuration(data={"key": "retries", "value_type": "integer"})
    value = add_value(plain, 42)
    response = writer.patch(f"{URL}{plain.key}/", {"value_type": "string"}, format="json")
    assert response.status_code == 400
    message = response.json()["value_type"][0]
    assert f"id {value.pk}" in message
    assert "global" in message
    assert "expected a string" in message
    plain.refresh_from_db()
    assert plain.value_type == "integer"
    assert plain.version == 1


def test_update_configuration__type_change_default_invalid__400_names_default(writer, limit):
    response = writer.patch(
        f"{URL}{limit.key}/", {"value_type": "string", "schema": None}, format="json"
    )
    assert response.status_code == 400
    assert "default" in response.json()
    assert Configuration.objects.get(pk=limit.pk).value_type == "integer"


def test_update_configuration__schema_change_leaves_value_invalid__400_names_value(
    writer, limit, bank
):
    value = add_value(limit, 500, institution=bank)
    response = writer.patch(
        f"{URL}{limit.key}/", {"schema": {"type": "integer", "maximum": 100}}, format="json"
    )
    assert response.status_code == 400
    message = response.json()["schema"][0]
    assert f"id {value.pk}" in message
    assert "DEUTDEFF" in message
    assert "maximum" in message or "greater than" in message
    assert Configuration.objects.get(pk=limit.pk).schema == {"type": "integer", "minimum": 0}


def test_update_configuration__schema_change_all_values_valid__200(writer, limit):
    add_value(limit, 50)
    response = writer.patch(
        f"{URL}{limit.key}/", {"schema": {"type": "integer", "maximum": 100}}, format="json"
    )
    assert response.status_code == 200, response.content


def test_delete_configuration__with_values__cascade_each_audited(writer, limit, bank):
    first = add_value(limit, 1)
    second = add_value(limit, 2, institution=bank)
    response = writer.delete(f"{URL}{limit.key}/", HTTP_IF_MATCH='"1"')
    assert response.status_code == 204
    assert not Configuration.objects.filter(key=limit.key).exists()
    assert not ConfigurationValue.objects.exists()
    deleted = set(
        AuditEntry.objects.filter(
            action=AuditEntry.Action.DELETE, actor_name="api-key:writer"
        ).values_list("content_type__model", "object_pk")
    )
    assert {
        ("configurationvalue", str(first.pk)),
        ("configurationvalue", str(second.pk)),
        ("configuration", str(limit.pk)),
    } == deleted


# ---------------------------------------------------------------------- values


def test_create_value__global_and_institution__201(writer, limit, bank):
    response = writer.post(values_url(limit.key), {"value": 10}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["institution"] is None
    assert data["value"] == 10
    assert data["effective_from"].endswith("Z")
    assert data["version"] == 1
    assert response["ETag"] == '"1"'
    response = writer.post(
        values_url(limit.key),
        {"value": 20, "institution": bank.code, "effective_from": "2026-03-01T09:30:00+01:00"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["institution"] == "DEUTDEFF"
    assert response.json()["effective_from"] == "2026-03-01T08:30:00Z"


def test_create_value__effective_from_defaults_to_now(writer, limit):
    before = datetime.now(UTC)
    response = writer.post(values_url(limit.key), {"value": 1}, format="json")
    after = datetime.now(UTC)
    moment = datetime.fromisoformat(response.json()["effective_from"])
    assert before <= moment <= after


@pytest.mark.parametrize(
    ("value_type", "value", "fragment"),
    [
        ("integer", "12", "expected an integer, got a string"),
        ("integer", 1.5, "not an integer"),
        ("integer", True, "expected an integer, got a boolean"),
        ("decimal", 1.5, "JSON strings"),
        ("decimal", 100, "JSON strings"),
        ("decimal", "1e5", "not a decimal number"),
        ("decimal", "NaN", "finite"),
        ("boolean", "true", "expected a boolean"),
        ("string", 5, "expected a string"),
        ("json", None, "a value is required"),
    ],
)
def test_create_value__type_mismatch__400_names_problem(writer, value_type, value, fragment):
    services.create_configuration(data={"key": "x.setting", "value_type": value_type})
    entries = AuditEntry.objects.count()
    response = writer.post(values_url("x.setting"), {"value": value}, format="json")
    assert response.status_code == 400, response.content
    assert fragment in response.json()["value"][0]
    assert not ConfigurationValue.objects.exists()
    assert AuditEntry.objects.count() == entries


def test_create_value__fails_schema__400_names_problem(writer, limit):
    response = writer.post(values_url(limit.key), {"value": -5}, format="json")
    assert response.status_code == 400
    message = response.json()["value"][0]
    assert "schema" in message
    assert "minimum" in message
    assert not ConfigurationValue.objects.exists()


def test_create_value__json_schema_path_named(writer):
    services.create_configuration(
        data={
            "key": "routing.rules",
            "value_type": "json",
            "schema": {
                "type": "object",
                "properties": {"limits": {"type": "array", "items": {"type": "integer"}}},
            },
        }
    )
    response = writer.post(
        values_url("routing.rules"), {"value": {"limits": [1, "two"]}}, format="json"
    )
    assert response.status_code == 400
    assert "/limits/1" in response.json()["value"][0]


def test_create_value__decimal_keeps_every_digit(writer, reader):
    services.create_configuration(data={"key": "fees.cap", "value_type": "decimal"})
    digits = "123456789012345678901234567890.000000000000000001"
    response = writer.post(values_url("fees.cap"), {"value": digits}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["value"] == digits
    listed = reader.get(values_url("fees.cap")).json()["results"]
    assert listed[0]["value"] == digits
    resolved = reader.get(f"{URL}fees.cap/resolve").json()
    assert resolved["value"] == digits


def test_create_value__unknown_institution__400(writer, limit):
    response = writer.post(
        values_url(limit.key), {"value": 1, "institution": "NOPEDEFF"}, format="json"
    )
    assert response.status_code == 400
    assert "NOPEDEFF" in response.json()["institution"][0]
    assert not ConfigurationValue.objects.exists()


def test_create_value__unknown_configuration__404(writer):
    assert writer.post(values_url("no.such"), {"value": 1}, format="json").status_code == 404


@pytest.mark.parametrize("field", ["effective_from"])
@pytest.mark.parametrize(
    "raw", ["2026-01-01T00:00:00", "2026-01-01", "tomorrow", "2300-01-01T00:00:00Z"]
)
def test_create_value__bad_effective_from__400(writer, limit, field, raw):
    response = writer.post(values_url(limit.key), {"value": 1, field: raw}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not ConfigurationValue.objects.exists()


def test_create_value__duplicate_instant__409(writer, limit, bank):
    body = {"value": 1, "effective_from": T0}
    assert writer.post(values_url(limit.key), body, format="json").status_code == 201
    assert writer.post(values_url(limit.key), body, format="json").status_code == 409
    own = {**body, "institution": bank.code}
    assert writer.post(values_url(limit.key), own, format="json").status_code == 201
    assert writer.post(values_url(limit.key), own, format="json").status_code == 409
    assert ConfigurationValue.objects.count() == 2


def test_update_value__to_taken_instant__409_nothing_changed(writer, limit):
    add_value(limit, 1, effective_from=T0)
    later = add_value(limit, 2, effective_from="2026-02-01T00:00:00Z")
    response = writer.patch(
        f"{values_url(limit.key)}{later.pk}/", {"effective_from": T0}, format="json"
    )
    assert response.status_code == 409
    later.refresh_from_db()
    assert later.effective_from == datetime(2026, 2, 1, tzinfo=UTC)


def test_update_value__bad_value__400_stale__412(writer, limit):
    value = add_value(limit, 1)
    url = f"{values_url(limit.key)}{value.pk}/"
    assert writer.patch(url, {"value": "x"}, format="json").status_code == 400
    ok = writer.patch(url, {"value": 7}, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200
    assert ok.json()["version"] == 2
    assert ok["ETag"] == '"2"'
    assert writer.patch(url, {"value": 8}, format="json", HTTP_IF_MATCH='"1"').status_code == 412
    assert writer.delete(url, HTTP_IF_MATCH='"1"').status_code == 412
    value.refresh_from_db()
    assert value.value == 7


def test_update_value__institution_immutable__400(writer, limit, bank):
    value = add_value(limit, 1)
    response = writer.patch(
        f"{values_url(limit.key)}{value.pk}/", {"institution": bank.code}, format="json"
    )
    assert response.status_code == 400
    assert "institution" in response.json()


def test_delete_value__204_and_audited(writer, limit):
    value = add_value(limit, 1)
    assert writer.delete(f"{values_url(limit.key)}{value.pk}/").status_code == 204
    assert not ConfigurationValue.objects.exists()
    assert AuditEntry.objects.filter(
        object_pk=str(value.pk),
        action=AuditEntry.Action.DELETE,
        actor_name="api-key:writer",
        content_type__model="configurationvalue",
    ).exists()


def test_value_of_other_configuration__404(writer, limit, secret):
    value = add_value(limit, 1)
    assert writer.get(f"{values_url(secret.key)}{value.pk}/").status_code == 404


def test_list_values__filters_institution_and_global(reader, limit, bank, other):
    add_value(limit, 1)
    add_value(limit, 2, institution=bank)
    add_value(limit, 3, institution=other)
    everything = reader.get(values_url(limit.key)).json()
    assert [v["value"] for v in everything["results"]] == [1, 3, 2]  # global first, then by code
    only_global = reader.get(values_url(limit.key), {"global": "true"}).json()["results"]
    assert [v["value"] for v in only_global] == [1]
    not_global = reader.get(values_url(limit.key), {"global": "false"}).json()["results"]
    assert sorted(v["value"] for v in not_global) == [2, 3]
    own = reader.get(values_url(limit.key), {"institution": "DEUTDEFF"}).json()["results"]
    assert [v["value"] for v in own] == [2]
    assert reader.get(values_url(limit.key), {"global": "perhaps"}).status_code == 400


# ------------------------------------------------------------------ scope matrix


def test_configuration_endpoints__no_credentials__401(anon, limit, bank):
    value = add_value(limit, 1)
    urls = [
        ("get", URL),
        ("post", URL),
        ("get", f"{URL}{limit.key}/"),
        ("patch", f"{URL}{limit.key}/"),
        ("delete", f"{URL}{limit.key}/"),
        ("get", values_url(limit.key)),
        ("post", values_url(limit.key)),
        ("get", f"{values_url(limit.key)}{value.pk}/"),
        ("patch", f"{values_url(limit.key)}{value.pk}/"),
        ("delete", f"{values_url(limit.key)}{value.pk}/"),
        ("get", f"{URL}{limit.key}/resolve"),
        ("get", f"/api/v1/institutions/{bank.code}/configuration"),
    ]
    for method, url in urls:
        assert getattr(anon, method)(url, {}, format="json").status_code == 401, (method, url)
    assert Configuration.objects.get(pk=limit.pk).version == 1


def test_configuration_writes__read_key__403_nothing_changed(reader, limit):
    value = add_value(limit, 1)
    assert reader.post(URL, {"key": "a.b", "value_type": "string"}, format="json").status_code == (
        403
    )
    assert reader.patch(f"{URL}{limit.key}/", {"description": "x"}, format="json").status_code == (
        403
    )
    assert reader.delete(f"{URL}{limit.key}/").status_code == 403
    assert reader.post(values_url(limit.key), {"value": 2}, format="json").status_code == 403
    detail = f"{values_url(limit.key)}{value.pk}/"
    assert reader.patch(detail, {"value": 2}, format="json").status_code == 403
    assert reader.delete(detail).status_code == 403
    assert Configuration.objects.count() == 1
    assert ConfigurationValue.objects.get().value == 1


def test_institution_key__reads_definitions_and_own_values_only(
    institution_client, limit, bank, other
):
    add_value(limit, 1)
    own = add_value(limit, 2, institution=bank)
    foreign = add_value(limit, 3, institution=other)
    assert institution_client.get(URL).status_code == 200
    assert institution_client.get(f"{URL}{limit.key}/").status_code == 200
    listed = institution_client.get(values_url(limit.key)).json()["results"]
    assert [v["id"] for v in listed] == [own.pk]
    assert institution_client.get(f"{values_url(limit.key)}{own.pk}/").status_code == 200
    assert institution_client.get(f"{values_url(limit.key)}{foreign.pk}/").status_code == 404
    filtered = institution_client.get(values_url(limit.key), {"institution": other.code}).json()
    assert filtered["count"] == 0


def test_institution_key__never_writes__403(institution_client, limit, bank):
    own = add_value(limit, 2, institution=bank)
    assert (
        institution_client.post(
            values_url(limit.key), {"value": 5, "institution": bank.code}, format="json"
        ).status_code
        == 403
    )
    assert (
        institution_client.patch(
            f"{values_url(limit.key)}{own.pk}/", {"value": 5}, format="json"
        ).status_code
        == 403
    )
    assert institution_client.post(URL, {"key": "a", "value_type": "string"}).status_code == 403
    own.refresh_from_db()
    assert own.value == 2


def test_staff__model_permissions_needed_to_write(client, django_user_model, limit):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw-123456!", is_staff=True)
    client.force_login(user)
    assert client.get(values_url(limit.key)).status_code == 200
    post = client.post(values_url(limit.key), {"value": 1}, content_type="application/json")
    assert post.status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="add_configurationvalue"))
    user = django_user_model.objects.get(pk=user.pk)
    client.force_login(user)
    post = client.post(values_url(limit.key), {"value": 1}, content_type="application/json")
    assert post.status_code == 201, post.content
    entry = AuditEntry.objects.get(
        object_pk=str(post.json()["id"]), content_type__model="configurationvalue"
    )
    assert entry.actor_name == "viewer" or entry.actor_display == "viewer"


# ----------------------------------------------------------------- sensitivity


def test_sensitive__institution_key_sees_mask_everywhere(institution_client, secret, bank):
    add_value(secret, "global-secret")
    add_value(secret, "bank-secret", institution=bank)
    definition = institution_client.get(f"{URL}{secret.key}/").json()
    assert definition["default"] == "********"
    listed = institution_client.get(values_url(secret.key)).json()["results"]
    assert [v["value"] for v in listed] == ["********"]
    resolved = institution_client.get(f"/api/v1/institutions/{bank.code}/configuration").json()
    assert resolved["values"][secret.key]["value"] == "********"
    assert resolved["values"][secret.key]["source"] == "institution"
    one = institution_client.get(f"{URL}{secret.key}/resolve").json()
    assert one["value"] == "********"


def test_sensitive__platform_write_key_sees_mask_even_in_its_own_write(writer, secret):
    response = writer.post(values_url(secret.key), {"value": "s3cr3t"}, format="json")
    assert response.status_code == 201
    assert response.json()["value"] == "********"
    assert ConfigurationValue.objects.get().value == "s3cr3t"


def test_sensitive__staff_with_permission_sees_clear_without_sees_mask(
    client, django_user_model, secret, bank
):
    from django.contrib.auth.models import Permission

    add_value(secret, "bank-secret", institution=bank)
    user = django_user_model.objects.create_user("ops", password="pw-123456!", is_staff=True)
    client.force_login(user)
    url = f"/api/v1/institutions/{bank.code}/configuration"
    masked = client.get(url)
    assert masked.json()["values"][secret.key]["value"] == "********"
    assert client.get(values_url(secret.key)).json()["results"][0]["value"] == "********"
    user.user_permissions.add(Permission.objects.get(codename="view_sensitive_value"))
    user = django_user_model.objects.get(pk=user.pk)
    client.force_login(user)
    clear = client.get(url)
    assert clear.json()["values"][secret.key]["value"] == "bank-secret"
    assert client.get(values_url(secret.key)).json()["results"][0]["value"] == "bank-secret"
    assert client.get(f"{URL}{secret.key}/").json()["default"] == "default-secret"
    # Masked and clear answers are different representations: different ETags.
    assert clear["ETag"] != masked["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=masked["ETag"]).status_code == 200


def test_sensitive__mask_sent_back_keeps_stored_value(writer, secret):
    value = add_value(secret, "keep-me")
    url = f"{values_url(secret.key)}{value.pk}/"
    shown = writer.get(url).json()
    response = writer.put(
        url,
        {k: shown[k] for k in ("institution", "value", "effective_from")},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 200, response.content
    value.refresh_from_db()
    assert value.value == "keep-me"
    definition = writer.get(f"{URL}{secret.key}/").json()
    writer.patch(f"{URL}{secret.key}/", {"default": definition["default"]}, format="json")
    assert Configuration.objects.get(pk=secret.pk).default == "default-secret"


def _audit_texts(entries) -> str:
    import json

    return json.dumps([e.changes for e in entries])


def test_sensitive__audit_log_never_in_clear(writer, reader, secret, bank):
    created = writer.post(
        values_url(secret.key),
        {"value": "first-secret", "institution": bank.code},
        format="json",
    ).json()
    url = f"{values_url(secret.key)}{created['id']}/"
    assert writer.patch(url, {"value": "second-secret"}, format="json").status_code == 200
    assert (
        writer.patch(f"{URL}{secret.key}/", {"default": "new-default"}, format="json").status_code
        == 200
    )
    assert writer.delete(url).status_code == 204
    stored = AuditEntry.objects.filter(content_type__app_label="configuration")
    text = _audit_texts(stored)
    for secret_text in ("first-secret", "second-secret", "new-default", "default-secret"):
        assert secret_text not in text
    value_entries = stored.filter(
        object_pk=str(created["id"]), content_type__model="configurationvalue"
    ).order_by("id")
    assert [e.action for e in value_entries] == [0, 1, 2]
    assert value_entries[0].changes["value"] == [None, "********"]
    assert value_entries[1].changes["value"] == ["********", "********"]
    api = reader.get("/api/v1/audit-log/", {"model": "configuration.configurationvalue"}).json()
    assert api["count"] == 3
    assert all(e["changes"]["value"][1] in ("********", None) for e in api["results"])
    assert "first-secret" not in str(api)
    assert "second-secret" not in str(api)


def test_sensitive__not_sensitive_value_audited_in_clear(writer, limit):
    writer.post(values_url(limit.key), {"value": 77}, format="json")
    entry = AuditEntry.objects.get(content_type__model="configurationvalue")
    assert entry.changes["value"] == [None, 77]


def test_sensitive__made_sensitive_later__history_redacted(writer, limit):
    # Seven digits: no run of digits in a timestamp or an id of the audit text is that long.
    writer.post(values_url(limit.key), {"value": 8675309}, format="json")
    response = writer.patch(f"{URL}{limit.key}/", {"is_sensitive": True}, format="json")
    assert response.status_code == 200
    assert response.json()["default"] == "********"
    text = _audit_texts(AuditEntry.objects.filter(content_type__app_label="configuration"))
    assert "8675309" not in text
    assert '"100"' not in text
    assert " 100]" not in text


def test_delete_institution__with_values__409_nothing_changed(writer, limit, bank):
    add_value(limit, 1, institution=bank)
    response = writer.delete(f"/api/v1/institutions/{bank.code}/")
    assert response.status_code == 409
    assert ConfigurationValue.objects.filter(institution=bank).exists()


def test_metrics__writes_counted_after_commit(writer, limit, django_capture_on_commit_callbacks):
    from prometheus_client import REGISTRY

    def count(kind):
        return REGISTRY.get_sample_value("cbp_configuration_operations_total", {"kind": kind})

    before = {kind: count(kind) for kind in ("create", "update", "delete")}
    with django_capture_on_commit_callbacks(execute=True):
        created = writer.post(values_url(limit.key), {"value": 1}, format="json").json()
        writer.patch(f"{values_url(limit.key)}{created['id']}/", {"value": 2}, format="json")
        writer.delete(f"{values_url(limit.key)}{created['id']}/")
    assert count("create") == before["create"] + 1
    assert count("update") == before["update"] + 1
    assert count("delete") == before["delete"] + 1
    # A refused write is not counted.
    with django_capture_on_commit_callbacks(execute=True):
        assert writer.post(values_url(limit.key), {"value": "x"}, format="json").status_code == 400
    assert count("create") == before["create"] + 1


def test_create_value__nested_too_deep__400(writer):
    services.create_configuration(data={"key": "deep.json", "value_type": "json"})
    nested = []
    for _ in range(200):
        nested = [nested]
    response = writer.post(values_url("deep.json"), {"value": nested}, format="json")
    assert response.status_code == 400
    assert "64 levels" in response.json()["value"][0]
    assert not ConfigurationValue.objects.exists()


def test_schema_change_refused_on_sensitive_configuration__error_never_quotes_the_secret(
    writer, secret
):
    add_value(secret, "TOPSECRET-1")
    url = f"/api/v1/configurations/{secret.key}/"
    # A stored value that would not fit, then a default that would not fit.
    for pattern, field in (("^default", "schema"), ("^TOP", "default")):
        refused = writer.patch(
            url, {"schema": {"type": "string", "pattern": pattern}}, format="json"
        )
        assert refused.status_code == 400
        assert field in refused.json()
        assert b"TOPSECRET" not in refused.content
        assert b"default-secret" not in refused.content
    secret.refresh_from_db()
    assert secret.schema is None
    accepted = writer.patch(url, {"schema": {"type": "string", "minLength": 3}}, format="json")
    assert accepted.status_code == 200, accepted.content
