"""The lean middleware path (cbpconfig/lean.py): API-key requests to /api/ and /ofrep/ skip the
console's middleware, and lose nothing the contract promises — request id, ETag and 304,
throttling, scope, the audit of writes, security headers. Requests are sent through the real
WSGI application (the dispatcher gunicorn serves), not the test client's handler."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from cbpconfig.lean import Dispatcher, LeanHandler, is_lean
from cbpconfig.models import AuditEntry
from configuration import services
from configuration.models import Institution
from tests.support.wsgi import wsgi_call

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def app():
    from cbpconfig.lean import application

    return application()


call = wsgi_call


def header(headers, name):
    return [v for k, v in headers if k.lower() == name.lower()]


def _bank():
    return services.create_institution(
        data={"code": "DEUTDEFF", "name": "Deutsche", "country": "DE", "timezone": "Europe/Berlin"}
    )


def test_dispatch__api_key_to_api_or_ofrep__lean_else_full():
    assert is_lean({"PATH_INFO": "/api/v1/institutions/", "HTTP_AUTHORIZATION": "Api-Key x"})
    assert is_lean({"PATH_INFO": "/ofrep/v1/evaluate/flags", "HTTP_AUTHORIZATION": "Api-Key x"})
    assert not is_lean({"PATH_INFO": "/api/v1/institutions/"})  # a session: full path
    assert not is_lean({"PATH_INFO": "/admin/", "HTTP_AUTHORIZATION": "Api-Key x"})
    assert not is_lean({"PATH_INFO": "/api/v1/", "HTTP_AUTHORIZATION": "Basic eA=="})


def test_lean_middleware__console_only_middleware_left_out():
    lean = set(settings.CBP_LEAN_MIDDLEWARE)
    assert "django.contrib.sessions.middleware.SessionMiddleware" not in lean
    assert "django.middleware.csrf.CsrfViewMiddleware" not in lean
    kept = [m for m in settings.MIDDLEWARE if m in lean]
    assert kept == settings.CBP_LEAN_MIDDLEWARE  # same order
    for needed in (
        "cbpconfig.logging.RequestIdMiddleware",
        "cbpconfig.middleware.SecurityPolicyHeadersMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "cbpconfig.audit.AuditContextMiddleware",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ):
        assert needed in lean


def test_lean_read__request_id_etag_304_policy_headers_no_cookie(app, make_key):
    assert isinstance(app, Dispatcher)
    assert isinstance(app.lean, LeanHandler)
    _bank()
    key = make_key("reader")
    status, headers, body = call(app, "GET", "/api/v1/institutions/DEUTDEFF/", key)
    assert status == 200, body
    assert json.loads(body)["code"] == "DEUTDEFF"
    assert header(headers, "X-Request-ID")
    assert header(headers, "Content-Security-Policy")
    assert not header(headers, "Set-Cookie")
    (etag,) = header(headers, "ETag")
    status, _, body = call(app, "GET", "/api/v1/institutions/DEUTDEFF/", key, if_none_match=etag)
    assert status == 304
    assert body == b""


def test_lean_write__audited_with_the_key_as_actor(app, make_key):
    key = make_key("ops", write=True)
    status, _, body = call(
        app,
        "POST",
        "/api/v1/institutions/",
        key,
        {"code": "COBADEFF", "name": "Commerzbank", "country": "DE", "timezone": "Europe/Berlin"},
    )
    assert status == 201, body
    entry = AuditEntry.objects.get(object_pk=str(Institution.objects.get(code="COBADEFF").pk))
    assert entry.actor_name == "api-key:ops"


def test_lean_scope__institution_key_sees_no_other_institution(app, make_key):
    bank = _bank()
    services.create_institution(
        data={"code": "BNPAFRPP", "name": "BNP", "country": "FR", "timezone": "Europe/Paris"}
    )
    key = make_key("bank", institution=bank)
    assert call(app, "GET", "/api/v1/institutions/DEUTDEFF/", key)[0] == 200
    assert call(app, "GET", "/api/v1/institutions/BNPAFRPP/", key)[0] == 404


def test_lean_throttle__over_the_rate__429(app, make_key, settings):
    settings.CBP_THROTTLE_RATE = "2/minute"
    key = make_key("busy")
    codes = [call(app, "GET", "/api/v1/institutions/", key)[0] for _ in range(3)]
    assert codes == [200, 200, 429]


def test_bad_key_on_lean_path__401_json(app):
    status, _, body = call(app, "GET", "/api/v1/institutions/", "not-a-key")
    assert status == 401
    assert "detail" in json.loads(body)


def test_full_path__console_keeps_its_session_and_csrf(app):
    status, headers, _ = call(app, "GET", "/admin/login/")
    assert status == 200
    assert any("csrftoken" in c for c in header(headers, "Set-Cookie"))
