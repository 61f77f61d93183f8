"""Property-based API fuzzing from our own OpenAPI document (schemathesis): whatever a client
sends to any documented operation, the answer is never a 5xx and its status code is one the
schema documents for that operation (the common codes come from cbpconfig.api.schema). Runs in-process through the WSGI application against the real
database and cache, with a platform key that may write."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from calendars import services as calendars
from cbpconfig.wsgi import application
from tests.factories import make_calendar, make_institution

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def wsgi_keeps_test_connection():
    """Like Django's test client: requests must not close the test's database connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, make_key, wsgi_keeps_test_connection):
    calendar = make_calendar("TARGET2", timezone="Europe/Berlin")
    calendars.create_holiday(calendar=calendar, data={"date": "2026-12-25", "name": "Christmas"})
    make_institution("DEUTDEFF")
    return {"Authorization": f"Api-Key {make_key('fuzz', write=True)}"}


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_api__any_documented_request__never_a_server_error_and_a_documented_status(case, world):
    case.call_and_validate(headers=world, checks=[not_a_server_error, status_code_conformance])
