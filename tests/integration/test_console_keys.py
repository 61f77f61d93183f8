"""API keys in the console (issue 13, item 6): issued and revoked from the console, shown once
and working, their scope fixed at issue, no secret or hash in any URL."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from cbpconfig.api.authentication import forget_keys
from cbpconfig.models import APIKey, AuditEntry

pytestmark = pytest.mark.django_db


ADD = "/admin/cbpconfig/apikey/add/"


def issue(client, **data) -> tuple[object, str]:
    form = {"name": "ops-system", "scope": "platform-read", "institution": "", "expiry_date": ""}
    form.update(data)
    response = client.post(ADD, form)
    page = response.content.decode()
    match = re.search(r'id="issued-key"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*id="issued-key"', page
    )
    return response, match.group(1) if match else ""


def api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_issue__platform_key__shown_once_and_works(role_client, estate):
    keys_admin = role_client("API-key administrator")
    response, raw = issue(keys_admin, name="reporting")
    assert response.status_code == 200
    assert raw
    assert "." in raw
    assert "no-store" in response["Cache-Control"]
    assert api(raw).get("/api/v1/calendars/").status_code == 200
    assert api(raw).post("/api/v1/calendars/", {}, format="json").status_code == 403  # read-only
    key = APIKey.objects.get(name="reporting")
    # Shown once: the key's own page, the list and the audit never show it again.
    for url in ("/admin/cbpconfig/apikey/", f"/admin/cbpconfig/apikey/key/{key.prefix}/"):
        page = keys_admin.get(url).content.decode()
        assert raw not in page, url
        assert key.hashed_key not in page, url
    entry = AuditEntry.objects.get(content_type__model="apikey", action=AuditEntry.Action.CREATE)
    assert entry.actor_display == "api-key-admin"
    assert raw not in str(entry.changes)
    assert key.hashed_key not in str(entry.changes)


def test_issue__write_key_writes__institution_key_reads_its_own(role_client, estate):
    keys_admin = role_client("API-key administrator")
    _, writer = issue(keys_admin, name="deployer", scope="platform-write")
    created = api(writer).post(
        "/api/v1/calendars/", {"code": "NEWCAL", "name": "New"}, format="json"
    )
    assert created.status_code == 201, created.content
    _, bank_key = issue(
        keys_admin, name="bank-app", scope="institution", institution=str(estate["bank"].pk)
    )
    assert api(bank_key).get("/api/v1/institutions/DEUTDEFF/").status_code == 200
    assert api(bank_key).post("/api/v1/calendars/", {}, format="json").status_code == 403
    assert APIKey.objects.get(name="bank-app").institution == estate["bank"]


def test_issue__institution_scope_without_institution__refused_with_message(role_client):
    response, raw = issue(role_client("API-key administrator"), scope="institution")
    assert raw == ""
    assert "Choose the institution" in response.content.decode()
    assert not APIKey.objects.exists()


def test_scope__cannot_be_changed_after_issue(role_client, estate, make_key):
    make_key("fixed", institution=estate["bank"])
    key = APIKey.objects.get(name="fixed")
    client = role_client("API-key administrator")
    # No change form at all (by prefix or by primary key): nothing to switch to "can write".
    assert client.get(f"/admin/cbpconfig/apikey/{key.pk}/change/").status_code == 404
    assert (
        client.post(
            f"/admin/cbpconfig/apikey/{key.pk}/change/", {"can_write": "on", "institution": ""}
        ).status_code
        == 404
    )
    page = client.get(f"/admin/cbpconfig/apikey/key/{key.prefix}/").content.decode()
    assert "fixed when it was issued" in page
    assert 'name="can_write"' not in page
    assert 'name="institution"' not in page
    key.refresh_from_db()
    assert key.institution == estate["bank"]
    assert not key.can_write


def test_urls__never_carry_the_hash(role_client, estate, make_key):
    make_key("one")
    key = APIKey.objects.get(name="one")
    client = role_client("API-key administrator")
    pages = [
        client.get("/admin/cbpconfig/apikey/").content.decode(),
        client.get(f"/admin/cbpconfig/apikey/key/{key.prefix}/").content.decode(),
        role_client("Auditor").get("/admin/changes/").content.decode(),
    ]
    for page in pages:
        for href in re.findall(r'(?:href|action)="([^"]+)"', page):
            assert key.hashed_key not in href, href
            assert str(key.pk) not in href, href
    assert f'href="/admin/cbpconfig/apikey/key/{key.prefix}/"' in pages[0]


def test_revoke__key_refused_from_then_on(role_client, estate, make_key):
    raw = make_key("temp", write=False)
    assert api(raw).get("/api/v1/calendars/").status_code == 200
    key = APIKey.objects.get(name="temp")
    client = role_client("API-key administrator")
    assert client.get(f"/admin/cbpconfig/apikey/key/{key.prefix}/revoke/").status_code == 405
    response = client.post(f"/admin/cbpconfig/apikey/key/{key.prefix}/revoke/")
    assert response.status_code == 302
    forget_keys()  # as another process would after CBP_API_KEY_CACHE_SECONDS
    assert api(raw).get("/api/v1/calendars/").status_code == 401
    page = client.get(f"/admin/cbpconfig/apikey/key/{key.prefix}/").content.decode()
    assert 'id="key-status">revoked' in page
    assert "Revoke this key" not in page
    assert AuditEntry.objects.filter(
        content_type__model="apikey", action=AuditEntry.Action.UPDATE
    ).exists()


def test_roles__auditor_sees_keys_cannot_issue_or_revoke(role_client, estate, make_key):
    make_key("seen")
    key = APIKey.objects.get(name="seen")
    auditor = role_client("Auditor")
    assert auditor.get("/admin/cbpconfig/apikey/").status_code == 200
    assert auditor.get(f"/admin/cbpconfig/apikey/key/{key.prefix}/").status_code == 200
    assert (
        "Revoke this key"
        not in auditor.get(f"/admin/cbpconfig/apikey/key/{key.prefix}/").content.decode()
    )
    assert auditor.get(ADD).status_code == 403
    assert auditor.post(f"/admin/cbpconfig/apikey/key/{key.prefix}/revoke/").status_code == 403
    editor = role_client("Operations editor")
    assert editor.get(ADD).status_code == 403


def test_stock_api_key_admin__gone(superuser, client):
    client.force_login(superuser)
    assert client.get("/admin/rest_framework_api_key/apikey/").status_code == 404
    assert client.get("/admin/rest_framework_api_key/apikey/add/").status_code == 404
