"""The operations console (issue 13): landing page, environment banner, menu, roles, the home
page's "what needs my attention", the institution page, history and the change log.

The estate and the users in each role are tests.factories.make_estate and role_clients,
the fixtures ``estate`` and ``role_client`` of tests/integration/conftest.py.
"""

from __future__ import annotations

import importlib
import re
from datetime import UTC, timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.utils import timezone

from cbpconfig.audit import system_actor
from configuration import services as configuration_services
from tests.factories import (
    AUDITOR_MIGRATION_NAME,
    CONSOLE_ROLES,
    ROLES_MIGRATION_NAME,
    ensure_roles,
)

pytestmark = pytest.mark.django_db

ROLES_MIGRATION = importlib.import_module(f"cbpconfig.migrations.{ROLES_MIGRATION_NAME}")


def text_of(response) -> str:
    return response.content.decode()


# -- first run: the landing page, JSON 404s ------------------------------------------------


def test_landing__anonymous__links_console_docs_and_health(client):
    response = client.get("/")
    assert response.status_code == 200
    page = text_of(response)
    for href in ('href="/admin/"', 'href="/api/docs/"', 'href="/health"'):
        assert href in page
    assert "changepassword" in page
    assert 'id="environment-banner"' in page


def test_api__unknown_path__json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


# -- the banner and the menu ---------------------------------------------------------------


def test_banner__login_and_every_console_page__names_the_environment(client, superuser, settings):
    page = text_of(client.get("/admin/login/"))
    assert 'class="cbp-env cbp-env-development"' in page
    client.force_login(superuser)
    for url in ("/admin/", "/admin/calendars/calendar/", "/admin/changes/"):
        assert 'id="environment-banner"' in text_of(client.get(url)), url


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_banner__colour_follows_the_environment(client, settings, environment):
    settings.CBP_ENVIRONMENT = environment
    assert f"cbp-env-{environment}" in text_of(client.get("/admin/login/"))


def test_menu__no_waffle_samples_or_switches__one_api_keys_entry(client, superuser):
    client.force_login(superuser)
    page = text_of(client.get("/admin/"))
    assert "/admin/waffle/" not in page
    assert "/admin/rest_framework_api_key/" not in page
    assert page.count(">API keys</a>") == 1


# -- roles ---------------------------------------------------------------------------------


def test_roles__created_by_the_migration__with_their_permissions():
    Group.objects.filter(name__in=CONSOLE_ROLES).delete()
    ensure_roles()  # runs the migration's function on the migration's own model state
    groups = {g.name: g for g in Group.objects.all()}
    assert set(CONSOLE_ROLES) <= set(groups)

    def perms(role):
        return {
            f"{p.content_type.app_label}.{p.codename}"
            for p in groups[role].permissions.select_related("content_type")
        }

    editor, admin_, auditor, keys = (perms(r) for r in CONSOLE_ROLES)
    assert {"calendars.add_holiday", "windows.change_windowoverride"} <= editor
    assert "configuration.change_configurationvalue" in editor
    assert "configuration.view_sensitive_value" not in editor
    assert "flags.change_flag" not in editor
    assert "flags.change_flag" in admin_
    assert "configuration.view_sensitive_value" in admin_
    assert all(p.split(".")[1].startswith("view_") for p in auditor)
    # Sensitive values in clear are granted explicitly, not with the role (migration 0004).
    assert "configuration.view_sensitive_value" not in auditor
    assert {"windows.view_processingwindow", "cbpconfig.view_auditentry"} <= auditor
    assert {"cbpconfig.add_apikey", "cbpconfig.change_apikey"} <= keys
    assert not any(p.startswith("calendars.") for p in keys)


def test_auditor__sees_every_page_and_the_window_rules__no_save_no_add(estate, role_client):
    auditor = role_client("Auditor")
    window = estate["window"]
    page = text_of(auditor.get(f"/admin/windows/processingwindow/{window.pk}/change/"))
    assert (
        "Sessions:" not in page or "None" not in re.sub(r"\s+", " ", page).split("Sessions")[1][:80]
    )
    assert 'name="_save"' not in page
    assert "cbp-rules-view" in page  # the weekly rules, shown as a table
    for url in (
        "/admin/",
        "/admin/changes/",
        f"/admin/institutions/{estate['bank'].code}/",
        "/admin/cbpconfig/apikey/",
        f"/admin/calendars/calendar/{estate['calendar'].pk}/change/",
        f"/admin/configuration/configuration/{estate['limit'].pk}/change/",
    ):
        response = auditor.get(url)
        assert response.status_code == 200, url
        assert 'name="_save"' not in text_of(response), url
        assert (
            "/add/"
            not in re.sub(r'href="/admin/[a-z_/]*/add/\?_to_field[^"]*"', "", text_of(response))
            or url == "/admin/"
        ), url
    refused = auditor.post(
        f"/admin/calendars/calendar/{estate['calendar'].pk}/change/", {"name": "changed"}
    )
    assert refused.status_code == 403


# -- home: what needs my attention ---------------------------------------------------------


def test_home__answers_what_needs_attention(estate, role_client):
    page = text_of(role_client("Operations editor").get("/admin/"))
    sections = {
        name: page.split(f'id="{name}"')[1].split("</section>")[0]
        for name in (
            "closing-soon",
            "open-now",
            "upcoming-overrides",
            "calendars-ending",
            "scheduled-changes",
            "partial-flags",
            "latest-changes",
        )
    }
    assert "SCT-INST" in sections["closing-soon"]
    assert "data-countdown=" in sections["closing-soon"]
    assert "SCT-INST" in sections["open-now"]
    assert "Staff outing" in sections["upcoming-overrides"]
    assert "TARGET2" in sections["calendars-ending"]
    assert "import-holidays" in sections["calendars-ending"]
    scheduled = sections["scheduled-changes"]
    assert "payments.limit" in scheduled
    assert "DEUTDEFF" in scheduled
    assert "900" in scheduled
    assert "gateway.token" in scheduled
    assert "tok-Zq81xW" not in scheduled
    assert "instant-payments" in sections["partial-flags"]
    assert "system:seed" in sections["latest-changes"]


def test_home__sensitive_scheduled_value__shown_to_configuration_administrators(
    estate, role_client
):
    page = text_of(role_client("Configuration administrator").get("/admin/"))
    assert "tok-Zq81xW" in page.split('id="scheduled-changes"')[1].split("</section>")[0]


def test_roles__auditor_migration__withdraws_sensitive_values(transactional_db):
    """Migration 0004 on a database where 0003 gave the Auditor sensitive values in clear."""
    from django.db.migrations.executor import MigrationExecutor

    def auditor_may_see() -> bool:
        return (
            Group.objects.get(name="Auditor")
            .permissions.filter(codename="view_sensitive_value")
            .exists()
        )

    MigrationExecutor(connection).migrate([("cbpconfig", ROLES_MIGRATION_NAME)])
    try:
        loader = MigrationExecutor(connection).loader
        ROLES_MIGRATION.create_roles(
            loader.project_state(("cbpconfig", ROLES_MIGRATION_NAME)).apps, None
        )
        assert auditor_may_see()  # as 0003 made the role
    finally:
        MigrationExecutor(connection).migrate([("cbpconfig", AUDITOR_MIGRATION_NAME)])
    assert not auditor_may_see()


def test_auditor__sees_that_a_sensitive_value_changed__not_the_secret(estate, role_client):
    """An auditor finds the change of a sensitive value (when, by whom, which configuration and
    institution) in the change log, the configuration's history and the institution's page,
    and never the value: "********" everywhere, also on the value's own page."""
    auditor = role_client("Auditor")
    secret = estate["secret"]
    value = secret.values.get()
    with system_actor("rotate-token"):
        configuration_services.update_value(
            value=value, data={"value": "tok-NEW-9f3k"}, expected_version=value.version
        )
    pages = {
        "change log": "/admin/changes/?model=configuration.configurationvalue",
        "history": f"/admin/configuration/configuration/{secret.pk}/history/",
        "value": f"/admin/configuration/configurationvalue/{value.pk}/change/",
        "values list": "/admin/configuration/configurationvalue/",
        "institution": f"/admin/institutions/{estate['bank'].code}/",
        "home": "/admin/",
    }
    for name, url in pages.items():
        response = auditor.get(url)
        assert response.status_code == 200, (name, response.status_code)
        page = text_of(response)
        assert "tok-NEW-9f3k" not in page, name
        assert "tok-Zq81xW" not in page, name
    log = text_of(auditor.get(pages["change log"]))
    assert "system:rotate-token" in log  # that it changed, and who changed it
    assert "gateway.token" in log
    assert "********" in text_of(auditor.get(pages["value"]))
    history = text_of(auditor.get(pages["history"]))
    assert "system:rotate-token" in history
    # Granted explicitly, to one person, the same auditor sees the value in clear.
    user = django_user_for(auditor)
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="configuration", codename="view_sensitive_value"
        )
    )
    assert "tok-NEW-9f3k" in text_of(auditor.get(pages["value"]))


def django_user_for(client: Client):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(pk=client.session["_auth_user_id"])


# -- the institution page ------------------------------------------------------------------


def test_institution_page__whole(estate, role_client, make_key):
    make_key("bank-system", institution=estate["bank"])
    page = text_of(role_client("Auditor").get("/admin/institutions/DEUTDEFF/"))
    config = page.split('id="effective-configuration"')[1].split("</section>")[0]
    assert re.search(r'data-key="payments.limit".*?500.*?global', config, re.S)
    flags = page.split('id="flags"')[1].split("</section>")[0]
    assert re.search(r'data-flag="instant-payments".*?on.*?TARGETING_MATCH', flags, re.S)
    windows = page.split('id="windows"')[1].split("</section>")[0]
    assert re.search(r'data-window="SCT-INST".*?open', windows, re.S)
    assert "bank-system" in page.split('id="api-keys"')[1]
    assert "Staff outing" in page.split('id="recent-changes"')[1]


def test_institution_page__evaluate_at_a_later_time__scheduled_value_applies(estate, role_client):
    later = (estate["now"] + timedelta(days=4)).astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    page = text_of(
        role_client("Operations editor").get("/admin/institutions/DEUTDEFF/", {"at": later})
    )
    config = page.split('id="effective-configuration"')[1].split("</section>")[0]
    assert re.search(r'data-key="payments.limit".*?900.*?institution', config, re.S)
    assert re.search(r'data-key="gateway.token".*?\*{8}', config, re.S)  # masked for editors


def test_institution_page__bad_time__message_not_error(estate, role_client):
    response = role_client("Operations editor").get("/admin/institutions/DEUTDEFF/", {"at": "soon"})
    assert response.status_code == 200
    assert "is not a date and time" in text_of(response)


def test_institution_page__unknown_code__404(estate, role_client):
    assert role_client("Auditor").get("/admin/institutions/NOPENOPE/").status_code == 404


def test_institution_list_and_change_page__link_the_overview(estate, superuser, client):
    client.force_login(superuser)
    bank = estate["bank"]
    assert "/admin/institutions/DEUTDEFF/" in text_of(
        client.get(f"/admin/configuration/institution/{bank.pk}/change/")
    )
    assert "/admin/institutions/DEUTDEFF/" in text_of(
        client.get("/admin/configuration/institution/")
    )


# -- history and the change log ------------------------------------------------------------


def test_history__window__children_included_codes_not_ids(estate, superuser, client, writer):
    window = estate["window"]
    assert (
        writer.patch("/api/v1/windows/SCT-INST/", {"name": "SEPA Inst"}, format="json").status_code
        == 200
    )
    client.force_login(superuser)
    page = text_of(client.get(f"/admin/windows/processingwindow/{window.pk}/history/"))
    table = page.split('id="history-table"')[1]
    assert "api-key:writer" in table
    assert "SEPA instant" in table
    assert "SEPA Inst" in table
    assert "Staff outing" in table  # the override, a child
    assert "SCT-INST rule 1" in table  # the weekly rule, a child
    assert "expected_version" not in page
    assert ".None" not in table
    assert "TARGET2" in table  # the calendar by its code, not its id
    # auditlog's page shows the same history
    assert "Staff outing" in text_of(
        client.get(f"/admin/windows/processingwindow/{window.pk}/auditlog/")
    )


def test_history__institution__values_windows_and_keys(estate, superuser, client):
    client.force_login(superuser)
    page = text_of(client.get(f"/admin/configuration/institution/{estate['bank'].pk}/history/"))
    assert "payments.limit [DEUTDEFF]" in page
    assert "SCT-INST" in page


def test_change_log__filters(estate, superuser, client, writer):
    writer.patch("/api/v1/calendars/TARGET2/", {"name": "TARGET2 RTGS"}, format="json")
    client.force_login(superuser)

    def rows(**params):
        page = text_of(client.get("/admin/changes/", params))
        return page.split('id="change-log-table"')[1].split("</table>")[0]

    everything = rows()
    assert "api-key:writer" in everything
    assert "system:seed" in everything
    by_actor = rows(actor="api-key:writer")
    assert "TARGET2 RTGS" in by_actor
    assert "system:seed" not in by_actor
    by_model = rows(model="windows.windowoverride")
    assert "Staff outing" in by_model
    assert "payments.limit" not in by_model
    by_bank = rows(institution="DEUTDEFF")
    assert "SCT-INST" in by_bank
    assert "payments.limit [DEUTDEFF]" in by_bank
    assert "TARGET2 RTGS" not in by_bank
    tomorrow = (timezone.now() + timedelta(days=2)).date().isoformat()
    assert "No changes." in rows(since=tomorrow)
    assert "created" in rows(action="created").lower()


def test_change_log__auditor_may__api_key_admin_may_not_see_other_changes(estate, role_client):
    assert role_client("Auditor").get("/admin/changes/").status_code == 200
    assert role_client("Operations editor", "ed2").get("/admin/changes/").status_code == 200
    no_audit = role_client("API-key administrator")
    Group.objects.get(name="API-key administrator").permissions.remove(
        *Group.objects.get(name="API-key administrator").permissions.filter(
            codename="view_auditentry"
        )
    )
    assert no_audit.get("/admin/changes/").status_code == 403


def test_static_files__served_by_the_application_itself(client):
    """gunicorn serves nothing but the application: the console's styles and scripts (and the
    API documentation's) come from its static route, from the apps' static folders only."""
    for path in (
        "/static/cbpconfig/console/console.css",
        "/static/cbpconfig/console/console.js",
        "/static/admin/css/base.css",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "max-age" in response["Cache-Control"]
    assert client.get("/static/../cbpconfig/settings.py").status_code in (400, 404)
    assert client.get("/static/cbpconfig/console/nothing.js").status_code == 404


def test_institution_page__local_time_in_its_own_zone(estate, role_client):
    page = text_of(
        role_client("Auditor").get("/admin/institutions/DEUTDEFF/", {"at": "2026-07-01T10:00Z"})
    )
    assert "2026-07-01 10:00 UTC" in page
    assert "2026-07-01 12:00 CEST local" in page
    assert 'value="2026-07-01T12:00"' in page
