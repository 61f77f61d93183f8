"""The schema tells the truth (issue 10, item 6).

The OpenAPI document is generated as `/api/schema/` serves it, then held against what the
API really does: every operation documents the status codes the shared plumbing can answer
(written once in cbpconfig.api.schema), a documented 304 goes with an ETag the API sends and
honours, PUT and PATCH bodies leave the immutable fields out (and the API does not require
them), request bodies that refuse unknown fields say so, and bad or empty query parameters
(`page_size`, `at`, `start`, `end`, `date`, ...) are 400s naming them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from drf_spectacular.generators import SchemaGenerator

from calendars import services as calendars
from configuration import services as configuration
from flags import services as flags
from windows import services as windows

BANK = "DEUTDEFF"
OTHER_BANK = "BNPAFRPP"
KEY = "payments.max_amount"
WEEKDAYS = {
    "label": "day",
    "weekdays": [1, 2, 3, 4, 5],
    "opens": "07:00",
    "closes": "18:00",
}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def header_names(operation) -> set[str]:
    return {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}


def query_names(operation) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


def is_ofrep(path: str) -> bool:
    return path.startswith("/ofrep/")


def request_component(schema, operation) -> dict:
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


# -- the documented codes, from the schema alone --------------------------------------------------


def test_every_operation__documents_auth_scope_negotiation_throttling_and_outage(schema):
    for path, method, operation in operations(schema):
        assert {"401", "403", "406", "429", "503"} <= set(operation["responses"]), (method, path)
        assert "Retry-After" in operation["responses"]["429"]["headers"], (method, path)


def test_operations_with_parameters_bodies_or_writes__document_400(schema):
    for path, method, operation in operations(schema):
        if query_names(operation) or "requestBody" in operation or method != "get":
            assert "400" in operation["responses"], (method, path)


def test_addressed_and_paginated_operations__document_404(schema):
    for path, method, operation in operations(schema):
        if "{" in path or "page" in query_names(operation):
            assert "404" in operation["responses"], (method, path)


def test_every_put_patch_delete__takes_if_match_and_documents_412_409_404(schema):
    seen = 0
    for path, method, operation in operations(schema):
        if method in ("put", "patch", "delete"):
            seen += 1
            assert "if-match" in header_names(operation), (method, path)
            assert {"404", "409", "412"} <= set(operation["responses"]), (method, path)
    assert seen == 24  # 8 versioned objects x PUT, PATCH, DELETE


def test_every_create__documents_400_409_413_415_and_the_new_etag(schema):
    for path, method, operation in operations(schema):
        if method == "post" and not is_ofrep(path):
            assert {"400", "409", "413", "415"} <= set(operation["responses"]), path
            if "201" in operation["responses"]:
                assert "ETag" in operation["responses"]["201"]["headers"], path


def test_every_read_of_one_versioned_object__takes_if_none_match_and_documents_304(schema):
    for path, method, operation in operations(schema):
        if method == "get" and "put" in schema["paths"][path]:
            assert "if-none-match" in header_names(operation), path
            assert {"304", "404"} <= set(operation["responses"]), path
            assert "ETag" in operation["responses"]["304"]["headers"], path


def test_every_operation_taking_if_none_match__documents_304_and_its_etag(schema):
    for path, method, operation in operations(schema):
        if "if-none-match" in header_names(operation):
            assert "304" in operation["responses"], (method, path)


def test_error_responses__carry_the_plumbings_error_bodies(schema):
    components = schema["components"]["schemas"]
    assert components["Error"]["required"] == ["detail"]
    for path, method, operation in operations(schema):
        for code, response in operation["responses"].items():
            if not code.startswith(("4", "5")) or (is_ofrep(path) and code in ("400", "404")):
                continue
            ref = response["content"]["application/json"]["schema"]["$ref"]
            expected = "ValidationError" if code == "400" else ("Error", "Detail")
            assert ref.rsplit("/", 1)[1] in expected, (method, path, code, ref)


def test_ofrep__keeps_the_ofrep_error_shapes_and_never_claims_write_codes(schema):
    single = schema["paths"]["/ofrep/v1/evaluate/flags/{key}"]["post"]["responses"]
    bulk = schema["paths"]["/ofrep/v1/evaluate/flags"]["post"]["responses"]
    ref = lambda response: response["content"]["application/json"]["schema"]["$ref"]  # noqa: E731
    assert ref(single["400"]).endswith("/OFREPEvaluationFailure")
    assert ref(single["404"]).endswith("/OFREPFlagNotFound")
    assert ref(bulk["400"]).endswith("/OFREPBulkFailure")
    assert "304" in bulk
    for responses in (single, bulk):
        assert not {"409", "412", "413", "415"} & set(responses)


# -- request bodies -------------------------------------------------------------------------------

IMMUTABLE = [
    ("/api/v1/institutions/{code}/", "code"),
    ("/api/v1/calendars/{code}/", "code"),
    ("/api/v1/calendars/{code}/holidays/{date}/", "date"),
    ("/api/v1/windows/{code}/", "code"),
    ("/api/v1/windows/{code}/overrides/{date}/", "date"),
    ("/api/v1/configurations/{key}/", "key"),
    ("/api/v1/configurations/{configuration_key}/values/{id}/", "institution"),
    ("/api/v1/flags/{name}/", "name"),
]


def _list_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}/$", "", path)


@pytest.mark.parametrize(("path", "field"), IMMUTABLE)
def test_put_and_patch_bodies__leave_out_the_immutable_field_create_has_it(schema, path, field):
    create = request_component(schema, schema["paths"][_list_path(path)]["post"])
    assert field in create["properties"]
    for method in ("put", "patch"):
        body = request_component(schema, schema["paths"][path][method])
        prop = body["properties"].get(field)
        assert prop is None or prop.get("readOnly"), (method, path, field)
        assert field not in body.get("required", []), (method, path, field)
        assert f"`{field}`" in schema["paths"][path][method]["description"]
    assert request_component(schema, schema["paths"][path]["put"]) is not create


def test_read_only_fields__read_only_in_responses_absent_from_request_bodies(schema):
    components = schema["components"]["schemas"]
    for name in ("Institution", "Calendar", "Holiday", "Window", "Override", "Configuration"):
        for field in ("version", "created_at", "updated_at"):
            assert components[name]["properties"][field]["readOnly"], (name, field)
            assert field not in components[f"{name}Request"]["properties"], (name, field)
    assert components["ConfigurationValue"]["properties"]["id"]["readOnly"]
    assert "id" not in components["ConfigurationValueRequest"]["properties"]
    assert components["Calendar"]["properties"]["holidays_until"]["readOnly"]
    assert components["Flag"]["properties"]["version"]["readOnly"]
    assert "created_at" not in components["FlagRequest"]["properties"]


def test_write_bodies__refuse_unknown_fields_and_say_so(schema):
    for path, method, operation in operations(schema):
        if "requestBody" not in operation:
            continue
        body = request_component(schema, operation)
        if is_ofrep(path):
            assert body.get("additionalProperties") is not False, path
        else:
            assert body.get("additionalProperties") is False, (method, path)


# -- against the running API ----------------------------------------------------------------------


@pytest.fixture
def world(db):
    t2 = calendars.create_calendar(
        data={"code": "TARGET2", "name": "TARGET2", "timezone": "Europe/Berlin"}
    )
    calendars.create_holiday(calendar=t2, data={"date": "2026-12-25", "name": "Christmas"})
    bank = configuration.create_institution(
        data={"code": BANK, "name": "Deutsche Bank", "country": "DE", "timezone": "Europe/Berlin"}
    )
    configuration.create_institution(
        data={"code": OTHER_BANK, "name": "BNP", "country": "FR", "timezone": "Europe/Paris"}
    )
    window = windows.create_window(
        data={"code": "SCT", "name": "SCT", "calendar": t2, "sessions": [WEEKDAYS]}
    )
    windows.create_override(
        window=window, data={"date": "2026-12-24", "closed": True, "reason": "Christmas Eve"}
    )
    definition = configuration.create_configuration(
        data={
            "key": KEY,
            "description": "limit",
            "value_type": "decimal",
            "schema": None,
            "default": "1.00",
            "is_sensitive": False,
        }
    )
    value = configuration.create_value(
        configuration=definition,
        data={
            "institution": bank,
            "value": "2.00",
            "effective_from": datetime(2026, 1, 1, tzinfo=UTC),
        },
    )
    flags.create_flag(data={"name": "new-ledger", "note": "x", "institutions": [bank]})
    from cbpconfig.models import AuditEntry

    return {
        "{code}@institutions": BANK,
        "{code}@calendars": "TARGET2",
        "{codes}": "TARGET2",
        "{code}@windows": "SCT",
        "{date}@holidays": "2026-12-25",
        "{date}@overrides": "2026-12-24",
        "{key}": KEY,
        "{configuration_key}": KEY,
        "{id}@values": str(value.pk),
        "{id}@audit-log": str(AuditEntry.objects.order_by("-pk").first().pk),
        "{name}": "new-ledger",
    }


def concrete(path: str, world: dict, *, missing: bool = False) -> str:
    """The path with its parameters filled from the world (or with objects that do not exist)."""

    def fill(match):
        name = match.group(0)
        before = path[: match.start()]
        for key, value in world.items():
            param, _, where = key.partition("@")
            if param == name and (not where or f"/{where}/" in before + "/"):
                if missing:
                    return {"{date}": "1999-01-04", "{id}": "999999999"}.get(name, "NOPE0000")
                return value
        raise AssertionError(f"no value for {name} in {path}")

    return re.sub(r"\{[^}]+\}", fill, path)


QUERY = {"date": "2026-12-24", "start": "2026-12-01", "end": "2026-12-31", "days": "1"}


def query_for(operation) -> dict:
    params = {
        p["name"]: QUERY[p["name"]]
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }
    if operation.get("operationId") == "flags_evaluate":
        params["institution"] = BANK
    return params


def test_every_documented_read__sends_an_etag_exactly_when_it_documents_304(
    schema, transactional_db, world, writer
):
    # Committed data (transactional_db): inside an open transaction that changed them, the
    # cache tokens are deliberately untrusted and every ETag is new (cbpconfig.cache).
    checked = 0
    for path, method, operation in operations(schema):
        if method != "get":
            continue
        url = concrete(path, world)
        response = writer.get(url, query_for(operation))
        assert response.status_code == 200, (path, response.content[:300])
        etag = response.get("ETag")
        assert bool(etag) == ("304" in operation["responses"]), path
        if etag:
            again = writer.get(url, query_for(operation), HTTP_IF_NONE_MATCH=etag)
            assert again.status_code == 304, path
            assert again["ETag"] == etag
        checked += 1
    assert checked >= 30


def test_every_addressed_read__unknown_object__404_as_documented(schema, world, writer):
    for path, method, operation in operations(schema):
        if method == "get" and "{" in path:
            response = writer.get(concrete(path, world, missing=True), query_for(operation))
            assert response.status_code == 404, (path, response.content[:300])
            assert "detail" in response.json()


def test_every_patch_and_delete__stale_if_match__412_nothing_changed(schema, world, writer):
    for path, method, _operation in operations(schema):
        if method not in ("patch", "delete"):
            continue
        url = concrete(path, world)
        before = writer.get(url).json()
        call = writer.patch if method == "patch" else writer.delete
        response = call(url, {}, format="json", HTTP_IF_MATCH='"999"')
        assert response.status_code == 412, (method, path, response.content[:300])
        assert writer.get(url).json() == before


def test_unknown_object_with_stale_if_match__404_before_412(schema, world, writer):
    for path, method, _operation in operations(schema):
        if method in ("put", "patch", "delete"):
            url = concrete(path, world, missing=True)
            call = getattr(writer, method)
            response = call(url, {}, format="json", HTTP_IF_MATCH='"999"')
            assert response.status_code == 404, (method, path)


CHANGED = {
    "/api/v1/institutions/{code}/": OTHER_BANK,
    "/api/v1/calendars/{code}/": "OTHERCAL",
    "/api/v1/calendars/{code}/holidays/{date}/": "2026-12-28",
    "/api/v1/windows/{code}/": "OTHERWIN",
    "/api/v1/windows/{code}/overrides/{date}/": "2026-12-23",
    "/api/v1/configurations/{key}/": "payments.other",
    "/api/v1/configurations/{configuration_key}/values/{id}/": None,
    "/api/v1/flags/{name}/": "other-flag",
}


@pytest.mark.parametrize(("path", "field"), IMMUTABLE)
def test_put__documented_body_accepted_immutable_field_unchanged_ok_changed_400(
    schema, world, writer, path, field
):
    url = concrete(path, world)
    current = writer.get(url).json()
    documented = request_component(schema, schema["paths"][path]["put"])["properties"]
    body = {name: value for name, value in current.items() if name in documented}
    assert field not in body

    response = writer.put(url, body, format="json")
    assert response.status_code == 200, response.content
    response = writer.put(url, {**body, field: current[field]}, format="json")
    assert response.status_code == 200, response.content
    response = writer.put(url, {**body, field: CHANGED[path]}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert writer.get(url).json()[field] == current[field]


def test_write__unknown_field__400_naming_it(world, writer):
    response = writer.patch(f"/api/v1/institutions/{BANK}/", {"nmae": "x"}, format="json")
    assert response.status_code == 400
    assert "nmae" in response.json()


# -- strict query parameters ----------------------------------------------------------------------

LISTS = [
    "/api/v1/institutions/",
    "/api/v1/calendars/",
    "/api/v1/calendars/TARGET2/holidays/",
    "/api/v1/windows/",
    "/api/v1/windows/SCT/overrides/",
    "/api/v1/configurations/",
    f"/api/v1/configurations/{KEY}/values/",
    "/api/v1/flags/",
    "/api/v1/audit-log/",
]


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "", " ", "1.5", "٣"])
def test_list__page_size_not_a_positive_integer__400_naming_it(world, writer, raw):
    for url in LISTS:
        response = writer.get(url, {"page_size": raw})
        assert response.status_code == 400, (url, raw, response.content)
        assert list(response.json()) == ["page_size"], url


def test_list__page_size_above_the_maximum__served_as_500(world, writer):
    response = writer.get("/api/v1/institutions/", {"page_size": "100000"})
    assert response.status_code == 200
    assert response.json()["count"] == 2
    response = writer.get("/api/v1/institutions/", {"page_size": "1" + "0" * 60})
    assert response.status_code == 200


@pytest.mark.parametrize("raw", ["abc", "0", "-2", ""])
def test_list__page_not_a_positive_integer__400_naming_it(world, writer, raw):
    response = writer.get("/api/v1/institutions/", {"page": raw})
    assert response.status_code == 400
    assert list(response.json()) == ["page"]


def test_list__page_past_the_last__404_last_is_the_last_page(world, writer):
    assert writer.get("/api/v1/institutions/", {"page": "2"}).status_code == 404
    response = writer.get("/api/v1/institutions/", {"page": "last", "page_size": "1"})
    assert response.status_code == 200
    assert [i["code"] for i in response.json()["results"]] == [BANK]  # ordered by code


EMPTY = [
    ("/api/v1/windows/SCT/status", {"at": ""}, "at"),
    ("/api/v1/windows/SCT/sessions", {"start": "", "end": "2026-12-31"}, "start"),
    ("/api/v1/windows/SCT/sessions", {"start": "2026-12-01", "end": ""}, "end"),
    (f"/api/v1/configurations/{KEY}/resolve", {"at": ""}, "at"),
    # `institution=` answered the global value, as if it were absent.
    (f"/api/v1/configurations/{KEY}/resolve", {"institution": ""}, "institution"),
    (f"/api/v1/configurations/{KEY}/resolve", {"institution": " "}, "institution"),
    (f"/api/v1/institutions/{BANK}/configuration", {"at": " "}, "at"),
    ("/api/v1/calendars/TARGET2/business-days/check", {"date": ""}, "date"),
    ("/api/v1/calendars/TARGET2/business-days/next", {"date": ""}, "date"),
    ("/api/v1/calendars/TARGET2/business-days/add", {"date": "2026-12-24", "days": ""}, "days"),
    ("/api/v1/calendars/TARGET2/business-days/count", {"start": "", "end": "2027-01-01"}, "start"),
    ("/api/v1/calendars/TARGET2/business-days/count", {"start": "2026-12-01", "end": ""}, "end"),
    ("/api/v1/calendars/TARGET2/business-days", {"start": "2026-12-01", "end": ""}, "end"),
    # schemathesis: `convention=` was read as the default `following` (the enum has no "").
    (
        "/api/v1/calendars/TARGET2/business-days/add",
        {"date": "2026-12-24", "days": "1", "convention": ""},
        "convention",
    ),
    (
        "/api/v1/calendars/TARGET2/business-days/adjust",
        {"date": "2026-12-24", "convention": " "},
        "convention",
    ),
    ("/api/v1/audit-log/", {"since": ""}, "since"),
    ("/api/v1/audit-log/", {"until": ""}, "until"),
    ("/api/v1/audit-log/", {"action": ""}, "action"),
    ("/api/v1/audit-log/", {"model": ""}, "model"),
]


@pytest.mark.parametrize(("url", "params", "name"), EMPTY)
def test_query__empty_parameter__400_naming_it(world, writer, url, params, name):
    response = writer.get(url, params)
    assert response.status_code == 400, response.content
    assert list(response.json()) == [name]
    assert "empty" in response.json()[name][0]


def test_query__absent_optional_parameter__still_its_default(world, writer):
    assert writer.get("/api/v1/windows/SCT/status").status_code == 200
    assert writer.get(f"/api/v1/configurations/{KEY}/resolve").status_code == 200
    resolve = writer.get(f"/api/v1/configurations/{KEY}/resolve", {"institution": BANK})
    assert resolve.status_code == 200, resolve.content
    add = "/api/v1/calendars/TARGET2/business-days/add"
    response = writer.get(add, {"date": "2026-12-24", "days": "1"})
    assert response.status_code == 200, response.content
    assert response.json()["convention"] == "following"
    assert writer.get("/api/v1/institutions/", {"page": "1"}).status_code == 200


def test_audit_log_filters__documented_with_the_types_they_accept(schema, world, writer):
    parameters = {
        p["name"]: p["schema"] for p in schema["paths"]["/api/v1/audit-log/"]["get"]["parameters"]
    }
    assert parameters["action"]["type"] == "string"
    assert sorted(parameters["action"]["enum"]) == ["create", "delete", "update"]
    assert parameters["since"]["format"] == parameters["until"]["format"] == "date-time"
    model = re.compile(parameters["model"]["pattern"])
    assert model.search("calendars.holiday")
    assert not model.search("holiday")
    assert writer.get("/api/v1/audit-log/", {"model": "calendars.holiday"}).status_code == 200
    assert writer.get("/api/v1/audit-log/", {"model": "holiday"}).status_code == 400
    for action in parameters["action"]["enum"]:
        assert writer.get("/api/v1/audit-log/", {"action": action}).status_code == 200
    since = {"since": "2026-01-01T00:00:00Z", "until": "2199-01-01T00:00:00+01:00"}
    assert writer.get("/api/v1/audit-log/", since).status_code == 200


def test_ofrep_targeting_key__documented_non_empty__empty_is_targeting_key_missing(
    schema, world, writer
):
    """schemathesis: `{"targetingKey": ""}` was schema-valid, yet OFREP counts an empty key as
    a missing one; the schema says minLength 1, so that request is the negative case it is."""
    for path in ("/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/{key}"):
        body = request_component(schema, schema["paths"][path]["post"])
        context = body["properties"]["context"]
        assert context["required"] == ["targetingKey"]
        assert context["properties"]["targetingKey"]["minLength"] == 1
    response = writer.post("/ofrep/v1/evaluate/flags", {"context": {"targetingKey": ""}}, "json")
    assert response.status_code == 400, response.content
    assert response.json()["errorCode"] == "TARGETING_KEY_MISSING"
    response = writer.post("/ofrep/v1/evaluate/flags", {"context": {"targetingKey": BANK}}, "json")
    assert response.status_code == 200, response.content


def test_configuration_schema__documented_as_a_json_schema_invalid_one_400(schema, world, writer):
    """schemathesis: `schema` is `type: object` (OpenAPI 3.0 cannot carry the draft 2020-12
    meta-schema), so an object that is no valid JSON Schema is a 400 the exemption list names;
    the field's description says what is required."""
    field = schema["components"]["schemas"]["Configuration"]["properties"]["schema"]
    assert field["type"] == "object"
    assert field["nullable"] is True
    assert "draft 2020-12" in field["description"]
    assert "$ref" in field["description"]
    body = {"key": "proof.bad_schema", "value_type": "integer", "schema": {"type": 5}}
    response = writer.post("/api/v1/configurations/", body, format="json")
    assert response.status_code == 400, response.content
    assert "is not a valid JSON Schema (draft 2020-12)" in response.content.decode()
    body["schema"] = {"$ref": "https://example.com/schema.json"}
    response = writer.post("/api/v1/configurations/", body, format="json")
    assert response.status_code == 400, response.content
    assert "remote references are not fetched" in response.content.decode()
    body["schema"] = {"type": "integer", "minimum": 0}
    assert writer.post("/api/v1/configurations/", body, format="json").status_code == 201
