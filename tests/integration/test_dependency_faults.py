"""Hung and dead dependencies (issue 10): no stall, no log flood.

Each test runs its own redis-server on a free port (127.0.0.1:16391-16399), points the cache at
it, and pauses (DEBUG SLEEP) or stops it by its pid; the shared Redis is never touched. /ready
is checked against a PostgreSQL "server" that accepts connections and never answers.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import socket
import threading
import time
from contextlib import contextmanager

import pytest
from django.core.cache import cache

from cbpconfig.redis_client import CircuitBreaker, CircuitOpen
from configuration import services
from tests.support.processes import free_port
from tests.support.servers import OwnRedis, gunicorn
from tests.support.web import fetch

pytestmark = [pytest.mark.redis]

COOLDOWN = 1.0  # the breaker's pause before probing again (production: 5 s)
_db_numbers = itertools.count(1)  # a fresh pool (and breaker) per test: redis://…/N


@pytest.fixture
def own_redis():
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is required (apt-get install redis-server)")
    server = OwnRedis(free_port(range(16391, 16400), purpose=" for a test redis-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cache_on_own_redis(own_redis, settings):
    base = settings.CACHES["default"]
    options = {**base["OPTIONS"], "REDIS_CLIENT_KWARGS": {"circuit_cooldown": COOLDOWN}}
    own_redis.db = next(_db_numbers) % 16
    url = f"redis://127.0.0.1:{own_redis.port}/{own_redis.db}"
    settings.CACHES = {"default": {**base, "LOCATION": url, "OPTIONS": options}}
    return own_redis


@pytest.fixture
def bank(db):
    institution = services.create_institution(
        data={"code": "DEUTDEFF", "name": "Deutsche", "country": "DE", "timezone": "Europe/Berlin"}
    )
    services.create_configuration(
        data={"key": "payments.max_amount", "value_type": "integer", "default": 100}
    )
    return institution


RESOLVED = "/api/v1/institutions/DEUTDEFF/configuration"


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


# -- Redis paused ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_redis_paused__requests_and_ready_answer_within_a_second(
    cache_on_own_redis, bank, reader, client
):
    from cbpconfig.cache import EPOCH, token_key

    redis = cache_on_own_redis
    assert reader.get(RESOLVED).status_code == 200  # warm: the answer is in the cache
    assert int(redis.cli("DBSIZE")) > 0
    epoch = cache.get(token_key(EPOCH))
    assert epoch is not None
    sleeper = redis.pause(3)
    try:
        ready, took = _timed(lambda: client.get("/ready"))
        assert took < 1.0, f"/ready took {took:.2f} s"
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"

        response, took = _timed(lambda: reader.get(RESOLVED))
        assert response.status_code == 200
        assert response.json()["values"]["payments.max_amount"]["value"] == 100
        assert took < 1.0, f"first request during the pause took {took:.2f} s"
        for _ in range(5):  # the circuit is open: no more waiting on Redis
            response, took = _timed(lambda: reader.get(RESOLVED))
            assert response.status_code == 200
            assert took < 0.3, f"request with the circuit open took {took:.2f} s"
        ready, took = _timed(lambda: client.get("/ready"))
        assert took < 1.0
        assert ready.json()["checks"]["cache"].startswith("unavailable")
    finally:
        sleeper.wait(timeout=10)
    # Redis is back: after the cooldown the cache is used again.
    time.sleep(COOLDOWN + 0.1)
    assert reader.get(RESOLVED).status_code == 200
    # A bump may have been lost during the pause: the epoch was renewed on recovery, so
    # nothing cached before the outage is trusted again.
    assert cache.get(token_key(EPOCH)) not in (None, epoch)
    cache.set("probe:after-pause", 7)
    assert cache.get("probe:after-pause") == 7
    assert client.get("/ready").json()["status"] == "ok"


# -- Redis stopped, then started again --------------------------------------------------------


@pytest.mark.django_db
def test_redis_stopped__one_down_line_then_one_up_line_and_the_cache_resumes(
    cache_on_own_redis, bank, reader, caplog
):
    redis = cache_on_own_redis
    caplog.set_level(logging.INFO)
    assert reader.get(RESOLVED).status_code == 200
    redis.stop()
    caplog.clear()
    # Two and a half cooldowns of traffic against a dead Redis (probes included).
    ends = time.monotonic() + 2.5 * COOLDOWN
    requests = 0
    while time.monotonic() < ends:
        response = reader.get(RESOLVED)
        assert response.status_code == 200
        requests += 1
    outage = list(caplog.records)
    cache_lines = [r for r in outage if r.name in ("cbpconfig.cache", "django_redis.cache")]
    assert [r.getMessage().split(" at ")[0] for r in cache_lines] == ["cache unavailable"]
    assert cache_lines[0].levelno == logging.ERROR
    assert cache_lines[0].exc_info is None  # one line, no traceback
    # Nothing else logged anything: not django-redis, not the throttle, not the request path
    # (the access log's one line per request is the access log, not an outage message).
    others = [r for r in outage if r not in cache_lines and r.name != "cbpconfig.access"]
    assert others == [], [(r.name, r.getMessage()) for r in others]
    assert requests > 50

    caplog.clear()
    redis.start()
    time.sleep(COOLDOWN + 0.1)
    for _ in range(20):
        assert reader.get(RESOLVED).status_code == 200
    up = [r for r in caplog.records if r.name == "cbpconfig.cache"]
    assert [r.getMessage().split(" at ")[0] for r in up] == ["cache available again"]
    assert int(redis.cli("DBSIZE")) > 0  # answers are cached in Redis again
    cache.set("probe:after-restart", 8)
    assert cache.get("probe:after-restart") == 8


# -- the breaker itself ------------------------------------------------------------------------


def test_circuit_breaker__fails_fast_then_one_probe(caplog):
    now = [0.0]
    breaker = CircuitBreaker("redis://test", cooldown=5, clock=lambda: now[0])
    calls = []

    def down():
        calls.append(now[0])
        raise ConnectionError("refused")

    from redis.exceptions import ConnectionError as RedisConnectionError

    def redis_down():
        calls.append(now[0])
        raise RedisConnectionError("refused")

    with caplog.at_level(logging.INFO, logger="cbpconfig.cache"):
        with pytest.raises(RedisConnectionError):
            breaker.call(redis_down)
        for _ in range(100):
            with pytest.raises(CircuitOpen):
                breaker.call(redis_down)
        assert len(calls) == 1  # nothing reached "Redis" while open
        now[0] = 5.0
        with pytest.raises(RedisConnectionError):
            breaker.call(redis_down)  # the probe
        assert len(calls) == 2
        with pytest.raises(CircuitOpen):
            breaker.call(redis_down)
        now[0] = 10.0
        assert breaker.call(lambda: "pong") == "pong"  # probe succeeds: closed
        assert breaker.call(lambda: "again") == "again"
        with pytest.raises(ConnectionError):
            breaker.call(down)  # not a Redis outage: the circuit stays closed
        assert not breaker.is_open
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("cache unavailable at redis://test")
    assert messages[1].startswith("cache available again at redis://test after 10.0 s")


def test_circuit_breaker__threads__one_probe_at_a_time():
    now = [0.0]
    breaker = CircuitBreaker("redis://test", cooldown=1, clock=lambda: now[0])
    from redis.exceptions import TimeoutError as RedisTimeoutError

    with pytest.raises(RedisTimeoutError):
        breaker.call(lambda: (_ for _ in ()).throw(RedisTimeoutError("slow")))
    now[0] = 2.0
    entered = threading.Event()
    release = threading.Event()

    def slow_probe():
        entered.set()
        release.wait(5)
        return "pong"

    prober = threading.Thread(target=lambda: breaker.call(slow_probe))
    prober.start()
    entered.wait(5)
    with pytest.raises(CircuitOpen):  # while the probe is out, others fail fast
        breaker.call(lambda: "never")
    release.set()
    prober.join(5)
    assert breaker.call(lambda: "ok") == "ok"


# -- /ready with a database that never answers ---------------------------------------------------


@contextmanager
def silent_server():
    """A TCP server that accepts connections and never says anything (a frozen PostgreSQL)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.e2e
def test_ready__database_never_answers__503_within_a_second():
    with (
        silent_server() as port,
        gunicorn({"DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/x"}) as url,
    ):
        for _ in range(3):
            started = time.monotonic()
            status, _, body = fetch("GET", f"{url}/ready")
            took = time.monotonic() - started
            assert status == 503
            assert json.loads(body)["checks"]["database"].startswith("unavailable")
            assert took < 1.0, f"/ready took {took:.2f} s"
        # /live never touches the database.
        assert fetch("GET", f"{url}/live")[0] == 200
