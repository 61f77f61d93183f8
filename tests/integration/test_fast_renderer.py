"""The fast JSON renderer (cbpconfig/api/renderers.py) gives DRF's bytes, and the answers it
serves hold no float (the one thing it does not detect)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.renderers import JSONRenderer

from cbpconfig.api.renderers import FastJSONRenderer, dumps_plain
from tests.factories import session

PLAIN = [
    {"a": "x", "b": 1, "c": True, "d": None, "e": [1, "two", False]},
    {"unicode": "Zürich — 東京", "separators": "a\u2028b\u2029c", "quote": 'he said "hi"\n'},
    {"nested": {"deep": [{"k": [1, 2, {"z": "w"}]}]}, "big": 2**62, "neg": -(2**62)},
    [],
    {},
]


@pytest.mark.parametrize("data", PLAIN)
def test_plain_data__same_bytes_as_drf(data):
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)


@pytest.mark.parametrize(
    "data",
    [
        {"amount": Decimal("1.10")},
        {"at": datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)},
        {1: "non-string key"},
        {"huge": 2**80},
    ],
)
def test_not_plain__handed_to_drf__same_bytes(data):
    assert dumps_plain(data) is None
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)


def test_indent_requested__drf_renders_it():
    data = {"a": [1, 2]}
    indented = FastJSONRenderer().render(data, "application/json; indent=2")
    assert indented == JSONRenderer().render(data, "application/json; indent=2")
    assert b"\n" in indented


def _floats(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_floats(v) for v in value.values())
    if isinstance(value, list):
        return any(_floats(v) for v in value)
    return False


@pytest.mark.django_db
def test_sessions_and_business_day_lists__no_float__same_bytes(writer):
    from calendars import services as calendar_services

    calendar_services.create_calendar(data={"code": "TGT", "name": "Test", "timezone": "UTC"})
    window = {
        "code": "WIN",
        "name": "Window",
        "calendar": "TGT",
        "timezone": "Europe/Berlin",
        "payment_type": "SCT",
        "sessions": [session()],
    }
    assert writer.post("/api/v1/windows/", window, format="json").status_code == 201
    for url in (
        "/api/v1/windows/WIN/sessions?start=2026-01-01&end=2026-12-31",
        "/api/v1/calendars/TGT/business-days?start=2026-01-01&end=2035-12-31",
    ):
        response = writer.get(url)
        assert response.status_code == 200, response.content
        data = json.loads(response.content)
        assert not _floats(data)
        assert response.content == JSONRenderer().render(data)
