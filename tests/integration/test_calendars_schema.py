"""The OpenAPI schema documents every calendars endpoint, without warnings from our views."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

EXPECTED = {
    "/api/v1/calendars/": {"get", "post"},
    "/api/v1/calendars/{code}/": {"get", "put", "patch", "delete"},
    "/api/v1/calendars/{code}/holidays/": {"get", "post"},
    "/api/v1/calendars/{code}/holidays/{date}/": {"get", "put", "patch", "delete"},
    "/api/v1/calendars/{code}/holidays/import": {"post"},
    "/api/v1/calendars/{code}/holidays.ics": {"get"},
    "/api/v1/calendars/{codes}/business-days": {"get"},
    "/api/v1/calendars/{codes}/business-days/check": {"get"},
    "/api/v1/calendars/{codes}/business-days/add": {"get"},
    "/api/v1/calendars/{codes}/business-days/adjust": {"get"},
    "/api/v1/calendars/{codes}/business-days/next": {"get"},
    "/api/v1/calendars/{codes}/business-days/previous": {"get"},
    "/api/v1/calendars/{codes}/business-days/count": {"get"},
}


def test_schema__includes_every_calendars_endpoint(reader):
    response = reader.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, methods in EXPECTED.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    # The trailing-slash aliases are served but not documented twice.
    assert "/api/v1/calendars/{codes}/business-days/check/" not in paths
    add = paths["/api/v1/calendars/{codes}/business-days/add"]["get"]
    names = {p["name"] for p in add["parameters"]}
    assert {"codes", "date", "days", "convention", "If-None-Match"} <= names
    holidays = paths["/api/v1/calendars/{code}/holidays/"]["get"]
    assert {"year", "start", "end"} <= {p["name"] for p in holidays["parameters"]}


def test_schema__no_warnings_from_calendars_views():
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()
    SchemaGenerator().get_schema(request=None, public=True)
    messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    ours = [
        m
        for m in messages
        if any(word in m.lower() for word in ("calendar", "holiday", "businessday", "business-day"))
        or any(
            view in m
            for view in (
                "CheckView",
                "AddView",
                "AdjustView",
                "NextView",
                "PreviousView",
                "CountView",
                "ListView",
            )
        )
    ]
    assert ours == []
