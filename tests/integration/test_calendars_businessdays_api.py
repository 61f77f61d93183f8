"""Business-day answers over the API: the contract's facts on TARGET2 (ECB holidays), joint
calendars, ETag/304, bad parameters, query counts and freshness after a change."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from django.test import override_settings

from calendars import cache as calendar_cache
from calendars import services
from calendars.models import Calendar, Holiday

# Committed writes: warm caches are only kept for committed data (cbpconfig.cache).
pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/calendars/"
LOCMEM = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "cbp-cal-test",
    }
}


@pytest.fixture
def target2(writer):
    """TARGET2 with the ECB holidays of 2026-2028, imported through the API."""
    assert (
        writer.post(URL, {"code": "TARGET2", "name": "TARGET2"}, format="json").status_code == 201
    )
    response = writer.post(
        f"{URL}TARGET2/holidays/import",
        {"market": "ECB", "years": [2026, 2027, 2028]},
        format="json",
    )
    assert response.status_code == 200, response.content
    return Calendar.objects.get(code="TARGET2")


@pytest.fixture
def usfed(db):
    cal = services.create_calendar(
        data={"code": "USFED", "name": "Fedwire", "timezone": "America/New_York"}
    )
    for day, name in [
        (date(2026, 7, 3), "Independence Day (observed)"),
        (date(2026, 12, 25), "Christmas Day"),
        (date(2026, 11, 26), "Thanksgiving Day"),
    ]:
        services.create_holiday(calendar=cal, data={"date": day, "name": name})
    return cal


def bd(client, codes, operation, **params):
    path = f"{URL}{codes}/business-days" + (f"/{operation}" if operation else "")
    return client.get(path, params)


# --- the contract's facts ----------------------------------------------------------------------


def test_check__target2_closed_good_friday_and_easter_monday_open_27_dec_2027(reader, target2):
    for day, name in [("2026-04-03", "Good Friday"), ("2026-04-06", "Easter Monday")]:
        response = bd(reader, "TARGET2", "check", date=day)
        assert response.status_code == 200
        assert response.json() == {
            "date": day,
            "is_business_day": False,
            "reasons": [{"calendar": "TARGET2", "kind": "holiday", "name": name}],
        }
    open_day = bd(reader, "TARGET2", "check", date="2027-12-27").json()
    assert open_day == {"date": "2027-12-27", "is_business_day": True, "reasons": []}


def test_check__weekend__reason_weekend(reader, target2):
    body = bd(reader, "TARGET2", "check", date="2026-04-04").json()
    assert body["is_business_day"] is False
    assert body["reasons"] == [{"calendar": "TARGET2", "kind": "weekend", "name": "Saturday"}]


def test_adjust__good_friday__following_7_april_preceding_2_april(reader, target2):
    def adjust(convention):
        response = bd(reader, "TARGET2", "adjust", date="2026-04-03", convention=convention)
        assert response.status_code == 200, response.content
        return response.json()

    assert adjust("following") == {
        "date": "2026-04-03",
        "convention": "following",
        "result": "2026-04-07",
    }
    assert adjust("preceding")["result"] == "2026-04-02"
    assert adjust("unadjusted")["result"] == "2026-04-03"


def test_adjust__30_april_2028__modified_following_28_april(reader, target2):
    body = bd(reader, "TARGET2", "adjust", date="2028-04-30", convention="modified_following")
    assert body.json()["result"] == "2028-04-28"
    added = bd(reader, "TARGET2", "add", date="2028-04-30", days=0, convention="modified_following")
    assert added.json()["result"] == "2028-04-28"


def test_count__december_2026__22_target2_business_days(reader, target2):
    response = bd(reader, "TARGET2", "count", start="2026-12-01", end="2027-01-01")
    assert response.json() == {"start": "2026-12-01", "end": "2027-01-01", "count": 22}
    listed = bd(reader, "TARGET2", None, start="2026-12-01", end="2026-12-31").json()
    assert len(listed["business_days"]) == 22
    assert "2026-12-25" not in listed["business_days"]
    assert listed["business_days"][0] == "2026-12-01"
    assert listed["business_days"][-1] == "2026-12-31"


def test_count__end_before_start__negative_as_numpy(reader, target2):
    holidays = np.array(
        [str(d) for d in Holiday.objects.values_list("date", flat=True)], dtype="datetime64[D]"
    )
    expected = np.busday_count("2027-01-01", "2026-12-01", holidays=holidays)
    body = bd(reader, "TARGET2", "count", start="2027-01-01", end="2026-12-01").json()
    assert body["count"] == int(expected) == -21  # numpy counts (end, start] negated


def test_add__matches_numpy_busday_offset(reader, target2):
    holidays = np.array(
        [str(d) for d in Holiday.objects.values_list("date", flat=True)], dtype="datetime64[D]"
    )
    cal = np.busdaycalendar(weekmask="1111100", holidays=holidays)
    start = date(2026, 3, 28)
    conventions = {
        "following": "following",
        "preceding": "preceding",
        "modified_following": "modifiedfollowing",
        "modified_preceding": "modifiedpreceding",
    }
    for offset in range(0, 40, 3):
        day = start + timedelta(days=offset)
        for days in (-25, -1, 0, 1, 2, 250):
            for api, roll in conventions.items():
                body = bd(reader, "TARGET2", "add", date=day, days=days, convention=api).json()
                expected = np.busday_offset(str(day), days, roll=roll, busdaycal=cal)
                assert body == {
                    "date": day.isoformat(),
                    "days": days,
                    "convention": api,
                    "result": str(expected),
                }, (day, days, api)


def test_add__default_convention_following(reader, target2):
    body = bd(reader, "TARGET2", "add", date="2026-04-03", days=1).json()
    assert body == {
        "date": "2026-04-03",
        "days": 1,
        "convention": "following",
        "result": "2026-04-08",
    }


def test_next_and_previous__strictly_after_and_before(reader, target2):
    assert bd(reader, "TARGET2", "next", date="2026-04-02").json() == {
        "date": "2026-04-02",
        "result": "2026-04-07",
    }
    assert bd(reader, "TARGET2", "previous", date="2026-04-07").json() == {
        "date": "2026-04-07",
        "result": "2026-04-02",
    }
    # A business day's next is the following business day, not itself.
    assert bd(reader, "TARGET2", "next", date="2026-04-07").json()["result"] == "2026-04-08"


def test_trailing_slash__also_answers(reader, target2):
    response = reader.get(f"{URL}TARGET2/business-days/check/", {"date": "2026-04-03"})
    assert response.status_code == 200
    assert response.json()["is_business_day"] is False


# --- joint calendars -------------------------------------------------------------------------


def test_joint__business_day_only_if_in_every_calendar(reader, target2, usfed):
    july3 = bd(reader, "TARGET2+USFED", "check", date="2026-07-03").json()
    assert july3["is_business_day"] is False
    assert july3["reasons"] == [
        {"calendar": "USFED", "kind": "holiday", "name": "Independence Day (observed)"}
    ]
    good_friday = bd(reader, "TARGET2+USFED", "check", date="2026-04-03").json()
    assert good_friday["reasons"] == [
        {"calendar": "TARGET2", "kind": "holiday", "name": "Good Friday"}
    ]
    christmas = bd(reader, "TARGET2+USFED", "check", date="2026-12-25").json()
    assert christmas["reasons"] == [
        {"calendar": "TARGET2", "kind": "holiday", "name": "Christmas Day"},
        {"calendar": "USFED", "kind": "holiday", "name": "Christmas Day"},
    ]
    saturday = bd(reader, "USFED+TARGET2", "check", date="2026-07-04").json()
    assert [r["calendar"] for r in saturday["reasons"]] == ["USFED", "TARGET2"]
    assert {r["kind"] for r in saturday["reasons"]} == {"weekend"}


def test_joint__arithmetic_skips_every_members_holidays(reader, target2, usfed):
    assert bd(reader, "TARGET2+USFED", "next", date="2026-07-02").json()["result"] == "2026-07-06"
    assert bd(reader, "TARGET2", "next", date="2026-07-02").json()["result"] == "2026-07-03"
    joint = bd(reader, "TARGET2+USFED", "count", start="2026-12-01", end="2027-01-01").json()
    assert joint["count"] == 22  # Christmas shared; Thanksgiving is in November
    nov = bd(reader, "TARGET2+USFED", "count", start="2026-11-01", end="2026-12-01").json()
    single = bd(reader, "TARGET2", "count", start="2026-11-01", end="2026-12-01").json()
    assert nov["count"] == single["count"] - 1
    listed = bd(reader, "TARGET2+USFED", None, start="2026-11-25", end="2026-11-27").json()
    assert listed["business_days"] == ["2026-11-25", "2026-11-27"]


def test_joint__unknown_member__404_names_it(reader, target2):
    response = bd(reader, "TARGET2+NOPE", "check", date="2026-04-03")
    assert response.status_code == 404
    assert "NOPE" in response.json()["detail"]


def test_joint__weekends_cover_every_day__400(reader, target2):
    services.create_calendar(data={"code": "ODD", "name": "odd", "weekend_days": [1, 2, 3, 4, 5]})
    response = bd(reader, "TARGET2+ODD", "add", date="2026-04-03", days=1)
    assert response.status_code == 400
    assert "codes" in response.json()
    assert bd(reader, "TARGET2+ODD", "check", date="2026-04-08").json()["is_business_day"] is False


# --- ETag and 304 ------------------------------------------------------------------------------


def test_etag__304_on_if_none_match_and_changes_with_params_and_data(writer, target2):
    first = bd(writer, "TARGET2", "check", date="2026-05-01")
    etag = first["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    again = writer.get(
        f"{URL}TARGET2/business-days/check", {"date": "2026-05-01"}, HTTP_IF_NONE_MATCH=etag
    )
    assert again.status_code == 304
    assert again["ETag"] == etag
    assert bd(writer, "TARGET2", "check", date="2026-05-04")["ETag"] != etag
    assert bd(writer, "TARGET2", "add", date="2026-05-01", days=0)["ETag"] != etag
    # A holiday change makes the old ETag stale: a full answer again.
    writer.patch(f"{URL}TARGET2/holidays/2026-05-01/", {"name": "Tag der Arbeit"}, format="json")
    after = writer.get(
        f"{URL}TARGET2/business-days/check", {"date": "2026-05-01"}, HTTP_IF_NONE_MATCH=etag
    )
    assert after.status_code == 200
    assert after.json()["reasons"][0]["name"] == "Tag der Arbeit"


def test_etag__every_operation_sends_one(reader, target2):
    for operation, params in [
        ("check", {"date": "2026-04-03"}),
        ("add", {"date": "2026-04-03", "days": 2}),
        ("adjust", {"date": "2026-04-03", "convention": "preceding"}),
        ("next", {"date": "2026-04-03"}),
        ("previous", {"date": "2026-04-03"}),
        ("count", {"start": "2026-04-01", "end": "2026-05-01"}),
        (None, {"start": "2026-04-01", "end": "2026-05-01"}),
    ]:
        response = bd(reader, "TARGET2", operation, **params)
        assert response.status_code == 200
        path = f"{URL}TARGET2/business-days" + (f"/{operation}" if operation else "")
        cached = reader.get(path, params, HTTP_IF_NONE_MATCH=response["ETag"])
        assert cached.status_code == 304, operation


# --- bad parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "params", "field"),
    [
        ("check", {}, "date"),
        ("check", {"date": "2026-02-30"}, "date"),
        ("check", {"date": "03/04/2026"}, "date"),
        ("check", {"date": "1899-12-31"}, "date"),
        ("check", {"date": "2200-01-01"}, "date"),
        ("add", {"date": "2026-04-03"}, "days"),
        ("add", {"date": "2026-04-03", "days": "two"}, "days"),
        ("add", {"date": "2026-04-03", "days": "1.5"}, "days"),
        ("add", {"date": "2026-04-03", "days": 100001}, "days"),
        ("add", {"date": "2026-04-03", "days": -100001}, "days"),
        ("add", {"date": "2026-04-03", "days": 1, "convention": "nearest"}, "convention"),
        ("add", {"date": "2026-04-03", "days": 1, "convention": "unadjusted"}, "convention"),
        ("add", {"date": "2199-12-30", "days": 5}, "days"),
        ("add", {"date": "1900-01-02", "days": -5}, "days"),
        ("add", {"date": "1950-01-02", "days": 100000}, "days"),
        ("adjust", {"date": "2026-04-03", "convention": "Following"}, "convention"),
        ("next", {"date": "2199-12-31"}, "date"),
        ("previous", {"date": "1900-01-01"}, "date"),
        ("count", {"start": "2026-01-01"}, "end"),
        ("count", {"end": "2026-01-01"}, "start"),
        ("count", {"start": "2026-01-01", "end": "2026-13-01"}, "end"),
        (None, {"start": "2026-01-01", "end": "2036-01-10"}, "end"),
        (None, {"start": "2026-01-02", "end": "2026-01-01"}, "end"),
        (None, {"start": "x", "end": "2026-01-01"}, "start"),
    ],
)
def test_bad_params__400_names_the_parameter(reader, target2, operation, params, field):
    response = bd(reader, "TARGET2", operation, **params)
    assert response.status_code == 400, (response.status_code, response.content)
    assert field in response.json(), response.json()


def test_adjust__result_past_2199_12_31__400_names_date(reader, target2):
    cal = Calendar.objects.get(code="TARGET2")
    for day in (date(2199, 12, 30), date(2199, 12, 31)):
        services.create_holiday(calendar=cal, data={"date": day, "name": "End of time"})
    # 2199-12-28 is a Saturday: following would be 2200-01-01 or later.
    response = bd(reader, "TARGET2", "adjust", date="2199-12-28", convention="following")
    assert response.status_code == 400
    assert "date" in response.json()
    assert (
        bd(reader, "TARGET2", "adjust", date="2199-12-28", convention="preceding").json()["result"]
        == "2199-12-27"
    )


def test_list__span_of_exactly_3660_days__allowed_one_more_400(reader, target2):
    start = date(2026, 1, 1)
    end = start + timedelta(days=3661)
    response = bd(reader, "TARGET2", None, start=start, end=end)
    assert response.status_code == 400
    assert "end" in response.json()
    response = bd(reader, "TARGET2", None, start=start, end=end - timedelta(days=1))
    assert response.status_code == 200
    assert len(response.json()["business_days"]) > 2500


@pytest.mark.parametrize("codes", ["NOPE", "target2", "TARGET2+", "+TARGET2", "T"])
def test_unknown_calendar__404(reader, target2, codes):
    assert bd(reader, codes, "check", date="2026-04-03").status_code == 404


def test_too_many_joint_members__400(reader, target2):
    response = bd(reader, "+".join(["TARGET2"] * 11), "check", date="2026-04-03")
    assert response.status_code == 400
    assert "codes" in response.json()


def test_bad_params__nothing_changed(reader, target2):
    before = list(Holiday.objects.values_list("id", "version"))
    bd(reader, "TARGET2", "add", date="2026-04-03", days="x")
    assert list(Holiday.objects.values_list("id", "version")) == before


# --- query counts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "operation", "params"),
    [
        ("TARGET2", "check", {"date": "2026-04-03"}),
        ("TARGET2", "add", {"date": "2026-04-03", "days": 10}),
        ("TARGET2", "adjust", {"date": "2026-04-03", "convention": "modified_following"}),
        ("TARGET2", "next", {"date": "2026-04-03"}),
        ("TARGET2", "previous", {"date": "2026-04-03"}),
        ("TARGET2", "count", {"start": "2026-01-01", "end": "2027-01-01"}),
        ("TARGET2", None, {"start": "2026-01-01", "end": "2028-12-31"}),
        ("TARGET2+USFED", "check", {"date": "2026-07-03"}),
        ("TARGET2+USFED", "add", {"date": "2026-07-03", "days": -10}),
    ],
)
def test_query_count__warm_zero_cold_constant(
    make_key, client_for, target2, usfed, django_assert_num_queries, codes, operation, params
):
    client = client_for(make_key("counter"))
    calendar_cache.clear_local()
    from django.core.cache import cache

    cache.clear()
    # Cold: the key look-up (1), the calendars (1) and their holidays (1).
    with django_assert_num_queries(3):
        assert bd(client, codes, operation, **params).status_code == 200
    # Warm: the key is remembered in process, the tokens come from the cache, the calendar
    # from this process: no query at all, whatever the parameters.
    with django_assert_num_queries(0):
        assert bd(client, codes, operation, **params).status_code == 200
    other = {k: ("2026-06-15" if k in ("date", "start") else v) for k, v in params.items()}
    if "end" in other:
        other["end"] = "2027-06-15"
    with django_assert_num_queries(0):
        assert bd(client, codes, operation, **other).status_code == 200


def test_query_count__unknown_code__one_query_and_no_key_left(
    reader, target2, django_assert_num_queries
):
    from django.core.cache import cache

    from cbpconfig.cache import token_key

    assert bd(reader, "NOPE", "check", date="2026-04-03").status_code == 404
    with django_assert_num_queries(1):
        assert bd(reader, "NOPE", "check", date="2026-04-03").status_code == 404
    # Codes made up by callers leave nothing in the shared cache.
    assert cache.get(token_key(calendar_cache.name("NOPE"))) is None


# --- freshness after a change ------------------------------------------------------------------


def _change_is_visible_in_the_very_next_answer(writer):
    assert bd(writer, "TARGET2", "check", date="2026-08-14").json()["is_business_day"] is True
    assert bd(writer, "TARGET2", "add", date="2026-08-13", days=1).json()["result"] == "2026-08-14"

    created = writer.post(
        f"{URL}TARGET2/holidays/", {"date": "2026-08-14", "name": "Closure"}, format="json"
    )
    assert created.status_code == 201
    check = bd(writer, "TARGET2", "check", date="2026-08-14").json()
    assert check["reasons"] == [{"calendar": "TARGET2", "kind": "holiday", "name": "Closure"}]
    assert bd(writer, "TARGET2", "add", date="2026-08-13", days=1).json()["result"] == "2026-08-17"

    renamed = writer.patch(f"{URL}TARGET2/holidays/2026-08-14/", {"name": "Renamed"}, format="json")
    assert renamed.status_code == 200
    assert (
        bd(writer, "TARGET2", "check", date="2026-08-14").json()["reasons"][0]["name"] == "Renamed"
    )

    assert writer.delete(f"{URL}TARGET2/holidays/2026-08-14/").status_code == 204
    assert bd(writer, "TARGET2", "check", date="2026-08-14").json()["is_business_day"] is True

    # A weekend change of the calendar itself.
    assert (
        writer.patch(f"{URL}TARGET2/", {"weekend_days": [5, 6, 7]}, format="json").status_code
        == 200
    )
    assert bd(writer, "TARGET2", "check", date="2026-08-14").json()["is_business_day"] is False

    # The import too.
    assert bd(writer, "TARGET2", "check", date="2029-05-01").json()["is_business_day"] is True
    writer.post(f"{URL}TARGET2/holidays/import", {"market": "ECB", "years": [2029]}, format="json")
    assert bd(writer, "TARGET2", "check", date="2029-05-01").json()["is_business_day"] is False

    # A deleted calendar is gone at once, and one created again under the code starts afresh.
    assert writer.delete(f"{URL}TARGET2/").status_code == 204
    assert bd(writer, "TARGET2", "check", date="2029-05-01").status_code == 404
    writer.post(URL, {"code": "TARGET2", "name": "again"}, format="json")
    assert bd(writer, "TARGET2", "check", date="2029-05-01").json()["is_business_day"] is True


@pytest.mark.redis
def test_change__visible_in_the_very_next_answer__redis(writer, target2):
    from django.conf import settings

    assert settings.CBP_CACHE_IS_REDIS
    _change_is_visible_in_the_very_next_answer(writer)


def test_change__visible_in_the_very_next_answer__local_memory(writer, target2):
    with override_settings(CACHES=LOCMEM, CBP_CACHE_IS_REDIS=False):
        _change_is_visible_in_the_very_next_answer(writer)


def test_change__calendar_built_in_process__not_reused_after_change(writer, target2):
    """This process has built the calendar before the change: it must not answer from its
    built copy afterwards (the copy is keyed by the token, which the change replaced)."""
    assert bd(writer, "TARGET2", "check", date="2026-08-14").json()["is_business_day"] is True
    services.create_holiday(
        calendar=Calendar.objects.get(code="TARGET2"), data={"date": date(2026, 8, 14), "name": "X"}
    )
    assert bd(writer, "TARGET2", "check", date="2026-08-14").json()["is_business_day"] is False


def test_rolled_back_change__answers_unchanged(writer, target2):
    from django.db import transaction

    assert bd(writer, "TARGET2", "check", date="2026-08-14").json()["is_business_day"] is True
    # PT012: the raise is what rolls the atomic block back.
    with pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012
        services.create_holiday(
            calendar=Calendar.objects.get(code="TARGET2"),
            data={"date": date(2026, 8, 14), "name": "X"},
        )
        raise RuntimeError("rolled back")
    assert bd(writer, "TARGET2", "check", date="2026-08-14").json()["is_business_day"] is True


# --- metrics -----------------------------------------------------------------------------------


def test_metrics__requests_by_operation_and_cache_hits(reader, target2):
    from prometheus_client import REGISTRY

    def sample(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before_add = sample("cbp_businessday_requests_total", operation="add")
    before_hit = sample("cbp_businessday_cache_total", result="hit")
    before_miss = sample("cbp_businessday_cache_total", result="miss")
    calendar_cache.clear_local()
    bd(reader, "TARGET2", "add", date="2026-04-03", days=1)
    bd(reader, "TARGET2", "add", date="2026-04-03", days=2)
    assert sample("cbp_businessday_requests_total", operation="add") == before_add + 2
    assert sample("cbp_businessday_cache_total", result="miss") == before_miss + 1
    assert sample("cbp_businessday_cache_total", result="hit") == before_hit + 1
