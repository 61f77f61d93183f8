"""Resolved configuration over the API: order, effective dating, cache, ETags, scope, queries."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from configuration import services
from configuration.models import Configuration
from tests.factories import make_configuration, make_institution

# Committed writes: warm caches are only kept for committed data (cbpconfig.cache).
pytestmark = pytest.mark.django_db(transaction=True)


def T(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def inst_url(code: str) -> str:
    return f"/api/v1/institutions/{code}/configuration"


def key_url(key: str) -> str:
    return f"/api/v1/configurations/{key}/resolve"


def add(configuration, value, *, institution=None, at: datetime):
    return services.create_value(
        configuration=configuration,
        data={"value": value, "institution": institution, "effective_from": at},
    )


@pytest.fixture
def timeline(bank, other):
    """limit: global 100 from day 1, 200 from day 10; DEUTDEFF 500 from day 5, 600 from day 20;
    BNPAFRPP 900 from day 30; default 10. flag: default only. orphan: no default, global
    value from day 15 only."""
    limit = make_configuration("payments.limit", default=10)
    add(limit, 100, at=T(1))
    add(limit, 200, at=T(10))
    add(limit, 500, institution=bank, at=T(5))
    add(limit, 600, institution=bank, at=T(20))
    add(limit, 900, institution=other, at=T(30))
    make_configuration("payments.enabled", "boolean", default=True)
    orphan = make_configuration("payments.orphan", "string")
    add(orphan, "late", at=T(15))
    return limit


def counter(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ------------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # Before any value: the default.
        (0, {"payments.limit": (10, "default", None)}),
        # Global from day 1.
        (1, {"payments.limit": (100, "global", T(1))}),
        (4, {"payments.limit": (100, "global", T(1))}),
        # The institution's own value wins from day 5, even over a later global value.
        (5, {"payments.limit": (500, "institution", T(5))}),
        (12, {"payments.limit": (500, "institution", T(5))}),
        (
            16,
            {
                "payments.limit": (500, "institution", T(5)),
                "payments.orphan": ("late", "global", T(15)),
            },
        ),
        (
            25,
            {
                "payments.limit": (600, "institution", T(20)),
                "payments.orphan": ("late", "global", T(15)),
            },
        ),
    ],
)
def test_institution_configuration__timeline__resolution_order(
    reader, timeline, bank, day, expected
):
    at = T(day, 12) if day else datetime(2025, 12, 31, tzinfo=UTC)
    response = reader.get(inst_url(bank.code), {"at": z(at)})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["institution"] == "DEUTDEFF"
    assert body["at"] == z(at)
    values = body["values"]
    assert values["payments.enabled"] == {
        "value": True,
        "source": "default",
        "effective_from": None,
        "version": 1,
    }
    for key, (value, source, since) in expected.items():
        assert values[key]["value"] == value
        assert values[key]["source"] == source
        assert values[key]["effective_from"] == (z(since) if since else None)
    # The orphan key has no default: absent until its first value.
    assert set(values) == {"payments.limit", "payments.enabled", *expected}


def test_institution_configuration__other_institution_and_global_timeline(reader, timeline, other):
    before = reader.get(inst_url(other.code), {"at": z(T(20))}).json()["values"]
    assert before["payments.limit"]["value"] == 200
    assert before["payments.limit"]["source"] == "global"
    after = reader.get(inst_url(other.code), {"at": z(T(30))}).json()["values"]
    assert after["payments.limit"]["value"] == 900
    # Exactly at effective_from the new value applies (<=).
    assert after["payments.limit"]["effective_from"] == z(T(30))


def test_resolve_key__global_and_institution(reader, timeline, bank):
    response = reader.get(key_url("payments.limit"), {"at": z(T(12))})
    assert response.status_code == 200
    assert response.json() == {
        "key": "payments.limit",
        "value": 200,
        "source": "global",
        "effective_from": z(T(10)),
        "version": 1,
    }
    own = reader.get(key_url("payments.limit"), {"institution": bank.code, "at": z(T(12))})
    assert own.json()["value"] == 500
    assert own.json()["source"] == "institution"
    assert own["ETag"] != response["ETag"]


def test_resolve_key__offset_at_accepted_and_echo_is_utc(reader, timeline, bank):
    response = reader.get(inst_url(bank.code), {"at": "2026-01-05T01:00:00+01:00"})
    assert response.status_code == 200
    assert response.json()["at"] == "2026-01-05T00:00:00Z"
    assert response.json()["values"]["payments.limit"]["value"] == 500


def test_resolution__default_at_is_now_echoed(reader, timeline, bank):
    before = timezone.now()
    body = reader.get(inst_url(bank.code)).json()
    after = timezone.now()
    at = datetime.fromisoformat(body["at"])
    assert body["at"].endswith("Z")
    assert before <= at <= after
    assert body["values"]["payments.limit"]["value"] == 600


@pytest.mark.parametrize(
    "at",
    [
        "2026-01-01T00:00:00",
        "2026-01-01",
        "yesterday",
        "2300-01-01T00:00:00Z",
        "9999-12-31T23:59:59-05:00",
    ],
)
def test_resolution__bad_at__400_names_at(reader, timeline, bank, at):
    for url in (inst_url(bank.code), key_url("payments.limit")):
        response = reader.get(url, {"at": at})
        assert response.status_code == 400, (url, at)
        assert "at" in response.json()


def test_resolution__unknowns__404(reader, timeline, bank):
    assert reader.get(inst_url("NOPEDEFF")).status_code == 404
    assert reader.get(key_url("no.such.key")).status_code == 404
    assert reader.get(key_url("payments.limit"), {"institution": "NOPEDEFF"}).status_code == 404
    # A key with no value at `at` and no default resolves to nothing.
    absent = reader.get(key_url("payments.orphan"), {"at": z(T(2))})
    assert absent.status_code == 404
    assert "no default" in absent.json()["detail"]


def test_resolution__institution_key_other_institution__404(
    make_key, client_for, timeline, bank, other
):
    client = client_for(make_key("bank-key", institution=bank))
    assert client.get(inst_url(bank.code)).status_code == 200
    assert client.get(inst_url(other.code)).status_code == 404
    assert client.get(key_url("payments.limit"), {"institution": other.code}).status_code == 404
    # Even once the other institution's answer is cached.
    assert client_for(make_key("platform")).get(inst_url(other.code)).status_code == 200
    assert client.get(inst_url(other.code)).status_code == 404


def test_resolution__institution_key_without_param__resolves_own(
    make_key, client_for, timeline, bank
):
    client = client_for(make_key("bank-key", institution=bank))
    body = client.get(key_url("payments.limit"), {"at": z(T(12))}).json()
    assert body["value"] == 500
    assert body["source"] == "institution"


# ---------------------------------------------------------------- cache and ETags


def test_resolution__etag_304_then_new_etag_after_change(reader, timeline, bank):
    first = reader.get(inst_url(bank.code))
    etag = first["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    again = reader.get(inst_url(bank.code), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["ETag"] == etag
    assert again.content == b""
    # A change that alters the answer: new ETag, new content.
    add(timeline, 700, institution=bank, at=T(25))
    changed = reader.get(inst_url(bank.code), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed.json()["values"]["payments.limit"]["value"] == 700


def test_resolve_key__etag_304_and_definition_change_invalidates(reader, timeline):
    url = key_url("payments.enabled")
    etag = reader.get(url)["ETag"]
    assert reader.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    configuration = Configuration.objects.get(key="payments.enabled")
    services.update_configuration(configuration=configuration, data={"default": False})
    response = reader.get(url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert response.json()["value"] is False
    assert response.json()["version"] == 2


def test_resolution__second_request_served_from_cache(reader, timeline, bank):
    hits = counter("cbp_configuration_resolution_cache_total", result="hit")
    misses = counter("cbp_configuration_resolution_cache_total", result="miss")
    resolves = counter("cbp_configuration_operations_total", kind="resolve")
    first = reader.get(inst_url(bank.code)).json()
    second = reader.get(inst_url(bank.code)).json()
    assert first["values"] == second["values"]
    assert counter("cbp_configuration_resolution_cache_total", result="miss") == misses + 1
    assert counter("cbp_configuration_resolution_cache_total", result="hit") == hits + 1
    assert counter("cbp_configuration_operations_total", kind="resolve") == resolves + 2


def test_resolution__deleted_institution__404_even_if_cached(reader, db):
    lonely = make_institution("COBADEFF")
    make_configuration("a.b", default=1)
    assert reader.get(inst_url(lonely.code)).status_code == 200
    services.delete_institution(institution=lonely)
    assert reader.get(inst_url(lonely.code)).status_code == 404


def test_resolution__scheduled_value_takes_effect_at_its_instant_through_cache(reader, bank):
    """A value effective ~2 s from now: the cached answer (Redis in CI, the real clock)
    changes by itself at that instant, with no write in between."""
    limit = make_configuration("payments.limit", default=10)
    add(limit, 1, at=timezone.now() - timedelta(days=1))
    soon = timezone.now().replace(microsecond=0) + timedelta(seconds=2)
    add(limit, 2, institution=bank, at=soon)
    misses = counter("cbp_configuration_resolution_cache_total", result="miss")
    first = reader.get(inst_url(bank.code))
    assert first.json()["values"]["payments.limit"]["value"] == 1
    cached = reader.get(inst_url(bank.code), HTTP_IF_NONE_MATCH=first["ETag"])
    assert cached.status_code == 304
    assert counter("cbp_configuration_resolution_cache_total", result="miss") == misses + 1
    time.sleep(max(0.0, (soon - timezone.now()).total_seconds()) + 0.05)
    later = reader.get(inst_url(bank.code), HTTP_IF_NONE_MATCH=first["ETag"])
    assert later.status_code == 200
    assert later.json()["values"]["payments.limit"] == {
        "value": 2,
        "source": "institution",
        "effective_from": z(soon),
        "version": 1,
    }
    one = reader.get(key_url("payments.limit"), {"institution": bank.code})
    assert one.json()["value"] == 2


def test_resolution__explicit_at_within_cached_interval_served_from_cache(reader, timeline, bank):
    reader.get(inst_url(bank.code), {"at": z(T(6))})
    hits = counter("cbp_configuration_resolution_cache_total", result="hit")
    # Day 8 lies in the same interval [day 5, day 10) as day 6: same answer, from the cache.
    body = reader.get(inst_url(bank.code), {"at": z(T(8))}).json()
    assert counter("cbp_configuration_resolution_cache_total", result="hit") == hits + 1
    assert body["at"] == z(T(8))
    assert body["values"]["payments.limit"]["value"] == 500


# -------------------------------------------------------------------- queries


def _many_keys(count: int, bank) -> None:
    for number in range(count):
        configuration = make_configuration(f"bulk.key_{number:03d}", default=number)
        if number % 2:
            add(configuration, number * 10, at=T(1))
        if number % 3 == 0:
            add(configuration, number * 100, institution=bank, at=T(2))


@pytest.mark.parametrize("keys", [10, 200])
def test_resolution__query_count_constant_cold_and_warm(
    keys, make_key, client_for, bank, django_assert_num_queries
):
    _many_keys(keys, bank)
    client = client_for(make_key("reader"))
    # Cold: API key (1), institution (1), definitions (1), rows of the institution + global (1).
    with django_assert_num_queries(4):
        body = client.get(inst_url(bank.code)).json()
    assert len(body["values"]) == keys
    assert body["values"]["bulk.key_003"]["value"] == 300
    # Warm: from the cache, no query at all.
    with django_assert_num_queries(0):
        again = client.get(inst_url(bank.code))
    assert again.json()["values"] == body["values"]
    with django_assert_num_queries(0):
        assert client.get(inst_url(bank.code), HTTP_IF_NONE_MATCH=again["ETag"]).status_code == 304
    # One key, cold then warm: configuration, institution, rows; then nothing.
    with django_assert_num_queries(3):
        client.get(key_url("bulk.key_003"), {"institution": bank.code})
    with django_assert_num_queries(0):
        client.get(key_url("bulk.key_003"), {"institution": bank.code})


def test_resolution__trailing_slash_variant_answers_the_same(reader, timeline, bank):
    plain = reader.get(inst_url(bank.code), {"at": z(T(12))})
    slashed = reader.get(inst_url(bank.code) + "/", {"at": z(T(12))})
    assert slashed.status_code == 200
    assert slashed.json() == plain.json()
    assert reader.get(key_url("payments.limit") + "/").status_code == 200
