"""The settings the failover drills rely on, checked without starting anything: several hosts in
DATABASE_URL (options kept for psycopg), a replica URL, a redis+sentinel:// REDIS_URL, and which
requests the router may send to the replica. (Pure; they could live in tests/unit too.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cbpconfig.config import SettingsError, load
from cbpconfig.routers import is_hot
from tests.drills.stack import ROOT

DEV = {"CBP_ENVIRONMENT": "development"}
MULTI = "postgres://cbp:pw@db-1:5432,db-2:5433/cbp?target_session_attrs=read-write"


def test_load__several_database_hosts__accepted():
    assert load({**DEV, "DATABASE_URL": MULTI}).database_url == MULTI


def test_load__redis_sentinel_url__sentinels_service_db_and_password():
    config = load({**DEV, "REDIS_URL": "redis+sentinel://:s%40cret@s-1:26379,s-2,s-3:26380/cbp/2"})
    sentinel = config.redis_sentinel
    assert sentinel.hosts == (("s-1", 26379), ("s-2", 26379), ("s-3", 26380))
    assert (sentinel.service, sentinel.db, sentinel.password) == ("cbp", 2, "s@cret")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "postgres://u@db-1:5432,db-2:port/cbp"}, "DATABASE_URL"),
        (
            {"DATABASE_URL": MULTI, "DATABASE_REPLICA_URL": "postgres://u@r:x/cbp"},
            "DATABASE_REPLICA",
        ),
        ({"DATABASE_REPLICA_URL": "postgres://u@r/cbp"}, "DATABASE_REPLICA_URL"),
        ({"REDIS_URL": "redis+sentinel://s-1:26379"}, "REDIS_URL"),
        ({"REDIS_URL": "redis+sentinel://s-1:26379/Master"}, "REDIS_URL"),
        ({"REDIS_URL": "redis+sentinel://s-1:26379/cbp/zero"}, "REDIS_URL"),
        ({"CBP_REPLICA_PIN_SECONDS": "0"}, "CBP_REPLICA_PIN_SECONDS"),
    ],
)
def test_load__bad_failover_setting__one_line_naming_it(env, named):
    with pytest.raises(SettingsError) as info:
        load({**DEV, **env})
    assert str(info.value).startswith(named)
    assert "\n" not in str(info.value)


def test_settings__multi_host_url_and_sentinel__what_django_and_django_redis_get():
    script = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps({'db': s.DATABASES['default'], 'replica': s.DATABASES['replica'], "
        "'routers': s.DATABASE_ROUTERS, 'cache': s.CACHES['default']}, default=str))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "cbpconfig.settings",
        "CBP_ENVIRONMENT": "development",
        "DATABASE_URL": MULTI,
        "DATABASE_REPLICA_URL": "postgres://cbp:pw@db-2:5433,db-1:5432/cbp?target_session_attrs=prefer-standby",
        "REDIS_URL": "redis+sentinel://s-1:26379,s-2:26379,s-3:26379/cbp/0",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert (got["db"]["HOST"], got["db"]["PORT"]) == ("db-1,db-2", "5432,5433")
    assert got["db"]["OPTIONS"]["target_session_attrs"] == "read-write"
    assert got["db"]["OPTIONS"]["options"].startswith("-c statement_timeout=")
    assert got["replica"]["OPTIONS"]["target_session_attrs"] == "prefer-standby"
    assert got["replica"]["TEST"] == {"MIRROR": "default"}
    assert got["routers"] == ["cbpconfig.routers.PrimaryReplicaRouter"]
    cache = got["cache"]
    assert cache["LOCATION"] == "redis://cbp/0"
    assert cache["OPTIONS"]["CONNECTION_FACTORY"] == "django_redis.pool.SentinelConnectionFactory"
    assert cache["OPTIONS"]["CLIENT_CLASS"] == "django_redis.client.DefaultClient"
    assert cache["OPTIONS"]["REDIS_CLIENT_CLASS"] == "cbpconfig.redis_client.CircuitBreakerRedis"


@pytest.mark.parametrize(
    ("method", "path", "hot"),
    [
        ("GET", "/api/v1/calendars/TARGET2/business-days/check", True),
        ("GET", "/api/v1/calendars/TARGET2+USFED/business-days", True),
        ("HEAD", "/api/v1/windows/SCT/status/", True),
        ("GET", "/api/v1/windows/SCT/sessions", True),
        ("GET", "/api/v1/institutions/DEUTDEFF/configuration", True),
        ("GET", "/api/v1/configurations/payments.max_amount/resolve", True),
        ("GET", "/api/v1/flags/evaluate", True),
        ("POST", "/ofrep/v1/evaluate/flags", True),
        ("POST", "/ofrep/v1/evaluate/flags/new-ledger", True),
        ("GET", "/api/v1/calendars/TARGET2/holidays/", False),
        ("GET", "/api/v1/flags/new-ledger/", False),
        ("GET", "/api/v1/audit-log/", False),
        ("POST", "/api/v1/calendars/TARGET2/holidays/", False),
        ("PATCH", "/api/v1/flags/new-ledger/", False),
        ("GET", "/admin/", False),
    ],
)
def test_router__which_requests_may_read_the_replica(method, path, hot):
    assert is_hot(method, path) is hot
