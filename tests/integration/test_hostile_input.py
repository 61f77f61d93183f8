"""Hostile input: no 500, no stall, JSON errors on every API path (issue 10).

- One JSON parser with size and depth limits for every body, OFREP's included.
- JSON Schema regular expressions matched by RE2 (linear time); patterns RE2 cannot run are
  refused when the schema is saved.
- Unknown paths, oversized bodies, server errors and CSRF refusals under /api/ and /ofrep/
  answer JSON in each family's shape.
- Host artefacts of the zoneinfo directory ("localtime", "posixrules", "Factory") are not time
  zones.
- load_demo refuses to run outside development.
"""

from __future__ import annotations

import io
import json
import os
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpResponse
from django.test import Client
from django.urls import path

from cbpconfig.api.parsers import MAX_DEPTH, BodyParseError, BodyTooLarge, parse_json_body
from cbpconfig.urls import handler400, handler403, handler404, handler500  # noqa: F401
from cbpconfig.urls import urlpatterns as project_urlpatterns
from configuration import resolution, services
from configuration.models import Configuration, ConfigurationValue, Institution
from flags import services as flag_services
from tests.factories import run_manage

BULK = "/ofrep/v1/evaluate/flags"
SINGLE = "/ofrep/v1/evaluate/flags/on-for-bank"
GOOD_OFREP = {"context": {"targetingKey": "DEUTDEFF"}}
BRACKETS_6KB = "[" * 3072 + "]" * 3072


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def flag(bank):
    return flag_services.create_flag(data={"name": "on-for-bank", "institutions": [bank]})


@pytest.fixture
def bank_key_client(make_key, client_for, bank):
    return client_for(make_key("bank", institution=bank), scheme="Bearer")


# -- 1. one JSON parser, with depth and size limits ---------------------------------------------


@pytest.mark.parametrize("url", [BULK, SINGLE])
@pytest.mark.parametrize("who", ["platform", "institution"])
def test_ofrep__6kb_of_nested_brackets__400_parse_error_for_any_key(
    reader, bank_key_client, flag, url, who
):
    client = reader if who == "platform" else bank_key_client
    response = client.generic("POST", url, BRACKETS_6KB, content_type="application/json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["errorCode"] == "PARSE_ERROR"
    assert "nested" in body["errorDetails"]
    # The good case, same client and path.
    good = client.post(url, GOOD_OFREP, format="json")
    assert good.status_code == 200, good.content


def test_ofrep__nesting_just_over_the_limit__parse_error_and_at_the_limit_parsed(reader, flag):
    deep = '{"context": {"targetingKey": "DEUTDEFF", "x": ' + nested(MAX_DEPTH - 1) + "}}"
    response = reader.generic("POST", SINGLE, deep, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "PARSE_ERROR"
    ok = '{"context": {"targetingKey": "DEUTDEFF", "x": ' + nested(MAX_DEPTH - 2) + "}}"
    response = reader.generic("POST", SINGLE, ok, content_type="application/json")
    assert response.status_code == 200, response.content


def test_ofrep__body_over_the_upload_limit__400_parse_error_json(reader, flag, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    big = json.dumps({"context": {"targetingKey": "DEUTDEFF", "pad": "x" * 5000}})
    for url in (BULK, SINGLE):
        response = reader.generic("POST", url, big, content_type="application/json")
        assert response.status_code == 400
        assert response["Content-Type"] == "application/json"
        assert response.json()["errorCode"] == "PARSE_ERROR"
        assert reader.post(url, GOOD_OFREP, format="json").status_code == 200


@pytest.mark.django_db
def test_api__body_nested_too_deeply__400_detail_names_the_limit(writer):
    body = json.dumps(
        {"code": "DEUTDEFF", "name": "x", "country": "DE", "timezone": "UTC", "x": None}
    ).replace("null", nested(MAX_DEPTH))
    response = writer.generic(
        "POST", "/api/v1/institutions/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert str(MAX_DEPTH) in response.json()["detail"]
    assert Institution.objects.count() == 0


@pytest.mark.django_db
def test_api__body_over_the_upload_limit__413_json_nothing_stored(writer):
    # The real limit: Django's DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB.
    body = json.dumps(
        {
            "code": "DEUTDEFF",
            "name": "x",
            "country": "DE",
            "timezone": "UTC",
            "pad": "x" * 2_700_000,
        }
    )
    response = writer.generic(
        "POST", "/api/v1/institutions/", body, content_type="application/json"
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "too large" in response.json()["detail"]
    assert Institution.objects.count() == 0
    good = {"code": "DEUTDEFF", "name": "x", "country": "DE", "timezone": "UTC"}
    assert writer.post("/api/v1/institutions/", good, format="json").status_code == 201


@pytest.mark.django_db
def test_api__value_deeper_than_its_field_allows__400_names_the_field(writer):
    """Under the parser's limit, the field's own (smaller) limit answers, naming the field."""
    services.create_configuration(data={"key": "doc.tree", "value_type": "json"})
    url = "/api/v1/configurations/doc.tree/values/"
    response = writer.post(url, {"value": json.loads(nested(100))}, format="json")
    assert response.status_code == 400
    assert "value" in response.json()
    response = writer.post(url, {"value": json.loads(nested(60))}, format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"[NaN]", BodyParseError),
        (b'{"a": Infinity}', BodyParseError),
        (b"\xff\xfe{}", BodyParseError),
        (nested(MAX_DEPTH + 1).encode(), BodyParseError),
        (nested(5000).encode(), BodyParseError),
    ],
)
def test_parse_json_body__refused(raw, error):
    with pytest.raises(error):
        parse_json_body(raw)


def test_parse_json_body__limits(settings):
    assert parse_json_body(nested(MAX_DEPTH).encode()) == json.loads(nested(MAX_DEPTH))
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    with pytest.raises(BodyTooLarge):
        parse_json_body(b'"0123456789"')
    assert parse_json_body(b'"01234567"') == "01234567"


# -- 2. JSON Schema patterns without catastrophic backtracking ----------------------------------

EVIL = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"


@pytest.mark.django_db
@pytest.mark.timeout(20)
def test_schema_pattern__catastrophic_backtracking_input__400_fast(writer):
    services.create_configuration(
        data={"key": "id.code", "value_type": "string", "schema": {"pattern": "^(a+)+$"}}
    )
    started = time.monotonic()
    response = writer.post("/api/v1/configurations/id.code/values/", {"value": EVIL}, format="json")
    took = time.monotonic() - started
    assert response.status_code == 400, response.content
    assert "value" in response.json()
    assert took < 1.0, f"{took:.2f} s"
    good = writer.post("/api/v1/configurations/id.code/values/", {"value": "aaaa"}, format="json")
    assert good.status_code == 201, good.content
    assert ConfigurationValue.objects.count() == 1


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("schema", "bad", "good"),
    [
        (
            {"type": "object", "patternProperties": {"^(a+)+$": {}}, "additionalProperties": False},
            {EVIL: 1},
            {"aaa": 1},
        ),
        (
            {
                "type": "object",
                "patternProperties": {"^(a+)+$": {}},
                "unevaluatedProperties": False,
            },
            {EVIL: 1},
            {"aaa": 1},
        ),
        ({"type": "object", "propertyNames": {"pattern": "^(a+)+$"}}, {EVIL: 1}, {"aaa": 1}),
        ({"type": "string", "format": "regex"}, "(?=lookahead)", "^[a-z]+$"),
    ],
)
def test_schema_regex_keywords__matched_by_re2(schema, bad, good):
    started = time.monotonic()
    with pytest.raises(resolution.ConfigError):
        resolution.validate_value("json", schema, bad)
    assert time.monotonic() - started < 1.0
    assert resolution.validate_value("json", schema, good) == good


@pytest.mark.django_db
@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^(?=a)"},
        {"type": "string", "pattern": "(a)\\1"},
        {"type": "string", "pattern": "a{2000}"},
        {"type": "object", "patternProperties": {"(?<!x)y": {}}},
    ],
)
def test_schema_save__pattern_re2_cannot_run__400_names_schema(writer, schema):
    body = {"key": "id.code", "value_type": "json", "schema": schema}
    response = writer.post("/api/v1/configurations/", body, format="json")
    assert response.status_code == 400, response.content
    message = " ".join(response.json()["schema"])
    assert "RE2" in message
    assert "regular expression" in message
    assert not Configuration.objects.exists()
    body["schema"] = {"type": "string", "pattern": "^[A-Z]{4}$"}
    assert writer.post("/api/v1/configurations/", body, format="json").status_code == 201


# -- 4. JSON errors on every /api/ and /ofrep/ path ---------------------------------------------


@pytest.mark.django_db
def test_unknown_api_path__404_json_detail(reader):
    response = reader.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}
    assert reader.get("/api/v1/institutions/").status_code == 200


@pytest.mark.django_db
def test_unknown_ofrep_path__404_json_ofrep_shape(reader):
    response = reader.post("/ofrep/v1/no-such-thing", GOOD_OFREP, format="json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["errorCode"] == "GENERAL"
    assert response.json()["errorDetails"]


@pytest.mark.django_db
def test_unknown_page_outside_the_api__html_as_before(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# A URLconf with the project's handlers and a few views that fail in ways the real API must
# never, to show what Django's handlers answer under each prefix.
def _boom(request):
    raise RuntimeError("boom")


def _boom_flag(request, key):
    raise RuntimeError("boom")


def _forbidden(request):
    raise PermissionDenied


def _form(request):
    request.POST  # noqa: B018 - reads the body as a form, as a plain Django view would
    return HttpResponse("ok")


urlpatterns = [
    *(path(f"{p}boom", _boom) for p in ("api/v1/", "ofrep/v1/", "")),
    *(path(f"{p}forbidden", _forbidden) for p in ("api/v1/", "ofrep/v1/", "")),
    *(path(f"{p}form", _form) for p in ("api/v1/", "ofrep/v1/", "")),
    path("ofrep/v1/evaluate/flags/<str:key>", _boom_flag),  # shadows the real one here
    *project_urlpatterns,
]


def _assert_html(response, status):
    """Outside /api/ and /ofrep/ an error keeps Django's HTML page."""
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_server_error__json_under_api_and_ofrep_html_elsewhere():
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/boom")
    assert response.status_code == 500
    assert set(response.json()) == {"detail"}
    response = client.get("/ofrep/v1/boom")
    assert response.status_code == 500
    assert response.json()["errorCode"] == "GENERAL"
    response = client.post("/ofrep/v1/evaluate/flags/my-flag")
    assert response.status_code == 500
    assert response.json()["key"] == "my-flag"
    _assert_html(client.get("/boom"), 500)


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_permission_denied__json_under_api_and_ofrep_html_elsewhere():
    client = Client()
    assert client.get("/api/v1/forbidden").json() == {
        "detail": "You do not have permission to perform this action."
    }
    assert client.get("/ofrep/v1/forbidden").json()["errorCode"] == "GENERAL"
    _assert_html(client.get("/forbidden"), 403)


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_csrf_failure__json_under_api_and_ofrep_html_elsewhere():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/v1/form", {"a": "b"})
    assert response.status_code == 403
    assert response.json()["detail"].startswith("CSRF Failed")
    response = client.post("/ofrep/v1/form", {"a": "b"})
    assert response.status_code == 403
    assert response.json()["errorCode"] == "GENERAL"
    _assert_html(client.post("/form", {"a": "b"}), 403)
    # The good case: with the token the same POST goes through.
    client.get("/admin/login/")
    token = client.cookies["csrftoken"].value
    assert client.post("/api/v1/form", {"csrfmiddlewaretoken": token}).status_code == 200


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_body_over_limit_read_before_any_api_view__413_json(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client = Client()
    big = {"a": "x" * 2048}
    response = client.post("/api/v1/form", big)
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is too large."}
    response = client.post("/ofrep/v1/form", big)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "PARSE_ERROR"
    response = client.post("/form", big)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert client.post("/api/v1/form", {"a": "small"}).status_code == 200


# -- 6. time zones: IANA names only -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "posix/Europe/Berlin"])
def test_timezone__host_artefacts__400_names_timezone(writer, zone):
    body = {"code": "DEUTDEFF", "name": "x", "country": "DE", "timezone": zone}
    response = writer.post("/api/v1/institutions/", body, format="json")
    assert response.status_code == 400, response.content
    assert "timezone" in response.json()
    response = writer.post(
        "/api/v1/calendars/", {"code": "CAL1", "name": "c", "timezone": zone}, format="json"
    )
    assert response.status_code == 400
    assert "timezone" in response.json()
    assert not Institution.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "UTC", "Etc/GMT+5"])
def test_timezone__iana_names__accepted(writer, zone):
    body = {"code": "DEUTDEFF", "name": "x", "country": "DE", "timezone": zone}
    assert writer.post("/api/v1/institutions/", body, format="json").status_code == 201


# -- 7. load_demo is for development only --------------------------------------------------------


@pytest.mark.django_db
def test_load_demo__production__refused_nothing_created(settings):
    settings.CBP_ENVIRONMENT = "production"
    with pytest.raises(CommandError, match="development only"):
        call_command("load_demo", stdout=io.StringIO())
    assert not get_user_model().objects.exists()
    assert not Institution.objects.exists()


@pytest.mark.django_db
def test_load_demo__development__creates_demo_data_and_admin(settings):
    settings.CBP_ENVIRONMENT = "development"
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert get_user_model().objects.filter(username="admin", is_superuser=True).exists()
    assert Institution.objects.filter(code="DEUTDEFF").exists()


def test_load_demo__staging_process__exit_1_one_line():
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("CBP_")
    }
    env.update(
        {
            "CBP_ENVIRONMENT": "staging",
            "SECRET_KEY": "s" * 30 + "ecret-key-for-this-test-only-0123456789",
            "ALLOWED_HOSTS": "cbp.example",
            # Nothing listens there: the command must refuse before touching either.
            "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nothing",
            "REDIS_URL": "redis://127.0.0.1:1/0",
        }
    )
    result = run_manage("load_demo", env=env, timeout=120)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "development only" in lines[0]
