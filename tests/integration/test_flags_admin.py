"""Flags in the admin console (through services) and waffle's own behaviour for Django users."""

from __future__ import annotations

import pytest
import waffle
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from cbpconfig.models import AuditEntry
from flags import services
from flags.models import Flag
from tests.factories import make_institution

pytestmark = pytest.mark.django_db

ADMIN = "/admin/flags/flag/"
EVALUATE = "/api/v1/flags/evaluate"


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def _form(**overrides):
    data = {
        "name": "admin-flag",
        "note": "",
        "everyone": "unknown",
        "rollout_percent": "0",
        "override_development": "",
        "override_staging": "",
        "override_production": "",
        "percent": "",
        "superusers": "on",
        "languages": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _evaluate(client, code="DEUTDEFF"):
    response = client.get(EVALUATE, {"institution": code})
    assert response.status_code == 200, response.content
    return response.json()["flags"]


# -- pages ------------------------------------------------------------------------------------


def test_changelist_and_forms__render(admin_client, bank):
    flag = services.create_flag(
        data={"name": "shown", "institutions": [bank], "environment_overrides": {"staging": True}}
    )
    page = admin_client.get(ADMIN)
    assert page.status_code == 200
    assert b"shown" in page.content
    assert b"staging: on" in page.content
    assert admin_client.get(f"{ADMIN}add/").status_code == 200
    change = admin_client.get(f"{ADMIN}{flag.pk}/change/")
    assert change.status_code == 200
    assert b"Rollout reach" in change.content
    assert b"Staging override" in change.content


def test_history__renders_with_m2m_changes(admin_client, bank):
    flag = services.create_flag(data={"name": "h", "institutions": [bank]})
    services.update_flag(flag=flag, data={"institutions": []})
    page = admin_client.get(f"{ADMIN}{flag.pk}/auditlog/")
    assert page.status_code == 200
    assert b"DEUTDEFF" in page.content


def test_autocomplete__institutions(admin_client, bank):
    response = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "flags", "model_name": "flag", "field_name": "institutions", "term": "DEU"},
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["DEUTDEFF"]


def test_rollout_reach__share_of_active_institutions(admin_client, db):
    codes = ["AAAADEFF", "BBBBDEFF", "CCCCDEFF", "DDDDDEFF"]
    institutions = [make_institution(code) for code in codes]
    make_institution("EEEEDEFF", is_active=False)
    flag = services.create_flag(data={"name": "reach", "institutions": institutions[:1]})
    page = admin_client.get(f"{ADMIN}{flag.pk}/change/")
    assert b"25.0% of active institutions (1 of 4)" in page.content
    services.update_flag(flag=flag, data={"everyone": True})
    page = admin_client.get(f"{ADMIN}{flag.pk}/change/")
    assert b"100.0% of active institutions (4 of 4)" in page.content


# -- saves go through services ----------------------------------------------------------------


def test_add__with_institutions_and_overrides__saved_through_services(admin_client, bank):
    response = admin_client.post(
        f"{ADMIN}add/",
        _form(
            name="from-admin",
            rollout_percent="12.5",
            institutions=[str(bank.pk)],
            override_production="off",
            override_staging="on",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    flag = Flag.objects.get(name="from-admin")
    assert flag.version == 1
    assert str(flag.rollout_percent) == "12.5"
    assert list(flag.institutions.values_list("code", flat=True)) == ["DEUTDEFF"]
    assert flag.environment_overrides == {"staging": True, "production": False}
    entries = AuditEntry.objects.filter(content_type__app_label="flags", object_pk=str(flag.pk))
    assert entries.count() == 1
    entry = entries.get()
    assert entry.actor.username == "admin"
    assert entry.changes["institutions"] == [[], ["DEUTDEFF"]]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rollout_percent": "100.5"}, "rollout_percent"),
        ({"rollout_percent": "12.34"}, "rollout_percent"),
        ({"name": "Bad Name"}, "name"),
        ({"override_staging": "maybe"}, "override_staging"),
    ],
)
def test_add__bad_input__form_error_nothing_saved(admin_client, bank, overrides, field):
    response = admin_client.post(f"{ADMIN}add/", _form(**overrides))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert Flag.objects.count() == 0


def test_change__kill_switch__off_in_next_evaluation(admin_client, reader, bank):
    flag = services.create_flag(data={"name": "risky", "everyone": True})
    assert _evaluate(reader)["risky"]["enabled"] is True
    response = admin_client.post(
        f"{ADMIN}{flag.pk}/change/", _form(everyone="false", expected_version="1")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    flag.refresh_from_db()
    assert flag.version == 2
    assert flag.everyone is False
    assert _evaluate(reader)["risky"] == {"enabled": False, "reason": "STATIC"}


def test_change__stale_version__refused(admin_client, bank):
    flag = services.create_flag(data={"name": "busy"})
    services.update_flag(flag=flag, data={"note": "a colleague's edit"})
    response = admin_client.post(
        f"{ADMIN}{flag.pk}/change/", _form(name="busy", everyone="false", expected_version="1")
    )
    assert response.status_code == 200
    flag.refresh_from_db()
    assert flag.everyone is None
    assert flag.note == "a colleague's edit"


def test_change__environment_override_and_institutions(admin_client, reader, bank):
    flag = services.create_flag(data={"name": "env", "everyone": True})
    response = admin_client.post(
        f"{ADMIN}{flag.pk}/change/",
        _form(
            name="env",
            everyone="true",
            override_development="off",
            institutions=[str(bank.pk)],
            expected_version="1",
        ),
    )
    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.environment_overrides == {"development": False}
    assert list(flag.institutions.values_list("code", flat=True)) == ["DEUTDEFF"]
    assert _evaluate(reader)["env"] == {"enabled": False, "reason": "STATIC"}


def test_action__disable_for_everyone__kill_switch_through_services(admin_client, reader, bank):
    a = services.create_flag(data={"name": "a", "everyone": True})
    b = services.create_flag(data={"name": "b", "rollout_percent": 100})
    assert _evaluate(reader)["b"]["enabled"] is True
    response = admin_client.post(
        ADMIN, {"action": "disable_for_everyone", "_selected_action": [a.pk, b.pk]}
    )
    assert response.status_code == 302
    flags = _evaluate(reader)
    assert flags["a"] == {"enabled": False, "reason": "STATIC"}
    assert flags["b"] == {"enabled": False, "reason": "STATIC"}
    assert Flag.objects.get(pk=b.pk).version == 2
    assert (
        AuditEntry.objects.filter(object_pk=str(b.pk), action=AuditEntry.Action.UPDATE).count() == 1
    )


def test_action__enable_and_reset(admin_client, reader, bank):
    flag = services.create_flag(data={"name": "a"})
    admin_client.post(ADMIN, {"action": "enable_for_everyone", "_selected_action": [flag.pk]})
    assert _evaluate(reader)["a"]["enabled"] is True
    admin_client.post(ADMIN, {"action": "reset_everyone", "_selected_action": [flag.pk]})
    assert _evaluate(reader)["a"] == {"enabled": False, "reason": "DEFAULT"}


def test_delete__through_admin__gone_and_audited(admin_client, reader, bank):
    flag = services.create_flag(data={"name": "doomed"})
    response = admin_client.post(f"{ADMIN}{flag.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Flag.objects.exists()
    assert "doomed" not in _evaluate(reader)
    assert AuditEntry.objects.filter(
        object_pk=str(flag.pk), action=AuditEntry.Action.DELETE
    ).exists()


def test_delete_selected__one_service_call_per_flag(admin_client, reader, bank):
    flags = [services.create_flag(data={"name": n}) for n in ("x", "y")]
    response = admin_client.post(
        ADMIN,
        {"action": "delete_selected", "_selected_action": [f.pk for f in flags], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Flag.objects.exists()
    assert _evaluate(reader) == {}
    assert AuditEntry.objects.filter(action=AuditEntry.Action.DELETE).count() == 2


# -- waffle for Django users ------------------------------------------------------------------


def _request(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def test_waffle_flag_is_active__everyone_and_superusers(superuser, django_user_model):
    plain = django_user_model.objects.create_user("plain", password="x-pass-1234!")
    services.create_flag(data={"name": "waffled"})
    assert waffle.flag_is_active(_request(superuser), "waffled") is True  # superusers default
    assert waffle.flag_is_active(_request(plain), "waffled") is False
    assert waffle.flag_is_active(_request(AnonymousUser()), "missing-flag") is False


def test_waffle_flag_is_active__users_m2m_through_service(django_user_model):
    plain = django_user_model.objects.create_user("plain", password="x-pass-1234!")
    services.create_flag(data={"name": "for-plain", "users": [plain]})
    assert waffle.flag_is_active(_request(plain), "for-plain") is True


def test_waffle_cache__flushed_after_our_kill_switch(superuser, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        flag = services.create_flag(data={"name": "cached", "everyone": True})
    request = _request(AnonymousUser())
    assert waffle.flag_is_active(request, "cached") is True  # now in waffle's cache
    with django_capture_on_commit_callbacks(execute=True):
        services.set_everyone(flag=flag, everyone=False)
    assert waffle.flag_is_active(_request(superuser), "cached") is False


def test_waffle_template_tag__works(superuser):
    from django.template import Context, Template

    services.create_flag(data={"name": "tagged", "everyone": True})
    template = Template("{% load waffle_tags %}{% flag 'tagged' %}on{% else %}off{% endflag %}")
    assert template.render(Context({"request": _request(superuser)})) == "on"


def test_waffle_command__side_door_still_invalidates_our_cache(
    reader, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    with django_capture_on_commit_callbacks(execute=True):
        make_institution("DEUTDEFF")
        services.create_flag(data={"name": "cmd", "everyone": True})
    assert _evaluate(reader)["cmd"]["enabled"] is True
    with django_capture_on_commit_callbacks(execute=True):
        call_command("waffle_flag", "cmd", "--deactivate")
    assert _evaluate(reader)["cmd"] == {"enabled": False, "reason": "STATIC"}
