"""Admin of configurations and values: pages, validation messages, stale saves, masking."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission

from cbpconfig.models import AuditEntry
from configuration import services
from configuration.models import Configuration, ConfigurationValue
from tests.factories import make_configuration

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def limit(db):
    return make_configuration(
        "payments.limit", schema={"type": "integer", "minimum": 0}, default=10
    )


@pytest.fixture
def secret(db, bank):
    configuration = make_configuration(
        "gateway.secret", "string", default="default-hush", is_sensitive=True
    )
    services.create_value(
        configuration=configuration,
        data={"value": "bank-hush", "institution": bank, "effective_from": T0},
    )
    return configuration


def _value_form(value, effective_date="2026-01-01"):
    """The POST body of a value's change form, opened at version 1."""
    return {
        "value": value,
        "effective_from_0": effective_date,
        "effective_from_1": "00:00:00",
        "expected_version": "1",
    }


def _assert_shown_again(response, message):
    """The form comes back (200, nothing saved) with `message` on it."""
    assert response.status_code == 200
    assert message in response.content.decode()


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def limited_staff_client(client, django_user_model):
    """Staff who may view and change configurations but not see sensitive values."""
    user = django_user_model.objects.create_user("clerk", password="pw-123456!", is_staff=True)
    codenames = [
        f"{action}_{model}"
        for action in ("view", "change", "add", "delete")
        for model in ("configuration", "configurationvalue")
    ] + ["view_institution"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def _change_form(configuration: Configuration, values=(), **fields) -> dict:
    data = {
        "description": configuration.description,
        "value_type": configuration.value_type,
        "schema": "null" if configuration.schema is None else _json(configuration.schema),
        "default": "" if configuration.default is None else _json(configuration.default),
        "expected_version": str(configuration.version),
        "values-TOTAL_FORMS": str(len(values)),
        "values-INITIAL_FORMS": str(sum(1 for v in values if v.get("id"))),
        "values-MIN_NUM_FORMS": "0",
        "values-MAX_NUM_FORMS": "1000",
    }
    if configuration.is_sensitive:
        data["is_sensitive"] = "on"
    for index, value in enumerate(values):
        for name, raw in value.items():
            data[f"values-{index}-{name}"] = raw
        data[f"values-{index}-configuration"] = str(configuration.pk)
    data.update(fields)
    return data


def _json(value) -> str:
    import json

    return json.dumps(value)


def _value_row(stored: ConfigurationValue | None = None, **overrides) -> dict:
    row = {
        "institution": "",
        "value": "1",
        "effective_from_0": "2026-01-01",
        "effective_from_1": "00:00:00",
    }
    if stored is not None:
        row.update(
            {
                "id": str(stored.pk),
                "institution": str(stored.institution_id or ""),
                "value": _json(stored.value),
                "effective_from_0": stored.effective_from.strftime("%Y-%m-%d"),
                "effective_from_1": stored.effective_from.strftime("%H:%M:%S"),
                "expected_version": str(stored.version),
            }
        )
    row.update(overrides)
    return row


def test_admin_pages__load(admin_client, limit, secret):
    value = secret.values.get()
    for url in [
        "/admin/configuration/configuration/",
        "/admin/configuration/configuration/add/",
        f"/admin/configuration/configuration/{limit.pk}/change/",
        f"/admin/configuration/configuration/{limit.pk}/history/",
        f"/admin/configuration/configuration/{limit.pk}/delete/",
        "/admin/configuration/configurationvalue/",
        "/admin/configuration/configurationvalue/add/",
        f"/admin/configuration/configurationvalue/{value.pk}/change/",
        f"/admin/configuration/configurationvalue/{value.pk}/history/",
        "/admin/configuration/configuration/?value_institution=DEUTDEFF",
        "/admin/configuration/configuration/?value_institution=-",
        f"/admin/configuration/configurationvalue/?institution__id__exact={value.institution_id}",
        "/admin/configuration/configurationvalue/?scope=global",
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_admin_filter_by_institution__lists_configurations_with_its_values(
    admin_client, limit, secret
):
    page = admin_client.get("/admin/configuration/configuration/?value_institution=DEUTDEFF")
    content = page.content.decode()
    assert "gateway.secret" in content
    assert "payments.limit" not in content


def test_admin_add_configuration_with_inline_value__through_services(admin_client, superuser):
    data = {
        "key": "retries.max",
        "description": "",
        "value_type": "integer",
        "schema": "null",
        "default": "3",
        "values-TOTAL_FORMS": "1",
        "values-INITIAL_FORMS": "0",
        "values-MIN_NUM_FORMS": "0",
        "values-MAX_NUM_FORMS": "1000",
        "values-0-institution": "",
        "values-0-value": "5",
        "values-0-effective_from_0": "2026-01-01",
        "values-0-effective_from_1": "00:00:00",
    }
    response = admin_client.post("/admin/configuration/configuration/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    configuration = Configuration.objects.get(key="retries.max")
    assert configuration.default == 3
    value = configuration.values.get()
    assert value.value == 5
    assert value.effective_from == T0
    entry = AuditEntry.objects.get(
        object_pk=str(value.pk), content_type__model="configurationvalue"
    )
    assert entry.actor_display == superuser.username


def test_admin_bad_inline_value__message_says_what_is_wrong_nothing_saved(admin_client, limit):
    data = _change_form(limit, [_value_row(value='"ten"')])
    response = admin_client.post(f"/admin/configuration/configuration/{limit.pk}/change/", data)
    assert response.status_code == 200
    assert "expected an integer, got a string" in response.content.decode()
    assert not ConfigurationValue.objects.exists()
    data = _change_form(limit, [_value_row(value="-4")])
    response = admin_client.post(f"/admin/configuration/configuration/{limit.pk}/change/", data)
    assert "minimum" in response.content.decode()
    assert not ConfigurationValue.objects.exists()


def test_admin_bad_default_and_schema__messages(admin_client, limit):
    url = f"/admin/configuration/configuration/{limit.pk}/change/"
    response = admin_client.post(url, _change_form(limit, default='"ten"'))
    assert response.status_code == 200
    assert "default does not satisfy the type integer" in response.content.decode()
    response = admin_client.post(url, _change_form(limit, schema='{"type": "nonsense"}'))
    assert "not a valid JSON Schema" in response.content.decode()
    limit.refresh_from_db()
    assert limit.version == 1
    assert limit.default == 10


def test_admin_value_change__bad_value_message(admin_client, limit):
    value = services.create_value(configuration=limit, data={"value": 1, "effective_from": T0})
    url = f"/admin/configuration/configurationvalue/{value.pk}/change/"
    _assert_shown_again(admin_client.post(url, _value_form("1.5")), "not an integer")
    value.refresh_from_db()
    assert value.value == 1


def test_admin_stale_save__refused_with_message(admin_client, limit):
    url = f"/admin/configuration/configuration/{limit.pk}/change/"
    opened = _change_form(limit, description="mine")
    assert admin_client.get(url).status_code == 200
    # Someone else saves first.
    services.update_configuration(configuration=limit, data={"description": "theirs"})
    _assert_shown_again(admin_client.post(url, opened), "Someone else changed this object")
    limit.refresh_from_db()
    assert limit.description == "theirs"
    assert limit.version == 2


def test_admin_stale_inline_value__refused_with_message(admin_client, limit):
    value = services.create_value(configuration=limit, data={"value": 1, "effective_from": T0})
    url = f"/admin/configuration/configuration/{limit.pk}/change/"
    opened = _change_form(limit, [_value_row(value)])
    opened["values-0-value"] = "2"
    services.update_value(value=value, data={"value": 3})
    _assert_shown_again(admin_client.post(url, opened), "Someone else changed this object")
    value.refresh_from_db()
    assert value.value == 3


def test_admin_inline_update_and_delete__through_services(admin_client, limit):
    first = services.create_value(configuration=limit, data={"value": 1, "effective_from": T0})
    second = services.create_value(
        configuration=limit,
        data={"value": 2, "effective_from": datetime(2026, 2, 1, tzinfo=UTC)},
    )
    row_first = _value_row(first, value="11")
    row_second = _value_row(second, DELETE="on")
    url = f"/admin/configuration/configuration/{limit.pk}/change/"
    response = admin_client.post(url, _change_form(limit, [row_first, row_second]))
    assert response.status_code == 302, response.content.decode()[:3000]
    first.refresh_from_db()
    assert first.value == 11
    assert first.version == 2
    assert not ConfigurationValue.objects.filter(pk=second.pk).exists()


def test_admin_masks_sensitive_values_for_staff_without_permission(limited_staff_client, secret):
    value = secret.values.get()
    listing = limited_staff_client.get("/admin/configuration/configurationvalue/").content.decode()
    assert "bank-hush" not in listing
    assert "********" in listing
    definitions = limited_staff_client.get("/admin/configuration/configuration/").content.decode()
    assert "default-hush" not in definitions
    change = limited_staff_client.get(
        f"/admin/configuration/configuration/{secret.pk}/change/"
    ).content.decode()
    assert "bank-hush" not in change
    assert "default-hush" not in change
    page = limited_staff_client.get(
        f"/admin/configuration/configurationvalue/{value.pk}/change/"
    ).content.decode()
    assert "bank-hush" not in page
    history = limited_staff_client.get(
        f"/admin/configuration/configurationvalue/{value.pk}/history/"
    ).content.decode()
    assert "bank-hush" not in history


def test_admin_masked_value_saved_back_unchanged(limited_staff_client, secret):
    value = secret.values.get()
    url = f"/admin/configuration/configurationvalue/{value.pk}/change/"
    response = limited_staff_client.post(url, _value_form('"********"', "2026-01-02"))
    assert response.status_code == 302, response.content.decode()[:3000]
    value.refresh_from_db()
    assert value.value == "bank-hush"
    assert value.effective_from == datetime(2026, 1, 2, tzinfo=UTC)


def test_admin_shows_sensitive_values_to_staff_with_permission(admin_client, secret):
    listing = admin_client.get("/admin/configuration/configurationvalue/").content.decode()
    assert "bank-hush" in listing


def test_admin_value_nested_too_deep__form_error_not_500(admin_client, db):
    configuration = services.create_configuration(data={"key": "deep.json", "value_type": "json"})
    value = services.create_value(
        configuration=configuration, data={"value": [], "effective_from": T0}
    )
    url = f"/admin/configuration/configurationvalue/{value.pk}/change/"
    for depth in (100, 5000):
        response = admin_client.post(url, _value_form("[" * depth + "]" * depth))
        _assert_shown_again(response, "deep")
    value.refresh_from_db()
    assert value.value == []
