"""OFREP endpoints: answers and errors as open-feature/protocol's service/openapi.yaml has them."""

from __future__ import annotations

import pytest
from django.test import override_settings

from flags import services
from flags.models import Flag
from tests.factories import make_institution

pytestmark = pytest.mark.django_db

BULK = "/ofrep/v1/evaluate/flags"


def single(name: str) -> str:
    return f"/ofrep/v1/evaluate/flags/{name}"


@pytest.fixture
def flags(bank):
    services.create_flag(data={"name": "on-for-bank", "institutions": [bank]})
    services.create_flag(data={"name": "killed", "everyone": False})
    services.create_flag(data={"name": "zero"})
    return Flag.objects.order_by("name")


def ctx(code="DEUTDEFF", **extra):
    return {"context": {"targetingKey": code, **extra}}


# -- single flag ------------------------------------------------------------------------------


def test_single__targeted__success_shape(reader, flags):
    response = reader.post(single("on-for-bank"), ctx(), format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "key": "on-for-bank",
        "value": True,
        "reason": "TARGETING_MATCH",
        "variant": "on",
        "metadata": {"version": 1},
    }


def test_single__off__variant_off(reader, flags):
    data = reader.post(single("killed"), ctx(), format="json").json()
    assert (data["value"], data["variant"], data["reason"]) == (False, "off", "STATIC")
    data = reader.post(single("zero"), ctx(), format="json").json()
    assert (data["value"], data["variant"], data["reason"]) == (False, "off", "DEFAULT")


def test_single__extra_context_attributes__ignored(reader, flags):
    response = reader.post(single("on-for-bank"), ctx(country="DE", tier=1), format="json")
    assert response.status_code == 200
    assert response.json()["value"] is True


def test_single__cbp_flag_overrides__static(reader, flags):
    with override_settings(CBP_FLAG_OVERRIDES="zero=on"):
        data = reader.post(single("zero"), ctx(), format="json").json()
    assert (data["value"], data["reason"]) == (True, "STATIC")


def test_single__unknown_flag__404_flag_not_found(reader, flags):
    response = reader.post(single("no-such-flag"), ctx(), format="json")
    assert response.status_code == 404
    data = response.json()
    assert data["key"] == "no-such-flag"
    assert data["errorCode"] == "FLAG_NOT_FOUND"
    assert isinstance(data["errorDetails"], str)
    assert data["errorDetails"]


def test_single__invalid_flag_name__404_flag_not_found(reader, flags):
    response = reader.post(single("Not-A-Valid-Name"), ctx(), format="json")
    assert response.status_code == 404
    assert response.json()["errorCode"] == "FLAG_NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "TARGETING_KEY_MISSING"),
        ({"context": {}}, "TARGETING_KEY_MISSING"),
        ({"context": None}, "TARGETING_KEY_MISSING"),
        ({"context": {"targetingKey": None}}, "TARGETING_KEY_MISSING"),
        ({"context": {"targetingKey": ""}}, "TARGETING_KEY_MISSING"),
        ({"context": {"country": "DE"}}, "TARGETING_KEY_MISSING"),
        ({"context": {"targetingKey": 42}}, "INVALID_CONTEXT"),
        ({"context": {"targetingKey": ["DEUTDEFF"]}}, "INVALID_CONTEXT"),
        ({"context": {"targetingKey": {"code": "DEUTDEFF"}}}, "INVALID_CONTEXT"),
        ({"context": {"targetingKey": True}}, "INVALID_CONTEXT"),
        ({"context": "DEUTDEFF"}, "INVALID_CONTEXT"),
        ({"context": ["DEUTDEFF"]}, "INVALID_CONTEXT"),
        ({"context": {"targetingKey": "ZZZZZZZZ"}}, "INVALID_CONTEXT"),
        ([], "PARSE_ERROR"),
        ("DEUTDEFF", "PARSE_ERROR"),
        (7, "PARSE_ERROR"),
    ],
)
def test_single__bad_context__400_with_key_code_details(reader, flags, body, code):
    before = list(Flag.objects.values_list("name", "version"))
    response = reader.post(single("on-for-bank"), body, format="json")
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["key"] == "on-for-bank"
    assert data["errorCode"] == code
    assert isinstance(data["errorDetails"], str)
    assert data["errorDetails"]
    assert list(Flag.objects.values_list("name", "version")) == before


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ("{not json", "application/json"),
        ('{"context": {"targetingKey": "DEUTDEFF"}', "application/json"),
        ("\xff\xfe", "application/json"),
        ("context=DEUTDEFF", "application/x-www-form-urlencoded"),
        ('{"context": {"targetingKey": "DEUTDEFF"}}garbage', "text/plain"),
    ],
)
def test_single__body_not_json__400_parse_error(reader, flags, raw, content_type):
    response = reader.post(single("on-for-bank"), raw, content_type=content_type)
    assert response.status_code == 400, response.content
    assert response.json()["errorCode"] == "PARSE_ERROR"
    assert response.json()["key"] == "on-for-bank"


def test_single__json_without_content_type__still_evaluated(reader, flags):
    response = reader.post(
        single("on-for-bank"),
        '{"context": {"targetingKey": "DEUTDEFF"}}',
        content_type="text/plain",
    )
    assert response.status_code == 200
    assert response.json()["value"] is True


def test_single__empty_body__targeting_key_missing(reader, flags):
    response = reader.post(single("on-for-bank"), "", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "TARGETING_KEY_MISSING"


# -- bulk -------------------------------------------------------------------------------------


def test_bulk__every_flag__success_shape_and_etag(reader, flags):
    response = reader.post(BULK, ctx(), format="json")
    assert response.status_code == 200, response.content
    assert response["ETag"].startswith('"')
    assert response.json() == {
        "flags": [
            {
                "key": "killed",
                "value": False,
                "reason": "STATIC",
                "variant": "off",
                "metadata": {"version": 1},
            },
            {
                "key": "on-for-bank",
                "value": True,
                "reason": "TARGETING_MATCH",
                "variant": "on",
                "metadata": {"version": 1},
            },
            {
                "key": "zero",
                "value": False,
                "reason": "DEFAULT",
                "variant": "off",
                "metadata": {"version": 1},
            },
        ]
    }


def test_bulk__if_none_match__304_until_a_change(reader, writer, flags):
    etag = reader.post(BULK, ctx(), format="json")["ETag"]
    again = reader.post(BULK, ctx(), format="json", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["ETag"] == etag
    assert not again.content
    writer.patch("/api/v1/flags/zero/", {"everyone": True}, format="json")
    changed = reader.post(BULK, ctx(), format="json", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_bulk__etag_matches_between_ofrep_callers_of_same_institution(
    make_key, client_for, reader, bank, flags
):
    institution_client = client_for(make_key("bank", institution=bank), scheme="Bearer")
    a = reader.post(BULK, ctx(), format="json")["ETag"]
    b = institution_client.post(BULK, ctx(), format="json")["ETag"]
    assert a == b


def test_bulk__no_flags__empty_list(reader, bank):
    response = reader.post(BULK, ctx(), format="json")
    assert response.status_code == 200
    assert response.json() == {"flags": []}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "TARGETING_KEY_MISSING"),
        ({"context": {}}, "TARGETING_KEY_MISSING"),
        ({"context": {"targetingKey": 1}}, "INVALID_CONTEXT"),
        ({"context": 5}, "INVALID_CONTEXT"),
        ({"context": {"targetingKey": "ZZZZZZZZ"}}, "INVALID_CONTEXT"),
        ([1, 2], "PARSE_ERROR"),
    ],
)
def test_bulk__bad_context__400_code_and_details_without_key(reader, flags, body, code):
    response = reader.post(BULK, body, format="json")
    assert response.status_code == 400
    data = response.json()
    assert set(data) == {"errorCode", "errorDetails"}
    assert data["errorCode"] == code


def test_bulk__not_json__400_parse_error(reader, flags):
    response = reader.post(BULK, "nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "PARSE_ERROR"


# -- auth and scope ---------------------------------------------------------------------------


def test_no_key__401(anon, flags):
    assert anon.post(BULK, ctx(), format="json").status_code == 401
    assert anon.post(single("zero"), ctx(), format="json").status_code == 401


def test_bad_key__401(client_for, flags):
    client = client_for("nope.nope", scheme="Bearer")
    assert client.post(BULK, ctx(), format="json").status_code == 401


def test_institution_key__own_institution__200(make_key, client_for, bank, flags):
    client = client_for(make_key("bank", institution=bank), scheme="Bearer")
    assert client.post(single("on-for-bank"), ctx(), format="json").json()["value"] is True
    assert client.post(BULK, ctx(), format="json").status_code == 200


def test_institution_key__another_institution__403(make_key, client_for, bank, other, flags):
    client = client_for(make_key("bank", institution=bank), scheme="Bearer")
    assert client.post(single("on-for-bank"), ctx("BNPAFRPP"), format="json").status_code == 403
    assert client.post(BULK, ctx("BNPAFRPP"), format="json").status_code == 403
    # an unknown code reveals nothing either: the same 403
    assert client.post(BULK, ctx("ZZZZZZZZ"), format="json").status_code == 403


def test_get__405(reader, flags):
    assert reader.get(BULK).status_code == 405
    assert reader.get(single("zero")).status_code == 405


def test_throttled__429_with_retry_after(reader, flags, settings):
    settings.CBP_THROTTLE_RATE = "2/minute"
    statuses = [reader.post(BULK, ctx(), format="json") for _ in range(3)]
    assert [r.status_code for r in statuses[:2]] == [200, 200]
    assert statuses[2].status_code == 429
    assert int(statuses[2]["Retry-After"]) >= 0


def test_ofrep__changes_nothing(reader, flags):
    before = list(Flag.objects.values_list("name", "version", "modified"))
    reader.post(BULK, ctx(), format="json")
    reader.post(single("zero"), ctx(), format="json")
    assert list(Flag.objects.values_list("name", "version", "modified")) == before


def test_bulk__query_count_constant(
    reader, django_assert_num_queries, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        bank = make_institution("DEUTDEFF")
        for i in range(50):
            services.create_flag(data={"name": f"f{i:02d}", "institutions": [bank]})
    reader.post(BULK, ctx(), format="json")  # authenticate and load once
    with django_assert_num_queries(0):
        response = reader.post(BULK, ctx(), format="json")
    assert len(response.json()["flags"]) == 50


# -- schema and metrics -----------------------------------------------------------------------


def test_schema__includes_ofrep_and_flags_endpoints(reader):
    response = reader.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "post" in paths["/ofrep/v1/evaluate/flags"]
    assert "post" in paths["/ofrep/v1/evaluate/flags/{key}"]
    assert "get" in paths["/api/v1/flags/evaluate"]
    assert {"get", "put", "patch", "delete"} <= set(paths["/api/v1/flags/{name}/"])
    single_responses = paths["/ofrep/v1/evaluate/flags/{key}"]["post"]["responses"]
    assert {"200", "400", "401", "403", "404", "429"} <= set(single_responses)


def test_metrics__evaluations_counted_by_flag_and_result(reader, flags):
    from prometheus_client import REGISTRY

    def value(flag, result):
        return (
            REGISTRY.get_sample_value(
                "cbp_flag_evaluations_total", {"flag": flag, "result": result}
            )
            or 0
        )

    on_before = value("on-for-bank", "enabled")
    off_before = value("zero", "disabled")
    missing_before = value("(unknown)", "not_found")
    reader.post(BULK, ctx(), format="json")
    reader.post(single("no-such"), ctx(), format="json")
    assert value("on-for-bank", "enabled") == on_before + 1
    assert value("zero", "disabled") == off_before + 1
    assert value("(unknown)", "not_found") == missing_before + 1


def test_metrics__changes_counted_after_commit(writer, django_capture_on_commit_callbacks, db):
    from prometheus_client import REGISTRY

    def value(action):
        return REGISTRY.get_sample_value("cbp_flag_changes_total", {"action": action}) or 0

    before = value("create"), value("update"), value("delete")
    with django_capture_on_commit_callbacks(execute=True):
        writer.post("/api/v1/flags/", {"name": "m"}, format="json")
        writer.patch("/api/v1/flags/m/", {"everyone": True}, format="json")
        writer.delete("/api/v1/flags/m/")
    assert (value("create"), value("update"), value("delete")) == (
        before[0] + 1,
        before[1] + 1,
        before[2] + 1,
    )
