"""GET /api/v1/flags/evaluate: the rules and their reasons, rollout, scope, ETag, caching."""

from __future__ import annotations

import hashlib
from decimal import ROUND_FLOOR, Decimal

import pytest
from django.test import override_settings

from configuration.services import delete_institution
from flags import cache as flag_cache
from flags import rollout, selectors, services
from flags.models import Flag
from tests.factories import make_institution

pytestmark = pytest.mark.django_db

URL = "/api/v1/flags/evaluate"


def independent_bucket(flag: str, institution: str) -> float:
    """The contract's formula, written out again on purpose (not imported)."""
    return int(hashlib.sha256(f"{flag}:{institution}".encode()).hexdigest()[:8], 16) % 10000 / 100


def _codes(n: int) -> list[str]:
    """n distinct valid 8-character BICs."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    codes = []
    for i in range(n):
        a, b = divmod(i, 26)
        c, a = divmod(a, 26)
        codes.append(f"B{alphabet[c]}{alphabet[a]}{alphabet[b]}DE{i % 100:02d}")
    assert len(set(codes)) == n
    return codes


def _evaluate(client, code=None):
    response = client.get(URL, {"institution": code} if code else {})
    assert response.status_code == 200, response.content
    return response.json()


# -- the rules, each with its reason, through the API -----------------------------------------


def test_evaluate__shape__institution_environment_flags(reader, bank):
    services.create_flag(data={"name": "a"})
    data = _evaluate(reader, "DEUTDEFF")
    assert data == {
        "institution": "DEUTDEFF",
        "environment": "development",
        "flags": {"a": {"enabled": False, "reason": "DEFAULT"}},
    }


def test_rule5__bucket_below_percent__split_else_default(reader, db):
    codes = _codes(40)
    for code in codes:
        make_institution(code)
    services.create_flag(data={"name": "gradual", "rollout_percent": "50"})
    for code in codes:
        state = _evaluate(reader, code)["flags"]["gradual"]
        if independent_bucket("gradual", code) < 50:
            assert state == {"enabled": True, "reason": "SPLIT"}, code
        else:
            assert state == {"enabled": False, "reason": "DEFAULT"}, code


def test_rule5__fixed_pairs__bucket_equals_independent_formula(reader, db):
    """API-level check of the formula: with rollout_percent just above / at the bucket the
    institution flips from DEFAULT to SPLIT exactly there."""
    pairs = [("new-ledger", "DEUTDEFF"), ("instant-payments", "BNPAFRPP"), ("a", "COBADEFF")]
    for _, code in pairs:
        make_institution(code)
    for name, code in pairs:
        expected = independent_bucket(name, code)
        assert rollout.bucket(name, code) == expected
        floor = Decimal(str(expected)).quantize(Decimal("0.1"), rounding=ROUND_FLOOR)
        flag = services.create_flag(data={"name": name, "rollout_percent": floor})
        # bucket < rollout_percent is false at or below the bucket...
        assert _evaluate(reader, code)["flags"][name] == {"enabled": False, "reason": "DEFAULT"}
        # ...and true one step (0.1) above it
        services.update_flag(flag=flag, data={"rollout_percent": floor + Decimal("0.1")})
        assert _evaluate(reader, code)["flags"][name] == {"enabled": True, "reason": "SPLIT"}


def test_rule4__targeted_institution__on_targeting_match(reader, bank, other):
    services.create_flag(data={"name": "t", "institutions": [bank]})
    assert _evaluate(reader, "DEUTDEFF")["flags"]["t"] == {
        "enabled": True,
        "reason": "TARGETING_MATCH",
    }
    assert _evaluate(reader, "BNPAFRPP")["flags"]["t"] == {"enabled": False, "reason": "DEFAULT"}


@pytest.mark.parametrize("everyone", [True, False])
def test_rule3__everyone__beats_targeting_and_rollout(reader, bank, everyone):
    services.create_flag(
        data={"name": "e", "everyone": everyone, "institutions": [bank], "rollout_percent": 100}
    )
    assert _evaluate(reader, "DEUTDEFF")["flags"]["e"] == {"enabled": everyone, "reason": "STATIC"}


@pytest.mark.parametrize("environment", ["development", "staging", "production"])
def test_rule2__environment_override__beats_everyone(reader, bank, environment):
    services.create_flag(
        data={"name": "env", "everyone": True, "environment_overrides": {environment: False}}
    )
    with override_settings(CBP_ENVIRONMENT=environment):
        data = _evaluate(reader, "DEUTDEFF")
    assert data["environment"] == environment
    assert data["flags"]["env"] == {"enabled": False, "reason": "STATIC"}


def test_rule2__override_for_another_environment__ignored(reader, bank):
    services.create_flag(data={"name": "env", "environment_overrides": {"production": True}})
    with override_settings(CBP_ENVIRONMENT="staging"):
        assert _evaluate(reader, "DEUTDEFF")["flags"]["env"] == {
            "enabled": False,
            "reason": "DEFAULT",
        }


def test_rule1__cbp_flag_overrides__beat_everything(reader, bank):
    services.create_flag(
        data={
            "name": "forced-off",
            "everyone": True,
            "environment_overrides": {"development": True},
            "institutions": [bank],
        }
    )
    services.create_flag(data={"name": "forced-on", "everyone": False})
    services.create_flag(data={"name": "untouched", "everyone": True})
    with override_settings(CBP_FLAG_OVERRIDES="forced-off=off, forced-on=on"):
        flags = _evaluate(reader, "DEUTDEFF")["flags"]
    assert flags["forced-off"] == {"enabled": False, "reason": "STATIC"}
    assert flags["forced-on"] == {"enabled": True, "reason": "STATIC"}
    assert flags["untouched"] == {"enabled": True, "reason": "STATIC"}
    # the setting is read at call time: without it the flag's own rules apply again
    assert _evaluate(reader, "DEUTDEFF")["flags"]["forced-on"] == {
        "enabled": False,
        "reason": "STATIC",
    }


# -- rollout properties -----------------------------------------------------------------------


def test_rollout__25_percent_of_1000_institutions__between_22_and_28(db):
    flag = services.create_flag(data={"name": "quarter", "rollout_percent": "25"})
    rule = selectors.rule_of(flag)
    codes = _codes(1000)
    enabled = sum(rollout.evaluate(rule, code, "production").enabled for code in codes)
    assert 220 <= enabled <= 280, enabled
    assert rollout.rollout_share(rule, codes) == enabled / 1000


def test_rollout__raising_percent__never_turns_an_institution_off(db):
    flag = services.create_flag(data={"name": "ramp"})
    codes = _codes(1000)
    previous: set[str] = set()
    for step in range(0, 1001, 25):  # 0.0, 2.5, ... 100.0
        flag = services.update_flag(flag=flag, data={"rollout_percent": Decimal(step) / 10})
        rule = selectors.rule_of(flag)
        now = {c for c in codes if rollout.evaluate(rule, c, "production").enabled}
        assert previous <= now, step
        previous = now
    assert previous == set(codes)


def test_rollout__raising_percent_through_api__never_turns_off(writer, reader, db):
    codes = _codes(30)
    for code in codes:
        make_institution(code)
    writer.post("/api/v1/flags/", {"name": "ramp"}, format="json")
    previous: set[str] = set()
    for percent in ["0", "10.5", "33.3", "50", "75.2", "100"]:
        response = writer.patch("/api/v1/flags/ramp/", {"rollout_percent": percent}, format="json")
        assert response.status_code == 200
        now = {c for c in codes if _evaluate(reader, c)["flags"]["ramp"]["enabled"]}
        assert previous <= now
        previous = now
    assert previous == set(codes)


# -- kill switch: the next evaluation sees the change -----------------------------------------


def test_kill_switch__through_api__off_in_next_evaluation(writer, reader, bank):
    services.create_flag(data={"name": "risky", "everyone": True})
    assert _evaluate(reader, "DEUTDEFF")["flags"]["risky"]["enabled"] is True
    response = writer.patch("/api/v1/flags/risky/", {"everyone": False}, format="json")
    assert response.status_code == 200
    assert _evaluate(reader, "DEUTDEFF")["flags"]["risky"] == {
        "enabled": False,
        "reason": "STATIC",
    }


def test_kill_switch__after_commit_with_warm_cache__off_in_next_evaluation(
    writer, reader, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        make_institution("DEUTDEFF")
        services.create_flag(data={"name": "risky", "everyone": True})
    assert _evaluate(reader, "DEUTDEFF")["flags"]["risky"]["enabled"] is True
    assert len(flag_cache._memory) > 0  # the process holds a compiled copy now
    with django_capture_on_commit_callbacks(execute=True):
        writer.patch("/api/v1/flags/risky/", {"everyone": False}, format="json")
    assert _evaluate(reader, "DEUTDEFF")["flags"]["risky"]["enabled"] is False


def test_delete_flag__gone_from_next_evaluation(writer, reader, bank):
    services.create_flag(data={"name": "short-lived"})
    assert "short-lived" in _evaluate(reader, "DEUTDEFF")["flags"]
    assert writer.delete("/api/v1/flags/short-lived/").status_code == 204
    assert "short-lived" not in _evaluate(reader, "DEUTDEFF")["flags"]


def test_new_institution__evaluable_at_once(reader, django_capture_on_commit_callbacks, db):
    with django_capture_on_commit_callbacks(execute=True):
        services.create_flag(data={"name": "f"})
        make_institution("DEUTDEFF")
    _evaluate(reader, "DEUTDEFF")  # warm
    with django_capture_on_commit_callbacks(execute=True):
        make_institution("COBADEFF")
    assert _evaluate(reader, "COBADEFF")["institution"] == "COBADEFF"


def test_deleted_institution__404_at_once(reader, django_capture_on_commit_callbacks, db):
    with django_capture_on_commit_callbacks(execute=True):
        services.create_flag(data={"name": "f"})
        doomed = make_institution("COBADEFF")
    _evaluate(reader, "COBADEFF")  # warm
    with django_capture_on_commit_callbacks(execute=True):
        delete_institution(institution=doomed)
    assert reader.get(URL, {"institution": "COBADEFF"}).status_code == 404


def test_rolled_back_write__never_served(reader, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True):
        make_institution("DEUTDEFF")
        services.create_flag(data={"name": "f", "everyone": True})
    _evaluate(reader, "DEUTDEFF")
    assert len(flag_cache._memory) > 0
    # PT012: the read must happen inside the block, and the raise rolls it back.
    with pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012
        services.update_flag(flag=Flag.objects.get(name="f"), data={"everyone": False})
        # a read inside the failing transaction sees its own uncommitted row...
        assert selectors.evaluate_institution("DEUTDEFF").results[0].enabled is False
        raise RuntimeError("rolled back")
    # ...but it was not kept: the next evaluation serves the committed state
    assert _evaluate(reader, "DEUTDEFF")["flags"]["f"]["enabled"] is True


# -- scope ------------------------------------------------------------------------------------


def test_institution_key__no_parameter__evaluates_for_own_institution(
    make_key, client_for, bank, other
):
    services.create_flag(data={"name": "t", "institutions": [bank]})
    client = client_for(make_key("bank", institution=bank))
    data = _evaluate(client)
    assert data["institution"] == "DEUTDEFF"
    assert data["flags"]["t"]["enabled"] is True
    assert _evaluate(client, "DEUTDEFF")["institution"] == "DEUTDEFF"


def test_institution_key__another_institution__404(make_key, client_for, bank, other):
    client = client_for(make_key("bank", institution=bank))
    assert client.get(URL, {"institution": "BNPAFRPP"}).status_code == 404
    assert client.get(URL, {"institution": "ZZZZZZZZ"}).status_code == 404


def test_platform_key__no_institution__400_naming_it(reader, bank):
    response = reader.get(URL)
    assert response.status_code == 400
    assert "institution" in response.json()


def test_platform_key__unknown_institution__404(reader, bank):
    assert reader.get(URL, {"institution": "ZZZZZZZZ"}).status_code == 404
    assert reader.get(URL, {"institution": "not a bic"}).status_code == 404


def test_no_key__401(anon, bank):
    assert anon.get(URL, {"institution": "DEUTDEFF"}).status_code == 401


def test_staff_session__needs_institution(staff_client, bank):
    assert staff_client.get(URL).status_code == 400
    assert staff_client.get(URL, {"institution": "DEUTDEFF"}).status_code == 200


def test_inactive_institution__still_evaluated(reader, db):
    make_institution("COBADEFF", is_active=False)
    services.create_flag(data={"name": "f", "everyone": True})
    assert _evaluate(reader, "COBADEFF")["flags"]["f"]["enabled"] is True


# -- ETag -------------------------------------------------------------------------------------


def test_etag__if_none_match__304_until_a_change(reader, writer, bank):
    services.create_flag(data={"name": "f"})
    first = reader.get(URL, {"institution": "DEUTDEFF"})
    etag = first["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    again = reader.get(URL, {"institution": "DEUTDEFF"}, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["ETag"] == etag
    writer.patch("/api/v1/flags/f/", {"everyone": True}, format="json")
    changed = reader.get(URL, {"institution": "DEUTDEFF"}, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_etag__differs_per_institution(reader, bank, other):
    services.create_flag(data={"name": "f", "institutions": [bank]})
    a = reader.get(URL, {"institution": "DEUTDEFF"})["ETag"]
    b = reader.get(URL, {"institution": "BNPAFRPP"})["ETag"]
    assert a != b


# -- the hot path: constant queries, one cache read -------------------------------------------


def _make_flags(n: int, bank) -> None:
    for i in range(n):
        services.create_flag(
            data={"name": f"flag-{i:03d}", "rollout_percent": i % 100, "institutions": [bank]}
        )


@pytest.mark.parametrize("count", [5, 50])
def test_evaluate__query_count__constant_cold_and_zero_warm(
    reader, django_assert_num_queries, django_capture_on_commit_callbacks, count
):
    with django_capture_on_commit_callbacks(execute=True):
        _make_flags(count, make_institution("DEUTDEFF"))
    reader.get("/api/v1/flags/")  # authenticate once (the key is remembered in process)
    flag_cache.clear_local()
    with django_assert_num_queries(3):  # targeting, flags, this institution's existence
        assert len(_evaluate(reader, "DEUTDEFF")["flags"]) == count
    with django_assert_num_queries(0):
        assert len(_evaluate(reader, "DEUTDEFF")["flags"]) == count


def test_evaluate__cold__reads_one_institution_not_all(reader, django_capture_on_commit_callbacks):
    """A cold evaluation's time must not grow with the number of institutions (issue 14: it
    loaded every code, 3 ms at 10 institutions and 7.6 ms at 10,000): it asks whether the one
    institution exists, once per compiled flag set."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with django_capture_on_commit_callbacks(execute=True):
        bank = make_institution("DEUTDEFF")
        for i in range(30):
            make_institution(f"BANKDE{i:02d}")
        _make_flags(3, bank)
    reader.get("/api/v1/flags/")  # authenticate once
    flag_cache.clear_local()
    with CaptureQueriesContext(connection) as queries:
        assert len(_evaluate(reader, "DEUTDEFF")["flags"]) == 3
    institution_reads = [
        q["sql"] for q in queries.captured_queries if 'FROM "configuration_institution"' in q["sql"]
    ]
    assert institution_reads, "the institution's existence is checked"
    assert all("WHERE" in sql and "DEUTDEFF" in sql for sql in institution_reads)
    with CaptureQueriesContext(connection) as again:
        _evaluate(reader, "BANKDE00")  # another institution: one more small query
    assert len(again.captured_queries) == 1


@pytest.mark.redis  # round trips: local memory's get_many is a get per key, Redis's is one MGET
def test_evaluate__one_cache_read_per_warm_request(
    reader, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks(execute=True):
        _make_flags(50, make_institution("DEUTDEFF"))
    _evaluate(reader, "DEUTDEFF")  # warm
    from django.core.cache import cache

    calls: list[str] = []
    for name in ("get", "get_many", "set", "add", "delete", "delete_many"):
        original = getattr(cache, name)

        def spy(key, *args, _original=original, _name=name, **kwargs):
            if not str(key).startswith("throttle:"):  # the throttle's counter is not ours
                calls.append(_name)
            return _original(key, *args, **kwargs)

        monkeypatch.setattr(cache, name, spy)
    _evaluate(reader, "DEUTDEFF")
    assert calls == ["get_many"]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_kill_switch__real_redis__another_servers_copy_is_dropped(writer, reader):
    """Two servers share Redis: server A holds a compiled copy; a kill switch committed by
    server B changes the token in Redis, so A's next request does not use its copy (kept
    under the old token, which is never current again)."""
    make_institution("DEUTDEFF")
    services.create_flag(data={"name": "risky", "everyone": True})
    assert _evaluate(reader, "DEUTDEFF")["flags"]["risky"]["enabled"] is True
    assert len(flag_cache._memory) == 1
    response = writer.patch("/api/v1/flags/risky/", {"everyone": False}, format="json")
    assert response.status_code == 200
    assert _evaluate(reader, "DEUTDEFF")["flags"]["risky"] == {
        "enabled": False,
        "reason": "STATIC",
    }


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_cache_outage__served_from_database(reader, settings):
    make_institution("DEUTDEFF")
    services.create_flag(data={"name": "f", "everyone": True})
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            **settings.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        },
    }
    flag_cache.clear_local()
    assert _evaluate(reader, "DEUTDEFF")["flags"]["f"]["enabled"] is True
    assert len(flag_cache._memory) == 0  # nothing kept without a shared generation


# -- rendering --------------------------------------------------------------------------------


def test_evaluate__browsable_api_and_indent__rendered_as_negotiated(staff_client, reader, bank):
    services.create_flag(data={"name": "f"})
    html = staff_client.get(URL, {"institution": "DEUTDEFF"}, HTTP_ACCEPT="text/html")
    assert html.status_code == 200
    assert html["Content-Type"].startswith("text/html")
    assert b"DEUTDEFF" in html.content
    pretty = reader.get(URL, {"institution": "DEUTDEFF"}, HTTP_ACCEPT="application/json; indent=4")
    assert pretty.status_code == 200
    assert b'\n    "institution"' in pretty.content
    plain = reader.get(URL, {"institution": "DEUTDEFF"})
    assert plain["Content-Type"] == "application/json"
    assert plain.content.startswith(b'{"institution":"DEUTDEFF"')


@pytest.mark.redis
def test_ofrep_bulk__real_redis__one_get_per_warm_request(
    reader, django_capture_on_commit_callbacks, monkeypatch
):
    import redis

    with django_capture_on_commit_callbacks(execute=True):
        _make_flags(50, make_institution("DEUTDEFF"))
    body = {"context": {"targetingKey": "DEUTDEFF"}}
    assert reader.post("/ofrep/v1/evaluate/flags", body, format="json").status_code == 200
    commands: list[str] = []
    original = redis.client.Redis.execute_command

    def spy(self, *args, **kwargs):
        commands.append(str(args[0]).upper())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Redis, "execute_command", spy)
    response = reader.post("/ofrep/v1/evaluate/flags", body, format="json")
    assert response.status_code == 200
    assert len(response.json()["flags"]) == 50
    assert commands == [
        "MGET"
    ]  # the epoch and the flags token; the throttle batches its own counting
