"""Browser security headers on every kind of response, and X-Forwarded-Proto believed only
from the trusted proxies (issue 10)."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from cbpconfig.middleware import TrustedProxyHeadersMiddleware
from configuration.services import create_institution
from tests.e2e.conftest import chrome  # noqa: F401 - the fixture, for the browser test

pytestmark = pytest.mark.django_db

CSP = "Content-Security-Policy"
PERMISSIONS = "Permissions-Policy"


@pytest.fixture
def bank(db):
    return create_institution(
        data={"code": "DEUTDEFF", "name": "Deutsche", "country": "DE", "timezone": "Europe/Berlin"}
    )


def _assert_policies(response, what):
    assert CSP in response, what
    assert PERMISSIONS in response, what
    csp = response[CSP]
    assert "default-src 'self'" in csp, what
    assert "frame-ancestors 'none'" in csp, what
    assert "script-src 'self'" in csp, what
    assert "unsafe-eval" not in csp, what
    assert "camera=()" in response[PERMISSIONS], what


def test_every_kind_of_response__carries_csp_and_permissions_policy(superuser, make_key, bank):
    staff = Client()
    staff.force_login(superuser)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key('reader')}")
    anon = Client()
    cases = [
        ("operations JSON", anon.get("/live"), 200),
        ("readiness", anon.get("/ready"), 200),
        ("metrics", api.get("/metrics"), 200),
        ("API JSON", api.get("/api/v1/institutions/"), 200),
        ("API 404", api.get("/api/v1/nothing/"), 404),
        ("API 401", anon.get("/api/v1/institutions/"), 401),
        (
            "OFREP",
            api.post(
                "/ofrep/v1/evaluate/flags", {"context": {"targetingKey": "DEUTDEFF"}}, format="json"
            ),
            200,
        ),
        ("schema", anon.get("/api/schema/"), 200),
        ("Swagger UI page", anon.get("/api/docs/"), 200),
        ("Swagger UI start-up script", anon.get("/api/docs/?script="), 200),
        ("admin login", anon.get("/admin/login/"), 200),
        ("admin index", staff.get("/admin/"), 200),
        ("admin change list", staff.get("/admin/configuration/institution/"), 200),
        ("browsable API", staff.get("/api/v1/institutions/", HTTP_ACCEPT="text/html"), 200),
        ("HTML 404", anon.get("/no-such-page"), 404),
        ("HEAD", anon.head("/live"), 200),
    ]
    for what, response, status in cases:
        assert response.status_code == status, (what, response.status_code)
        _assert_policies(response, what)


def test_swagger_ui__no_inline_script(client):
    html = client.get("/api/docs/").content.decode()
    # Every <script> has a src: the start-up script is served by ?script (CSP: script-src 'self').
    assert html.count("<script") == html.count("<script src=")
    assert "/api/docs/?script" in html


def _is_secure_behind(remote_addr: str, proto: str | None, trusted: list[str], settings) -> bool:
    settings.CBP_TRUSTED_PROXIES = trusted
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    seen = {}

    def view(request):
        seen["secure"] = request.is_secure()
        from django.http import HttpResponse

        return HttpResponse()

    extra = {"REMOTE_ADDR": remote_addr}
    if proto is not None:
        extra["HTTP_X_FORWARDED_PROTO"] = proto
    request = RequestFactory().get("/", **extra)
    TrustedProxyHeadersMiddleware(view)(request)
    return seen["secure"]


def test_forwarded_proto__untrusted_peer__not_believed(settings):
    assert not _is_secure_behind("203.0.113.7", "https", ["10.0.0.0/8"], settings)
    assert not _is_secure_behind("127.0.0.1", "https", [], settings)


def test_forwarded_proto__trusted_proxy__believed(settings):
    assert _is_secure_behind("10.1.2.3", "https", ["10.0.0.0/8"], settings)
    assert not _is_secure_behind("10.1.2.3", "http", ["10.0.0.0/8"], settings)
    assert _is_secure_behind("192.0.2.10", "https", ["192.0.2.10"], settings)


def test_forwarded_proto__hsts_and_ssl_redirect_follow_only_trusted_proxies(settings, reader):
    """Through the whole middleware stack, as staging and production configure it."""
    settings.CBP_TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_SSL_REDIRECT = True
    # A client talking to us directly claims https: no HSTS, redirected to https.
    direct = reader.get(
        "/api/v1/institutions/", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_PROTO="https"
    )
    assert direct.status_code == 301
    assert direct["Location"].startswith("https://")
    assert "Strict-Transport-Security" not in direct
    # The same request through a trusted proxy is served, with HSTS.
    proxied = reader.get(
        "/api/v1/institutions/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_PROTO="https"
    )
    assert proxied.status_code == 200
    assert proxied["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_browser__admin_docs_and_browsable_api_work_under_the_policy(
    chrome,  # noqa: F811 - the imported fixture
    live_server,
    django_user_model,
):
    """Headless Chromium reports no Content-Security-Policy violation on the admin, the Swagger
    UI and the browsable API, and each of them renders."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    django_user_model.objects.create_superuser("ops", "ops@example.com", "browser-pass-1!")
    # Installed before any page script runs, outside the page's CSP.
    chrome.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        },
    )

    def violations():
        return chrome.execute_script("return window.__csp || []")

    wait = WebDriverWait(chrome, 20)
    chrome.get(f"{live_server.url}/admin/login/?next=/admin/")
    for field, value in (("username", "ops"), ("password", "browser-pass-1!")):
        chrome.find_element(By.NAME, field).send_keys(value)
    chrome.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "site-name")))
    assert violations() == []

    chrome.get(f"{live_server.url}/admin/configuration/institution/add/")
    wait.until(ec.presence_of_element_located((By.NAME, "code")))
    assert violations() == []

    chrome.get(f"{live_server.url}/api/docs/")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    assert violations() == []

    chrome.get(f"{live_server.url}/api/v1/institutions/")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".response-info")))
    # The browsable API's own scripts ran (jQuery + its form helpers).
    assert chrome.execute_script("return typeof window.jQuery") == "function"
    assert violations() == []
