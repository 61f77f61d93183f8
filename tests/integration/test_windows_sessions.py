"""The computed answers: sessions by business date across DST, status, overrides, holidays,
effective dates, ETags, cache invalidation (across apps) and query counts.

These tests commit (transactional_db): cache invalidation runs after commit, as in production.
"""

# Fixtures are imported from test_windows_api and used as test arguments (pytest style).
# ruff: noqa: F811

from __future__ import annotations

import pytest

from tests.integration.test_windows_api import (  # noqa: F401 - fixtures
    EARLY_CLOSE,
    FEDWIRE,
    URL,
    _rule,
    fedwire,
    usfed,
    window,
)

pytestmark = pytest.mark.django_db(transaction=True)

SESSIONS = f"{URL}FEDWIRE/sessions"
STATUS = f"{URL}FEDWIRE/status"


def sessions(client, start, end=None, url=SESSIONS):
    response = client.get(url, {"start": start, "end": end or start})
    assert response.status_code == 200, response.content
    return response.json()


def status(client, at, url=STATUS):
    response = client.get(url, {"at": at})
    assert response.status_code == 200, response.content
    return response.json()


# -- sessions across DST -------------------------------------------------------------------


def test_sessions__fedwire_after_spring_forward__opens_sunday_2100_edt(reader, window):
    body = sessions(reader, "2026-03-09")
    assert body["window"] == "FEDWIRE"
    assert body["timezone"] == "America/New_York"
    assert body["sessions"] == [
        {
            "business_date": "2026-03-09",
            "label": "day",
            "opens_at": "2026-03-09T01:00:00Z",
            "closes_at": "2026-03-09T23:00:00Z",
            "opens_at_local": "2026-03-08T21:00:00-04:00",
            "closes_at_local": "2026-03-09T19:00:00-04:00",
            "source": "regular",
        }
    ]


def test_sessions__fedwire_after_fall_back__opens_sunday_2100_est(reader, window):
    (session,) = sessions(reader, "2026-11-02")["sessions"]
    assert (session["opens_at"], session["closes_at"]) == (
        "2026-11-02T02:00:00Z",
        "2026-11-03T00:00:00Z",
    )
    assert session["opens_at_local"] == "2026-11-01T21:00:00-05:00"
    assert session["closes_at_local"] == "2026-11-02T19:00:00-05:00"


def test_sessions__week__business_dates_only_ordered_by_opens_at(reader, window):
    body = sessions(reader, "2026-03-06", "2026-03-10")
    assert [s["business_date"] for s in body["sessions"]] == [
        "2026-03-06",
        "2026-03-09",
        "2026-03-10",
    ]
    opens = [s["opens_at"] for s in body["sessions"]]
    assert opens == sorted(opens)
    # Friday before the change is still EST.
    assert body["sessions"][0]["opens_at"] == "2026-03-06T02:00:00Z"


def test_sessions__holiday__no_session(reader, window):
    # Monday 2026-01-19 is Martin Luther King Jr. Day.
    body = sessions(reader, "2026-01-16", "2026-01-20")
    assert [s["business_date"] for s in body["sessions"]] == ["2026-01-16", "2026-01-20"]
    # Tuesday's session opens on the holiday evening.
    assert body["sessions"][1]["opens_at_local"] == "2026-01-19T21:00:00-05:00"


def test_sessions__override_opens_holiday__override_session(writer, reader, window):
    override = {
        "date": "2026-01-19",
        "sessions": [{"label": "special", "opens": "09:00", "closes": "12:00"}],
        "reason": "exceptional opening",
    }
    assert writer.post(f"{URL}FEDWIRE/overrides/", override, format="json").status_code == 201
    body = sessions(reader, "2026-01-16", "2026-01-20")
    assert [(s["business_date"], s["source"]) for s in body["sessions"]] == [
        ("2026-01-16", "regular"),
        ("2026-01-19", "override"),
        ("2026-01-20", "regular"),
    ]
    special = body["sessions"][1]
    assert (special["label"], special["opens_at"], special["closes_at"]) == (
        "special",
        "2026-01-19T14:00:00Z",
        "2026-01-19T17:00:00Z",
    )


def test_sessions__early_close_override__shortens_that_day_only(writer, reader, window):
    assert writer.post(f"{URL}FEDWIRE/overrides/", EARLY_CLOSE, format="json").status_code == 201
    body = sessions(reader, "2026-12-23", "2026-12-28")
    # 2026-12-25 is Christmas: no session.
    assert [
        (s["business_date"], s["label"], s["opens_at"], s["closes_at"], s["source"])
        for s in body["sessions"]
    ] == [
        ("2026-12-23", "day", "2026-12-23T02:00:00Z", "2026-12-24T00:00:00Z", "regular"),
        ("2026-12-24", "early", "2026-12-24T02:00:00Z", "2026-12-24T18:00:00Z", "override"),
        ("2026-12-28", "day", "2026-12-28T02:00:00Z", "2026-12-29T00:00:00Z", "regular"),
    ]


def test_sessions__closed_override__no_session_that_day(writer, reader, window):
    closed = {"date": "2026-03-10", "closed": True, "reason": "outage drill"}
    assert writer.post(f"{URL}FEDWIRE/overrides/", closed, format="json").status_code == 201
    body = sessions(reader, "2026-03-09", "2026-03-11")
    assert [s["business_date"] for s in body["sessions"]] == ["2026-03-09", "2026-03-11"]


def test_sessions__rule_change_effective_from__earlier_dates_keep_old_hours(writer, reader, window):
    # Fedwire's close moved from 18:30 to 19:00 ET on 2021-03-08.
    rules = [
        _rule(closes="18:30", effective_until="2021-03-07"),
        _rule(effective_from="2021-03-08"),
    ]
    assert writer.patch(f"{URL}FEDWIRE/", {"sessions": rules}, format="json").status_code == 200
    body = sessions(reader, "2021-03-05", "2021-03-08")
    assert [(s["business_date"], s["closes_at_local"]) for s in body["sessions"]] == [
        ("2021-03-05", "2021-03-05T18:30:00-05:00"),
        ("2021-03-08", "2021-03-08T19:00:00-05:00"),
    ]


def test_sessions__inactive_window__none(writer, reader, window):
    assert writer.patch(f"{URL}FEDWIRE/", {"is_active": False}, format="json").status_code == 200
    assert sessions(reader, "2026-03-09", "2026-03-13")["sessions"] == []
    body = status(reader, "2026-03-09T12:00:00Z")
    assert (body["is_open"], body["next_session"], body["processing_date"]) == (False, None, None)


BAD_SESSION_QUERIES = [
    ("start", {"end": "2026-03-09"}),
    ("end", {"start": "2026-03-09"}),
    ("start", {"start": "2026-3-9", "end": "2026-03-09"}),
    ("start", {"start": "2026-02-30", "end": "2026-03-09"}),
    ("start", {"start": "1899-12-31", "end": "1900-01-02"}),
    ("end", {"start": "2199-12-30", "end": "2200-01-01"}),
    ("end", {"start": "2026-03-09", "end": "2026-03-08"}),
    ("end", {"start": "2026-01-01", "end": "2027-01-03"}),
]


@pytest.mark.parametrize(("field", "params"), BAD_SESSION_QUERIES)
def test_sessions__bad_parameters__400_naming_parameter(reader, window, field, params):
    response = reader.get(SESSIONS, params)
    assert response.status_code == 400
    assert field in response.json()


def test_sessions__366_day_span__200(reader, window):
    body = sessions(reader, "2026-01-01", "2027-01-02")
    assert len(body["sessions"]) == 250  # 2026 business days (Fedwire-style) and 2027-01-02...
    assert body["sessions"][0]["business_date"] == "2026-01-02"


def test_sessions__unknown_window__404(reader, window):
    assert (
        reader.get(f"{URL}NOPE/sessions", {"start": "2026-03-09", "end": "2026-03-09"}).status_code
        == 404
    )


# -- status --------------------------------------------------------------------------------


def test_status__exactly_at_opens_at__open(reader, window):
    body = status(reader, "2026-03-09T01:00:00Z")
    assert body["window"] == "FEDWIRE"
    assert body["at"] == "2026-03-09T01:00:00Z"
    assert body["is_open"] is True
    assert body["current_session"]["business_date"] == "2026-03-09"
    assert body["processing_date"] == "2026-03-09"
    assert body["seconds_until_close"] == 22 * 3600
    assert body["next_session"]["business_date"] == "2026-03-10"


def test_status__exactly_at_closes_at__closed(reader, window):
    body = status(reader, "2026-03-09T23:00:00Z")
    assert body["is_open"] is False
    assert body["current_session"] is None
    assert body["seconds_until_close"] is None
    assert body["next_session"]["business_date"] == "2026-03-10"
    assert body["next_session"]["opens_at"] == "2026-03-10T01:00:00Z"
    assert body["processing_date"] == "2026-03-10"


def test_status__one_second_before_close__open_one_second_left(reader, window):
    body = status(reader, "2026-03-09T18:59:59-04:00")
    assert body["at"] == "2026-03-09T22:59:59Z"
    assert (body["is_open"], body["seconds_until_close"]) == (True, 1)


def test_status__after_cutoff_on_friday__processes_on_monday_edt(reader, window):
    # Friday 2026-03-13 19:30 EDT.
    body = status(reader, "2026-03-13T19:30:00-04:00")
    assert body["is_open"] is False
    assert body["current_session"] is None
    assert body["processing_date"] == "2026-03-16"
    nxt = body["next_session"]
    assert nxt["business_date"] == "2026-03-16"
    assert nxt["opens_at_local"] == "2026-03-15T21:00:00-04:00"
    assert nxt["opens_at"] == "2026-03-16T01:00:00Z"


def test_status__after_cutoff_on_friday__processes_on_monday_est(reader, window):
    # Friday 2026-01-09 19:30 EST.
    body = status(reader, "2026-01-10T00:30:00Z")
    assert body["processing_date"] == "2026-01-12"
    assert body["next_session"]["opens_at_local"] == "2026-01-11T21:00:00-05:00"


def test_status__friday_before_holiday_monday__processes_on_tuesday(reader, window):
    # Friday 2026-01-16 after the close; Monday 2026-01-19 is a holiday.
    body = status(reader, "2026-01-16T19:30:00-05:00")
    assert body["processing_date"] == "2026-01-20"
    assert body["next_session"]["opens_at_local"] == "2026-01-19T21:00:00-05:00"


def test_status__early_close_override__closed_after_13_and_counts_decision(writer, reader, window):
    from prometheus_client import REGISTRY

    assert writer.post(f"{URL}FEDWIRE/overrides/", EARLY_CLOSE, format="json").status_code == 201
    before = REGISTRY.get_sample_value("cbp_window_override_decisions_total") or 0
    body = status(reader, "2026-12-24T12:59:00-05:00")
    assert body["is_open"] is True
    assert body["current_session"]["source"] == "override"
    assert body["seconds_until_close"] == 60
    after_close = status(reader, "2026-12-24T13:00:00-05:00")
    assert after_close["is_open"] is False
    assert after_close["processing_date"] == "2026-12-28"
    assert REGISTRY.get_sample_value("cbp_window_override_decisions_total") == before + 1


def test_status__default_at__now(reader, window):
    response = reader.get(STATUS)
    assert response.status_code == 200
    body = response.json()
    assert body["at"].endswith("Z")
    assert body["next_session"] is not None


BAD_STATUS_QUERIES = [
    {"at": "2026-03-09T12:00:00"},
    {"at": "2026-03-09"},
    {"at": "yesterday"},
    {"at": "1899-12-31T12:00:00Z"},
    {"at": "2026-13-09T12:00:00Z"},
]


@pytest.mark.parametrize("params", BAD_STATUS_QUERIES)
def test_status__bad_at__400_naming_at(reader, window, params):
    response = reader.get(STATUS, params)
    assert response.status_code == 400
    assert "at" in response.json()


def test_status__plus_offset_sent_unescaped__accepted(reader, window):
    # A literal '+' in a query string arrives as a space.
    response = reader.get(f"{STATUS}?at=2026-03-09T12:00:00+01:00")
    assert response.status_code == 200, response.content
    assert response.json()["at"] == "2026-03-09T11:00:00Z"


# -- ETags ---------------------------------------------------------------------------------


def test_status__if_none_match__304_then_200_after_change(writer, reader, window):
    params = {"at": "2026-03-09T12:00:00Z"}
    first = reader.get(STATUS, params)
    etag = first["ETag"]
    assert etag
    again = reader.get(STATUS, params, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["ETag"] == etag
    assert writer.patch(f"{URL}FEDWIRE/", {"name": "renamed"}, format="json").status_code == 200
    changed = reader.get(STATUS, params, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_sessions__if_none_match__304(reader, window):
    params = {"start": "2026-03-09", "end": "2026-03-13"}
    etag = reader.get(SESSIONS, params)["ETag"]
    assert reader.get(SESSIONS, params, HTTP_IF_NONE_MATCH=etag).status_code == 304
    other = reader.get(SESSIONS, {"start": "2026-03-09", "end": "2026-03-12"})
    assert other["ETag"] != etag


# -- cache invalidation ----------------------------------------------------------------------


def test_sessions__holiday_added_via_calendars_api__next_answer_reflects_it(writer, reader, window):
    assert len(sessions(reader, "2026-03-09", "2026-03-13")["sessions"]) == 5
    before = status(reader, "2026-03-10T00:00:00Z")
    assert before["next_session"]["business_date"] == "2026-03-10"
    response = writer.post(
        "/api/v1/calendars/USFED/holidays/",
        {"date": "2026-03-10", "name": "Test holiday"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = sessions(reader, "2026-03-09", "2026-03-13")
    assert [s["business_date"] for s in body["sessions"]] == [
        "2026-03-09",
        "2026-03-11",
        "2026-03-12",
        "2026-03-13",
    ]
    after = status(reader, "2026-03-10T00:00:00Z")
    assert after["next_session"]["business_date"] == "2026-03-11"
    assert after["processing_date"] == "2026-03-11"


def test_status__rule_change_via_api__next_answer_reflects_it(writer, reader, window):
    assert status(reader, "2026-03-09T23:30:00Z")["is_open"] is False
    response = writer.patch(
        f"{URL}FEDWIRE/", {"sessions": [_rule(closes="20:00", opens="21:00")]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert status(reader, "2026-03-09T23:30:00Z")["is_open"] is True


def test_status__override_deleted__regular_session_back(writer, reader, window):
    assert writer.post(f"{URL}FEDWIRE/overrides/", EARLY_CLOSE, format="json").status_code == 201
    assert status(reader, "2026-12-24T20:00:00Z")["is_open"] is False
    assert writer.delete(f"{URL}FEDWIRE/overrides/2026-12-24/").status_code == 204
    assert status(reader, "2026-12-24T20:00:00Z")["is_open"] is True


def test_status__calendar_swapped__answers_follow_new_calendar(writer, reader, window):
    from calendars.services import create_calendar

    create_calendar(data={"code": "PLAIN", "name": "Weekends only", "timezone": "America/New_York"})
    assert status(reader, "2026-01-16T19:30:00-05:00")["processing_date"] == "2026-01-20"
    assert writer.patch(f"{URL}FEDWIRE/", {"calendar": "PLAIN"}, format="json").status_code == 200
    assert status(reader, "2026-01-16T19:30:00-05:00")["processing_date"] == "2026-01-19"


# -- query counts ----------------------------------------------------------------------------


def test_status__warm__no_query(reader, window, django_assert_num_queries):
    status(reader, "2026-03-09T12:00:00Z")  # authenticates the key, compiles the window
    with django_assert_num_queries(0):
        for at in ("2026-03-09T12:00:00Z", "2026-03-13T23:30:00Z", "2026-07-01T00:00:00Z"):
            status(reader, at)


def test_sessions__warm__no_query(reader, window, django_assert_num_queries):
    sessions(reader, "2026-03-09")
    with django_assert_num_queries(0):
        sessions(reader, "2026-01-01", "2026-12-31")
        sessions(reader, "2026-03-09")


def test_status__cold_window__constant_queries(reader, window, django_assert_num_queries):
    from windows.cache import clear_local

    status(reader, "2026-03-09T12:00:00Z")  # the key is verified once
    clear_local()
    # Window, rules, overrides; the calendar is still built in this process.
    with django_assert_num_queries(3):
        status(reader, "2026-03-09T12:00:00Z")


def test_status__many_overrides__same_query_count(
    writer, reader, window, django_assert_num_queries
):
    from windows.cache import clear_local

    for day in ("2026-03-10", "2026-03-12", "2026-04-01", "2026-05-05"):
        closed = {"date": day, "closed": True, "reason": "drill"}
        assert writer.post(f"{URL}FEDWIRE/overrides/", closed, format="json").status_code == 201
    status(reader, "2026-03-09T12:00:00Z")
    clear_local()
    with django_assert_num_queries(3):
        status(reader, "2026-03-09T12:00:00Z")


@pytest.mark.parametrize(
    "at", ["1900-01-01T00:00:00Z", "2199-12-31T23:59:59Z", "1900-01-01T00:00:00-05:00"]
)
def test_status__edges_of_supported_range__200(reader, window, at):
    response = reader.get(STATUS, {"at": at})
    assert response.status_code == 200, response.content


def test_sessions__edges_of_supported_range__200(reader, window):
    assert reader.get(SESSIONS, {"start": "2199-12-01", "end": "2199-12-31"}).status_code == 200
    assert reader.get(SESSIONS, {"start": "1900-01-01", "end": "1900-01-31"}).status_code == 200


def test_list__windows__query_count_independent_of_size(
    writer, reader, usfed, django_assert_num_queries, django_assert_max_num_queries
):
    assert writer.post(URL, fedwire(), format="json").status_code == 201
    reader.get(URL)  # verifies the key once
    with django_assert_max_num_queries(20) as one:
        assert reader.get(URL).status_code == 200
    count = len(one)  # now: every request clears Django's query log
    for i in range(4):
        assert writer.post(URL, fedwire(code=f"W{i}"), format="json").status_code == 201
    with django_assert_num_queries(count):
        assert len(reader.get(URL).json()["results"]) == 5
