"""/live, /ready, /health and /metrics served by a real gunicorn, with a dependency down."""

from __future__ import annotations

import json

import pytest

from configuration.services import create_institution
from tests.support.processes import database_url_of_test_db
from tests.support.servers import gunicorn, services_env
from tests.support.web import fetch as http

pytestmark = pytest.mark.e2e

CLOSED_PORT_DB = "postgres://postgres@127.0.0.1:1/nothing"
CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"


def test_ready__database_unreachable__503_and_live_still_200():
    with gunicorn({"DATABASE_URL": CLOSED_PORT_DB}) as url:
        status, _, body = http("GET", f"{url}/ready")
        assert status == 503
        assert json.loads(body)["checks"]["database"].startswith("unavailable")
        assert http("GET", f"{url}/live")[0] == 200
        status, _, body = http("GET", f"{url}/health", {"Accept": "application/json"})
        assert status == 503
        components = json.loads(body)
        assert components["database"].startswith("Unavailable")
        assert components["backup_storage"] == "ok"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ready__redis_unreachable__200_degraded_and_reads_fall_through(make_key):
    create_institution(
        data={
            "code": "DEUTDEFF",
            "name": "Deutsche Bank",
            "country": "DE",
            "timezone": "Europe/Berlin",
        }
    )
    key = make_key("e2e")
    env = {"DATABASE_URL": database_url_of_test_db(), "REDIS_URL": CLOSED_PORT_REDIS}
    with gunicorn(env) as url:
        status, _, body = http("GET", f"{url}/ready")
        assert status == 200, body
        assert json.loads(body)["status"] == "degraded"
        status, _, body = http(
            "GET", f"{url}/api/v1/institutions/DEUTDEFF/", {"Authorization": f"Api-Key {key}"}
        )
        assert status == 200, body
        assert json.loads(body)["code"] == "DEUTDEFF"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_metrics__two_workers__one_exposition_adding_up_both(make_key):
    key = make_key("e2e")
    with gunicorn(services_env(), workers=2) as url:
        for _ in range(20):
            assert (
                http("GET", f"{url}/api/v1/institutions/", {"Authorization": f"Api-Key {key}"})[0]
                == 200
            )
        status, headers, body = http("GET", f"{url}/metrics")
        assert status == 200
        text = body.decode()
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("django_http_responses_total_by_status_total{")
            and 'status="200"' in line
        )
        assert total >= 20
