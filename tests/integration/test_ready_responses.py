"""Kept answers (cbpconfig/ready.py): a warm hot read answered before Django and DRF is the
answer the full path gives — status, body bytes and every header but X-Request-ID — whatever
the query, If-None-Match, scope, revocation, throttling or a change made through the ORM in
between; its metrics are the full path's; and it costs no database query. Requests go through
the real WSGI application (the dispatcher gunicorn serves), once with kept answers and once
without."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY

from calendars.models import Calendar, Holiday
from cbpconfig.keys import revoke_key
from cbpconfig.models import APIKey
from cbpconfig.ready import READY
from configuration.models import Configuration, ConfigurationValue, Institution
from flags.models import Flag
from tests.factories import session
from tests.support.wsgi import wsgi_call
from windows.models import ProcessingWindow, WindowOverride

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

AT = "2026-06-02T10:00:00Z"
HOT = [
    f"/api/v1/windows/RTGS/status?at={AT}",
    "/api/v1/windows/RTGS/status?at=2026-06-06T10:00:00Z",
    "/api/v1/windows/RTGS/sessions?start=2026-06-01&end=2026-06-30",
    "/api/v1/calendars/TGT/business-days/add?date=2026-06-02&days=10",
    "/api/v1/calendars/TGT/business-days/add?days=10&date=2026-06-02",
    "/api/v1/calendars/TGT/business-days/add?date=2026-12-24&days=-3&convention=preceding",
    "/api/v1/calendars/TGT/business-days/check?date=2026-12-25",
    "/api/v1/calendars/TGT/business-days/count?start=2026-01-01&end=2026-12-31",
    "/api/v1/calendars/TGT/business-days?start=2026-01-01&end=2026-12-31",
    f"/api/v1/institutions/PERFDEFF/configuration?at={AT}",
    f"/api/v1/configurations/perf.k001/resolve?institution=PERFDEFF&at={AT}",
    "/api/v1/flags/evaluate?institution=PERFDEFF",
]


@pytest.fixture(scope="module")
def fast():
    from cbpconfig.lean import application

    return application(ready=True)


@pytest.fixture(scope="module")
def full():
    from cbpconfig.lean import application

    return application(ready=False)


def call(app, path: str, key: str | None, method: str = "GET", body=None, **headers):
    return wsgi_call(app, method, path, key, body, **headers)


def comparable(answer):
    status, headers, body = answer
    kept = sorted((k.lower(), v) for k, v in headers if k.lower() not in ("x-request-id", "date"))
    return status, kept, body


def etag_of(answer) -> str:
    return next(v for k, v in answer[1] if k.lower() == "etag")


def hits() -> float:
    return READY.hit._value.get()


@pytest.fixture
def estate(make_key):
    writer = make_key("writer", write=True)
    cal = Calendar.objects.create(code="TGT", name="TARGET2", timezone="Europe/Berlin")
    for day in ("2026-01-01", "2026-04-03", "2026-04-06", "2026-05-01", "2026-12-25"):
        Holiday.objects.create(calendar=cal, date=dt.date.fromisoformat(day), name="Holiday")
    bank = Institution.objects.create(
        code="PERFDEFF", name="Perf", country="DE", timezone="Europe/Berlin", calendar=cal
    )
    other = Institution.objects.create(
        code="OTHRDEFF", name="Other", country="DE", timezone="Europe/Berlin"
    )
    return {
        "writer": writer,
        "reader": make_key("reader"),
        "own": make_key("own", institution=bank),
        "other": make_key("other", institution=other),
        "calendar": cal,
        "bank": bank,
    }


@pytest.fixture
def seeded(estate, full):
    w = estate["writer"]

    def post(path, body):
        status, _, payload = call(full, path, w, method="POST", body=body)
        assert status == 201, (path, payload)

    post(
        "/api/v1/windows/",
        {
            "code": "RTGS",
            "name": "RTGS day",
            "calendar": "TGT",
            "payment_type": "RTGS",
            "sessions": [session()],
        },
    )
    for i in range(3):
        post(
            "/api/v1/configurations/",
            {"key": f"perf.k{i:03d}", "description": "x", "value_type": "integer", "default": i},
        )
    for i in range(3):
        post(
            "/api/v1/flags/",
            {"name": f"perf-f{i:02d}", "everyone": None, "rollout_percent": "50.0"},
        )
    return estate


def same(fast, full, path, key, method="GET", body=None, **headers):
    """The fast app answers twice (the second from a kept answer when it may be kept), the
    full one once; all three answers must be equal but for the request id."""
    first = call(fast, path, key, method, body, **headers)
    second = call(fast, path, key, method, body, **headers)
    reference = call(full, path, key, method, body, **headers)
    assert comparable(first) == comparable(reference), path
    assert comparable(second) == comparable(reference), path
    return reference


def test_kept_answers__equal_to_the_full_path(seeded, fast, full):
    key = seeded["reader"]
    before = hits()
    for path in HOT:
        reference = same(fast, full, path, key)
        assert reference[0] == 200, (path, reference[2])
        tag = etag_of(reference)
        assert same(fast, full, path, key, IF_NONE_MATCH=tag)[0] == 304
        assert same(fast, full, path, key, IF_NONE_MATCH=f'"nope", {tag}')[0] == 304
        assert same(fast, full, path, key, IF_NONE_MATCH='"nope"')[0] == 200
        assert same(fast, full, path, key, IF_NONE_MATCH="*")[0] == 304
        assert same(fast, full, path, key, X_REQUEST_ID="caller-id-1")[0] == 200
        echoed = call(fast, path, key, X_REQUEST_ID="caller-id-1")
        assert ("X-Request-ID", "caller-id-1") in echoed[1]
        assert same(fast, full, path, key, ACCEPT="application/json")[0] == 200
    assert hits() - before >= len(HOT) * 6  # the second of each pair was a kept answer


def test_kept_answers__head_and_other_accepts__equal(seeded, fast, full):
    key = seeded["reader"]
    for path in HOT[:4]:
        first = call(fast, path, key, method="HEAD")
        second = call(fast, path, key, method="HEAD")
        reference = call(full, path, key, method="HEAD")
        assert comparable(first) == comparable(second) == comparable(reference)
        assert reference[2] == b""
        assert same(fast, full, path, key, ACCEPT="application/json; indent=2")[0] == 200


def test_kept_answers__errors_and_unknown_params__equal_never_kept(seeded, fast, full):
    key = seeded["reader"]
    before = hits()
    for path in [
        "/api/v1/windows/RTGS/status?at=2026-06-02T10:00:00",  # naive: 400
        "/api/v1/windows/NOPE/status?at=2026-06-02T10:00:00Z",
        "/api/v1/calendars/TGT/business-days/add?date=2026-06-02",
        "/api/v1/calendars/TGT/business-days/add?date=2026-06-02&days=x",
        "/api/v1/institutions/NOPEDEFF/configuration?at=2026-06-02T10:00:00Z",
        "/api/v1/flags/evaluate",
        "/api/v1/flags/evaluate?institution=NOPEDEFF",
        "/api/v1/windows/RTGS/status",  # "now": never kept
    ]:
        status, _, _ = call(full, path, key)
        assert status in (200, 400, 404), path
        if path.endswith("/status"):
            continue  # "now" moves between the calls
        same(fast, full, path, key)
    assert hits() == before


def test_kept_answers__scope__institution_keys(seeded, fast, full):
    own, other = seeded["own"], seeded["other"]
    config = f"/api/v1/institutions/PERFDEFF/configuration?at={AT}"
    assert same(fast, full, config, own)[0] == 200
    assert same(fast, full, config, other)[0] == 404  # another institution's: never kept
    assert same(fast, full, "/api/v1/flags/evaluate", own)[0] == 200
    assert same(fast, full, "/api/v1/flags/evaluate", other)[0] == 200  # its own institution
    assert same(fast, full, "/api/v1/flags/evaluate?institution=PERFDEFF", other)[0] == 404
    assert same(fast, full, config, "not-a.key")[0] == 401


def test_kept_answers__revoked_key__401_on_next_request(seeded, fast, full):
    key = seeded["reader"]
    path = HOT[0]
    same(fast, full, path, key)
    revoke_key(key=APIKey.objects.get(name="reader"))
    assert same(fast, full, path, key)[0] == 401


def test_kept_answers__key_revoked_elsewhere__seen_through_the_keys_token(seeded, fast, full):
    """Another worker's revocation reaches this one through the keys' token, not forget_keys."""
    key = seeded["reader"]
    path = HOT[3]
    assert call(fast, path, key)[0] == 200
    assert call(fast, path, key)[0] == 200
    APIKey.objects.filter(name="reader").update(revoked=True)  # no signal: no new token yet
    from cbpconfig import cache as coherence
    from cbpconfig.api.authentication import KEYS

    coherence.bump(KEYS)  # what the other worker's save did
    assert call(fast, path, key)[0] == 401


@pytest.mark.parametrize(
    "change",
    ["holiday", "override", "value", "flag", "institution_calendar", "window_rule", "epoch"],
)
def test_kept_answers__orm_change__next_request_sees_it(seeded, fast, full, change):
    key = seeded["reader"]
    answers = {path: same(fast, full, path, key) for path in HOT}
    cal = seeded["calendar"]
    if change == "holiday":
        Holiday.objects.create(calendar=cal, date=dt.date(2026, 6, 3), name="New")
    elif change == "override":
        WindowOverride.objects.create(
            window=ProcessingWindow.objects.get(code="RTGS"),
            date=dt.date(2026, 6, 2),
            closed=True,
            reason="test",
        )
    elif change == "value":
        ConfigurationValue.objects.create(
            configuration=Configuration.objects.get(key="perf.k001"),
            institution=seeded["bank"],
            value=99,
            effective_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
    elif change == "flag":
        flag = Flag.objects.get(name="perf-f00")
        flag.everyone = True
        flag.save()
    elif change == "institution_calendar":
        Institution.objects.filter(code="PERFDEFF").update(name="Renamed")  # no signal
        inst = Institution.objects.get(code="PERFDEFF")
        inst.name = "Renamed again"
        inst.save()
    elif change == "window_rule":
        window = ProcessingWindow.objects.get(code="RTGS")
        window.is_active = False
        window.save()
    else:
        from cbpconfig.cache import renew_epoch

        renew_epoch()
    changed = 0
    for path in HOT:
        after = same(fast, full, path, key)
        changed += comparable(after) != comparable(answers[path])
    if change not in ("institution_calendar", "epoch"):
        assert changed, change


def test_kept_answers__throttled_key__same_answers(seeded, fast, full, make_key):
    a, b = make_key("throttle-a"), make_key("throttle-b")
    path = HOT[3]
    with override_settings(CBP_THROTTLE_RATE="4/minute"):
        fast_answers = [comparable(call(fast, path, a)) for _ in range(6)]
        full_answers = [comparable(call(full, path, b)) for _ in range(6)]
    assert [s for s, _, _ in fast_answers] == [s for s, _, _ in full_answers]
    assert [s for s, _, _ in fast_answers] == [200, 200, 200, 200, 429, 429]

    def without_retry(answer):
        status, headers, body = answer
        return status, [(k, v) for k, v in headers if k != "retry-after"], body

    assert [without_retry(x) for x in fast_answers] == [without_retry(x) for x in full_answers]


def _samples() -> dict[tuple, float]:
    out = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            name = sample.name
            if name.endswith(("_sum", "_bucket", "_created", "_gsum", "_gcount")):
                continue
            if metric.type not in ("counter", "histogram", "summary"):
                continue
            out[(name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


# Counters of how an answer was found, not of what was answered: they differ by design.
_INTERNAL = (
    "process_",
    "python_gc_",
    "cbp_ready_responses",
    "cbp_dependency_",
    "cbp_window_compile",
    "cbp_businessday_cache",
    "cbp_configuration_resolution_cache",
    "cbp_cache_",
)


def _delta(before, after):
    return {
        k: after[k] - before.get(k, 0.0)
        for k in after
        if after[k] != before.get(k, 0.0) and not k[0].startswith(_INTERNAL)
    }


def test_kept_answers__metrics_as_the_full_path(seeded, fast, full):
    key = seeded["reader"]
    for path in HOT:
        call(fast, path, key)
        call(fast, path, key)
        call(full, path, key)
        before = _samples()
        call(full, path, key)
        by_full = _delta(before, _samples())
        before = _samples()
        hit = hits()
        call(fast, path, key)
        assert hits() == hit + 1
        by_fast = _delta(before, _samples())
        assert by_fast == by_full, path


def test_warm_hot_reads__no_query(seeded, fast, django_assert_num_queries):
    key, own = seeded["reader"], seeded["own"]
    for path in HOT:
        call(fast, path, key)
        call(fast, path, own)
        with django_assert_num_queries(0):
            assert call(fast, path, key)[0] == 200
    # OFREP (the bulk answer kept by its body's digest, the single flag answered by the full
    # lean path) and "now" answers: still no query when warm.
    ofrep = {"context": {"targetingKey": "PERFDEFF"}}
    for path in ("/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/perf-f01"):
        call(fast, path, key, method="POST", body=ofrep)
        with django_assert_num_queries(0):
            assert call(fast, path, key, method="POST", body=ofrep)[0] == 200
    for path in (
        "/api/v1/windows/RTGS/status",
        "/api/v1/institutions/PERFDEFF/configuration",
        "/api/v1/flags/evaluate",
    ):
        call(fast, path, own)
        with django_assert_num_queries(0):
            assert call(fast, path, own)[0] == 200


OFREP_BULK = "/ofrep/v1/evaluate/flags"


def _ofrep(code: str, **extra) -> dict:
    return {"context": {"targetingKey": code, **extra}}


def test_kept_answers__ofrep_bulk_post__kept_by_body_equal_to_the_full_path(seeded, fast, full):
    key, own = seeded["reader"], seeded["own"]
    before = hits()
    answers = {}
    for code in ("PERFDEFF", "OTHRDEFF"):
        reference = same(fast, full, OFREP_BULK, key, "POST", _ofrep(code))
        assert reference[0] == 200, reference[2]
        answers[code] = reference
        tag = etag_of(reference)
        assert same(fast, full, OFREP_BULK, key, "POST", _ofrep(code), IF_NONE_MATCH=tag)[0] == 304
    assert hits() - before == 4  # the second of each pair
    # The body is part of the key: another institution's context is another answer.
    assert answers["PERFDEFF"][2] != answers["OTHRDEFF"][2]
    # Scope is checked on every path: the institution key may ask only for its own.
    assert same(fast, full, OFREP_BULK, own, "POST", _ofrep("PERFDEFF"))[0] == 200
    before = hits()
    assert same(fast, full, OFREP_BULK, own, "POST", _ofrep("OTHRDEFF"))[0] == 403
    assert hits() == before  # a refusal is never kept


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[1, 2]",
        b'{"context": {}}',
        b'{"context": {"targetingKey": 7}}',
        b'{"context": {"targetingKey": "NOPEDEFF"}}',
        b"[" * 3000 + b"]" * 3000,
        b'{"context": "x"}',
    ],
)
def test_kept_answers__ofrep_bad_bodies__equal_never_kept(seeded, fast, full, body):
    key = seeded["reader"]
    before = hits()
    first, second, reference = (
        wsgi_call(app, "POST", OFREP_BULK, key, raw_body=body) for app in (fast, fast, full)
    )
    assert reference[0] == 400, reference[2]
    assert comparable(first) == comparable(reference)
    assert comparable(second) == comparable(reference)
    assert hits() == before


def test_kept_answers__large_post_body__full_path_every_time(seeded, fast, full):
    """A body over 8 KiB is not read ahead: answered, equal, never kept."""
    key = seeded["reader"]
    body = _ofrep("PERFDEFF", note="x" * 9000)
    before = hits()
    assert same(fast, full, OFREP_BULK, key, "POST", body)[0] == 200
    assert hits() == before


def test_kept_answers__writes_by_post__never_kept(seeded, fast, full):
    """A POST that writes goes the full way every time: the second equal POST is refused as a
    duplicate (it is not the first one's 201 replayed), and the first created the row."""
    key = seeded["writer"]
    body = {"key": "perf.new", "description": "x", "value_type": "integer", "default": 1}
    before = hits()
    first = call(fast, "/api/v1/configurations/", key, "POST", body)
    second = call(fast, "/api/v1/configurations/", key, "POST", body)
    assert first[0] == 201, first[2]
    assert second[0] == 409, second[2]
    assert Configuration.objects.filter(key="perf.new").count() == 1
    assert hits() == before


def test_kept_answers__ofrep_after_a_flag_change__next_request_sees_it(seeded, fast, full):
    key = seeded["reader"]
    body = _ofrep("PERFDEFF")
    before = same(fast, full, OFREP_BULK, key, "POST", body)
    flag = Flag.objects.get(name="perf-f00")
    flag.everyone = not any(
        f["key"] == "perf-f00" and f["value"] for f in json.loads(before[2])["flags"]
    )
    flag.save()
    after = same(fast, full, OFREP_BULK, key, "POST", body)
    assert after[0] == 200
    values = {f["key"]: f["value"] for f in json.loads(after[2])["flags"]}
    assert values["perf-f00"] is flag.everyone


def test_kept_answers__ofrep_metrics_as_the_full_path(seeded, fast, full):
    key = seeded["reader"]
    body = _ofrep("PERFDEFF")
    call(fast, OFREP_BULK, key, "POST", body)
    call(fast, OFREP_BULK, key, "POST", body)
    call(full, OFREP_BULK, key, "POST", body)
    before = _samples()
    call(full, OFREP_BULK, key, "POST", body)
    by_full = _delta(before, _samples())
    before = _samples()
    hit = hits()
    call(fast, OFREP_BULK, key, "POST", body)
    assert hits() == hit + 1
    assert _delta(before, _samples()) == by_full


def test_kept_answers__one_key_for_now__kept_until_the_next_scheduled_value(seeded, fast, full):
    """A one-key answer for "now" is kept (its body does not name the instant) only until the
    next value of that key takes effect: the first request after it answers the new value,
    without any write in between. An institution's configuration for "now" names the instant:
    never kept."""
    import time

    from django.utils import timezone

    key = seeded["reader"]
    path = "/api/v1/configurations/perf.k001/resolve?institution=PERFDEFF"
    takes_effect = timezone.now() + dt.timedelta(seconds=2)
    ConfigurationValue.objects.create(
        configuration=Configuration.objects.get(key="perf.k001"),
        institution=seeded["bank"],
        value=4242,
        effective_from=takes_effect,
    )
    before = hits()
    first = same(fast, full, path, key)
    assert first[0] == 200
    assert json.loads(first[2])["value"] == 1  # the default, until the value takes effect
    assert hits() == before + 1  # the second of the pair was a kept answer
    time.sleep(max(0.0, (takes_effect - timezone.now()).total_seconds()) + 0.2)
    later = hits()
    after = same(fast, full, path, key)
    assert json.loads(after[2])["value"] == 4242
    assert json.loads(after[2])["source"] == "institution"
    assert hits() == later + 1  # the new answer is kept in turn (nothing else scheduled)
    before = hits()
    answers = [call(fast, "/api/v1/institutions/PERFDEFF/configuration", key) for _ in range(2)]
    assert [a[0] for a in answers] == [200, 200]
    assert json.loads(answers[0][2])["at"] != json.loads(answers[1][2])["at"]
    assert hits() == before
