"""What `make proof` (tests/proof) found, each reproduced here as a regular test.

- Hostile input: lone UTF-16 surrogates and numbers that overflow to infinity are refused by
  the one JSON parser (400 on the API, OFREP PARSE_ERROR); a number is no string (a holiday
  `name` of 123 is a 400); free text is bounded (TEXT_MAX_LENGTH). An OFREP context is read,
  never stored: a U+0000 in one of its attributes is evaluated, not a PARSE_ERROR. A text
  field's `maxLength` holds for the value as sent, before white space is trimmed.
- Authorization: OPTIONS /api/docs/ and a write by a staff user without permissions to a view
  that has no such method are never a 500.
- Schema truth: boolean and choice filters refuse an empty value; the iCalendar feed answers
  its errors in JSON and refuses empty parameters; holiday filters refuse empty parameters.
Each refusal is shown next to the good request succeeding.
"""

from __future__ import annotations

from datetime import date

import pytest
from rest_framework.test import APIClient

from calendars import services as calendar_services
from cbpconfig.api.serializers import TEXT_MAX_LENGTH
from configuration import services
from tests.factories import make_calendar, make_institution

pytestmark = pytest.mark.django_db

CONFIGURATIONS = "/api/v1/configurations/"
CALENDARS = "/api/v1/calendars/"
FLAGS = "/api/v1/flags/"


@pytest.fixture
def target2(db):
    cal = make_calendar("TARGET2", timezone="Europe/Berlin")
    calendar_services.create_holiday(
        calendar=cal, data={"date": date(2026, 12, 25), "name": "Christmas Day"}
    )
    return cal


@pytest.fixture
def bank(target2):
    return make_institution("DEUTDEFF")


def post_raw(client, url: str, body: str):
    return client.generic("POST", url, body.encode(), content_type="application/json")


# ------------------------------------------------------------------ hostile input


@pytest.mark.parametrize("field", ["key", "description"])
def test_lone_surrogate__400_naming_it__paired_surrogates_fine(writer, field):
    good = {"key": "a.b", "value_type": "string", "description": "x"}
    body = '{"key": "a.b", "value_type": "string", "description": "x"}'
    hostile = body.replace('"a.b"' if field == "key" else '"x"', '"\\ud800"')
    response = post_raw(writer, CONFIGURATIONS, hostile)
    assert response.status_code == 400, response.content
    assert "surrogate" in response.content.decode()
    # A valid pair (an emoji written as \ud83d\ude00) is text.
    response = post_raw(writer, CONFIGURATIONS, body.replace('"x"', '"\\ud83d\\ude00"'))
    assert response.status_code == 201, response.content
    assert response.json()["description"] == "\U0001f600"
    assert response.json()["key"] == good["key"]


def test_nul_in_json_value__400_not_a_database_error(writer):
    body = '{"key": "a.b", "value_type": "json", "default": {"x": "a\\u0000b"}}'
    response = post_raw(writer, CONFIGURATIONS, body)
    assert response.status_code == 400, response.content
    assert "U+0000" in response.content.decode()
    response = post_raw(writer, CONFIGURATIONS, body.replace("\\u0000", "\\u0001"))
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("number", ["1e400", "-1e400", "-0.5e63482"])
def test_number_overflowing_to_infinity__400__nothing_stored(writer, number):
    response = post_raw(writer, CONFIGURATIONS, f'{{"key": {number}, "value_type": "string"}}')
    assert response.status_code == 400, response.content
    assert "too large" in response.content.decode()
    response = post_raw(
        writer, CONFIGURATIONS, '{"key": "limits.max", "value_type": "json", "default": 1e300}'
    )
    assert response.status_code == 201, response.content


def test_ofrep_number_overflowing__parse_error(reader, bank):
    url = "/ofrep/v1/evaluate/flags"
    response = post_raw(reader, url, '{"context": {"targetingKey": "DEUTDEFF", "n": 1e400}}')
    assert response.status_code == 400
    assert response.json()["errorCode"] == "PARSE_ERROR"
    response = post_raw(reader, url, '{"context": {"targetingKey": "DEUTDEFF", "n": 1e300}}')
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("platform", [True, False], ids=["platform key", "institution key"])
@pytest.mark.parametrize(
    "extra", ['"a\\u0000b": 1', '"n": "a\\u0000b"', '"\\u0000": {"\\u0000": ["\\u0000"]}']
)
def test_ofrep_nul_in_context_attributes__evaluated(make_key, client_for, bank, platform, extra):
    """schemathesis (institution key): an OFREP context is read, never stored, and may carry
    any attributes (OFREP), so a U+0000 in one is no PARSE_ERROR; the API still refuses it."""
    client = client_for(make_key("k", institution=None if platform else bank))
    body = '{"context": {"targetingKey": "DEUTDEFF", ' + extra + "}}"
    for url in ("/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/nope"):
        response = post_raw(client, url, body)
        assert response.status_code in (200, 404), response.content
        assert response.json().get("errorCode") in (None, "FLAG_NOT_FOUND"), response.content


def test_ofrep_nul_in_targeting_key__invalid_context_or_403(make_key, client_for, bank):
    body = '{"context": {"targetingKey": "DEUT\\u0000DEFF"}}'
    response = post_raw(client_for(make_key("p")), "/ofrep/v1/evaluate/flags", body)
    assert response.status_code == 400, response.content
    assert response.json()["errorCode"] == "INVALID_CONTEXT"
    response = post_raw(
        client_for(make_key("i", institution=bank)), "/ofrep/v1/evaluate/flags", body
    )
    assert response.status_code == 403, response.content


@pytest.mark.parametrize("name", [123, 1.5, True, ["New Year"]])
def test_holiday_name_not_a_string__400(writer, target2, name):
    url = f"{CALENDARS}TARGET2/holidays/"
    response = writer.post(url, {"date": "2026-01-01", "name": name}, format="json")
    assert response.status_code == 400, response.content
    assert "name" in response.json()
    response = writer.post(url, {"date": "2026-01-01", "name": "New Year"}, format="json")
    assert response.status_code == 201, response.content


def test_name_longer_than_max_length_as_sent__400_even_if_trimmed_it_fits(writer, target2):
    """schemathesis (negative_data_rejection): a holiday name of "\\v" + 200 characters broke
    the documented `maxLength: 200` and was stored trimmed (201). The limit holds for the
    value as sent; trimming still applies to a name within it."""
    url = f"{CALENDARS}TARGET2/holidays/"
    response = writer.post(url, {"date": "2026-01-01", "name": "\v" + "x" * 200}, format="json")
    assert response.status_code == 400, response.content
    assert "no more than 200 characters" in response.json()["name"][0]
    response = writer.post(url, {"date": "2026-01-01", "name": "\v" + "x" * 199}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "x" * 199
    response = writer.post(url, {"date": "2026-01-02", "name": "x" * 200}, format="json")
    assert response.status_code == 201, response.content


def test_institution_name_number__400(writer, target2):
    body = {"code": "BNPAFRPP", "name": 1e10, "country": "FR", "timezone": "Europe/Paris"}
    assert writer.post("/api/v1/institutions/", body, format="json").status_code == 400
    body["name"] = "BNP Paribas"
    assert writer.post("/api/v1/institutions/", body, format="json").status_code == 201


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (CALENDARS, {"code": "XX1", "name": "x"}, "description"),
        (CONFIGURATIONS, {"key": "a.b", "value_type": "string"}, "description"),
        (FLAGS, {"name": "new-ledger"}, "note"),
    ],
)
def test_free_text_longer_than_limit__400__at_limit_201(writer, url, body, field):
    response = writer.post(url, {**body, field: "x" * (TEXT_MAX_LENGTH + 1)}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    response = writer.post(url, {**body, field: "x" * TEXT_MAX_LENGTH}, format="json")
    assert response.status_code == 201, response.content


def test_window_description_longer_than_limit__400(writer, target2):
    window = {
        "code": "SCT",
        "name": "SEPA",
        "calendar": "TARGET2",
        "payment_type": "SCT",
        "sessions": [{"weekdays": [1, 2, 3, 4, 5], "opens": "08:00", "closes": "17:00"}],
    }
    long = {**window, "description": "x" * (TEXT_MAX_LENGTH + 1)}
    assert writer.post("/api/v1/windows/", long, format="json").status_code == 400
    response = writer.post("/api/v1/windows/", window, format="json")
    assert response.status_code == 201, response.content


def test_schema_documents_text_limits(anon):
    schema = anon.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert schema["Configuration"]["properties"]["description"]["maxLength"] == TEXT_MAX_LENGTH
    assert schema["Flag"]["properties"]["note"]["maxLength"] == TEXT_MAX_LENGTH


# ------------------------------------------------------------------ authorization


def test_options_docs__200_not_500(anon):
    response = anon.options("/api/docs/")
    assert response.status_code == 200
    assert "GET" in response["Allow"]
    assert anon.get("/api/docs/").status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize(
    "path",
    [
        "TARGET2/business-days/check",
        "TARGET2/holidays.ics",
    ],
)
def test_staff_without_permissions_unsupported_method__405(staff_user, target2, method, path):
    client = APIClient()
    client.force_login(staff_user)
    response = getattr(client, method)(f"{CALENDARS}{path}")
    assert response.status_code == 405, response.content
    # A model view still asks for the model permission: 403, not 405.
    response = client.post(CALENDARS, {"code": "XX1", "name": "x"}, format="json")
    assert response.status_code == 403


# ------------------------------------------------------------------ filters and the feed


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/api/v1/institutions/", "is_active"),
        ("/api/v1/windows/", "is_active"),
        (CONFIGURATIONS, "is_sensitive"),
        (CONFIGURATIONS, "value_type"),
        (f"{CALENDARS}TARGET2/holidays/", "year"),
        (f"{CALENDARS}TARGET2/holidays/", "start"),
        (f"{CALENDARS}TARGET2/holidays/", "end"),
        (f"{CALENDARS}TARGET2/holidays.ics", "year"),
        (f"{CALENDARS}TARGET2/holidays.ics", "start"),
        (f"{CALENDARS}TARGET2/holidays.ics", "format"),
    ],
)
def test_empty_filter__400_naming_it(reader, target2, url, name):
    response = reader.get(url, {name: ""})
    assert response.status_code == 400, response.content
    assert name in response.json()
    good = {
        "is_active": "true",
        "is_sensitive": "false",
        "value_type": "string",
        "year": "2026",
        "start": "2026-01-01",
        "end": "2026-12-31",
        "format": "ics",
    }[name]
    assert reader.get(url, {name: good}).status_code == 200


def test_feed_errors_are_json_whatever_format_asked(reader, target2):
    url = f"{CALENDARS}TARGET2/holidays.ics"
    response = reader.get(url, {"format": "ics", "year": "0"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "year" in response.json()
    response = reader.get(f"{CALENDARS}NOPE/holidays.ics", {"format": "ics"})
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    response = reader.get(url, {"format": "ics", "year": "2026"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert b"Christmas Day" in response.content


def test_flags_evaluate_empty_institution__400__named_200(make_key, client_for, bank):
    client = client_for(make_key("a", institution=bank))
    response = client.get("/api/v1/flags/evaluate", {"institution": ""})
    assert response.status_code == 400, response.content
    assert "institution" in response.json()
    assert client.get("/api/v1/flags/evaluate").status_code == 200
    assert client.get("/api/v1/flags/evaluate", {"institution": "DEUTDEFF"}).status_code == 200


def test_value_effective_from_impossible_time__400_not_500(writer):
    services.create_configuration(data={"key": "limits.count", "value_type": "integer"})
    url = "/api/v1/configurations/limits.count/values/"
    bad = writer.post(url, {"value": 1, "effective_from": "2024-01-01T12:99:00Z"}, format="json")
    assert bad.status_code == 400
    assert "effective_from" in bad.json()
    good = writer.post(url, {"value": 1, "effective_from": "2024-01-01T12:59:00Z"}, format="json")
    assert good.status_code == 201


def test_boolean_fields_take_only_json_booleans(writer):
    body = {"code": "COBADEFF", "name": "Commerzbank", "country": "DE", "timezone": "UTC"}
    for loose in ("true", 1, "yes"):
        refused = writer.post("/api/v1/institutions/", {**body, "is_active": loose}, format="json")
        assert refused.status_code == 400
        assert "is_active" in refused.json()
    created = writer.post("/api/v1/institutions/", {**body, "is_active": False}, format="json")
    assert created.status_code == 201
    assert created.json()["is_active"] is False


def test_empty_calendar_reference__400_null_means_none(writer, target2):
    body = {"code": "COBADEFF", "name": "Commerzbank", "country": "DE", "timezone": "UTC"}
    refused = writer.post("/api/v1/institutions/", {**body, "calendar": ""}, format="json")
    assert refused.status_code == 400
    assert "calendar" in refused.json()
    created = writer.post("/api/v1/institutions/", {**body, "calendar": None}, format="json")
    assert created.status_code == 201
