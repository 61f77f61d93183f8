"""Processing windows and overrides over the API: shape, scope, validation, versions, audit.

The fixtures here are shared with the other test_windows_* modules (imported there); `bank`
and `other` come from tests/integration/conftest.py.
"""

from __future__ import annotations

import copy

import pytest

from cbpconfig.models import AuditEntry
from tests.factories import make_calendar, session
from windows.models import ProcessingWindow, WindowOverride, WindowRule

URL = "/api/v1/windows/"
FEDWIRE = {
    "code": "FEDWIRE",
    "name": "Fedwire Funds Service",
    "description": "US RTGS",
    "calendar": "USFED",
    "timezone": "America/New_York",
    "payment_type": "RTGS",
    "sessions": [session("21:00", "19:00", opens_day_offset=-1)],
}


def fedwire(**changes):
    data = copy.deepcopy(FEDWIRE)
    data.update(changes)
    return data


@pytest.fixture
def usfed(db):
    """A US calendar with the US federal holidays of 2026-2027, through the calendars services."""
    return make_calendar(
        "USFED",
        name="US Federal Reserve",
        timezone="America/New_York",
        holidays={"country": "US", "years": [2026, 2027]},
    )


@pytest.fixture
def target2(db):
    return make_calendar("TARGET2", timezone="Europe/Berlin")


@pytest.fixture
def window(usfed):
    """The Fedwire-style window, created through the services."""
    from windows.services import create_window

    data = fedwire()
    data["calendar"] = usfed
    return create_window(data=data)


def _snapshot():
    return (
        list(ProcessingWindow.objects.order_by("pk").values()),
        list(WindowRule.objects.order_by("pk").values()),
        list(WindowOverride.objects.order_by("pk").values()),
    )


# -- create and read -----------------------------------------------------------------------


def _created(response):
    """The body of a 201 answer, at version 1 (ETag "1")."""
    assert response.status_code == 201, response.content
    assert response["ETag"] == '"1"'
    return response.json()


def test_create__fedwire__201_with_rules_etag_and_audit(writer, usfed):
    body = _created(writer.post(URL, fedwire(), format="json", HTTP_X_REQUEST_ID="win-1"))
    assert body["code"] == "FEDWIRE"
    assert body["institution"] is None
    assert body["calendar"] == "USFED"
    assert body["timezone"] == "America/New_York"
    assert body["is_active"] is True
    assert body["version"] == 1
    rule = session("21:00", "19:00", opens_day_offset=-1)
    assert body["sessions"] == [{**rule, "effective_from": None, "effective_until": None}]
    window = ProcessingWindow.objects.get(code="FEDWIRE")
    entry = AuditEntry.objects.get(
        content_type__model="processingwindow", object_pk=str(window.pk), action=0
    )
    assert entry.actor_name == "api-key:writer"
    assert entry.cid == "win-1"
    rule_entries = AuditEntry.objects.filter(content_type__model="windowrule", action=0)
    assert rule_entries.count() == 1
    assert rule_entries.get().actor_name == "api-key:writer"


def test_create__timezone_omitted__defaults_to_calendars(writer, target2):
    data = fedwire(code="T2-RTGS", calendar="TARGET2")
    del data["timezone"]
    response = writer.post(URL, data, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["timezone"] == "Europe/Berlin"


def test_create__times_with_seconds__served_with_seconds(writer, usfed):
    data = fedwire()
    data["sessions"][0].update(opens="21:00:30", closes="18:59:59")
    response = writer.post(URL, data, format="json")
    assert response.status_code == 201, response.content
    rule = response.json()["sessions"][0]
    assert (rule["opens"], rule["closes"]) == ("21:00:30", "18:59:59")


def test_create__effective_range__round_trips(writer, usfed):
    data = fedwire()
    data["sessions"] = [
        {**FEDWIRE["sessions"][0], "closes": "18:30", "effective_until": "2021-03-07"},
        {**FEDWIRE["sessions"][0], "effective_from": "2021-03-08"},
    ]
    response = writer.post(URL, data, format="json")
    assert response.status_code == 201, response.content
    rules = response.json()["sessions"]
    assert [(r["closes"], r["effective_from"], r["effective_until"]) for r in rules] == [
        ("18:30", None, "2021-03-07"),
        ("19:00", "2021-03-08", None),
    ]


def test_create__duplicate_code__409_nothing_changed(writer, window):
    before = _snapshot()
    response = writer.post(URL, fedwire(name="again"), format="json")
    assert response.status_code == 409
    assert _snapshot() == before


def test_get__detail__etag_and_304(reader, window):
    response = reader.get(f"{URL}FEDWIRE/")
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    again = reader.get(f"{URL}FEDWIRE/", HTTP_IF_NONE_MATCH='"1"')
    assert again.status_code == 304


def test_list__filters__by_calendar_and_institution(writer, reader, usfed, target2, bank):
    assert writer.post(URL, fedwire(), format="json").status_code == 201
    own = fedwire(code="DB-SCT", calendar="TARGET2", institution="DEUTDEFF", timezone="")
    assert writer.post(URL, own, format="json").status_code == 201
    assert [w["code"] for w in reader.get(URL).json()["results"]] == ["DB-SCT", "FEDWIRE"]
    assert [w["code"] for w in reader.get(URL, {"calendar": "USFED"}).json()["results"]] == [
        "FEDWIRE"
    ]
    by_bank = reader.get(URL, {"institution": "DEUTDEFF"}).json()["results"]
    assert [w["code"] for w in by_bank] == ["DB-SCT"]
    platform = reader.get(URL, {"institution": "none"}).json()["results"]
    assert [w["code"] for w in platform] == ["FEDWIRE"]
    assert reader.get(URL, {"is_active": "maybe"}).status_code == 400


# -- scope -------------------------------------------------------------------------------------


def test_institution_key__sees_platform_and_own_windows_only(
    writer, make_key, client_for, usfed, bank, other
):
    for code, institution in (("FEDWIRE", None), ("DB-OWN", "DEUTDEFF"), ("BNP-OWN", "BNPAFRPP")):
        response = writer.post(URL, fedwire(code=code, institution=institution), format="json")
        assert response.status_code == 201, response.content
    client = client_for(make_key("db-key", institution=bank))
    assert [w["code"] for w in client.get(URL).json()["results"]] == ["DB-OWN", "FEDWIRE"]
    assert client.get(f"{URL}DB-OWN/").status_code == 200
    assert client.get(f"{URL}FEDWIRE/").status_code == 200
    assert client.get(f"{URL}BNP-OWN/").status_code == 404
    assert client.get(f"{URL}BNP-OWN/overrides/").status_code == 404
    assert client.get(f"{URL}BNP-OWN/status", {"at": "2026-03-09T12:00:00Z"}).status_code == 404
    sessions = client.get(f"{URL}BNP-OWN/sessions", {"start": "2026-03-09", "end": "2026-03-09"})
    assert sessions.status_code == 404
    assert client.get(f"{URL}DB-OWN/status", {"at": "2026-03-09T12:00:00Z"}).status_code == 200
    # An institution key never writes, not even its own window.
    assert client.patch(f"{URL}DB-OWN/", {"name": "x"}, format="json").status_code == 403


def test_write__read_key__403_nothing_changed(reader, window):
    before = _snapshot()
    assert reader.post(URL, fedwire(code="OTHER"), format="json").status_code == 403
    assert reader.patch(f"{URL}FEDWIRE/", {"name": "x"}, format="json").status_code == 403
    assert reader.delete(f"{URL}FEDWIRE/").status_code == 403
    override = {"date": "2026-12-24", "closed": True, "reason": "x"}
    assert reader.post(f"{URL}FEDWIRE/overrides/", override, format="json").status_code == 403
    assert _snapshot() == before


def test_no_key__401(anon, window):
    assert anon.get(URL).status_code == 401
    assert anon.get(f"{URL}FEDWIRE/status").status_code == 401


# -- update, versions ------------------------------------------------------------------------


def test_patch__rules__version_bumped_rules_replaced_and_audited(writer, window):
    rules = [
        {**FEDWIRE["sessions"][0], "closes": "18:30", "effective_until": "2021-03-07"},
        {**FEDWIRE["sessions"][0], "effective_from": "2021-03-08"},
    ]
    response = writer.patch(
        f"{URL}FEDWIRE/", {"sessions": rules}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 200, response.content
    assert response["ETag"] == '"2"'
    assert response.json()["version"] == 2
    assert [r["closes"] for r in response.json()["sessions"]] == ["18:30", "19:00"]
    assert WindowRule.objects.filter(window=window).count() == 2
    updates = AuditEntry.objects.filter(content_type__model="windowrule", action=1)
    assert updates.count() == 1
    assert updates.get().changes["closes"][1] == "18:30:00"


def test_patch__stale_if_match__412_nothing_changed(writer, window):
    before = _snapshot()
    response = writer.patch(f"{URL}FEDWIRE/", {"name": "new"}, format="json", HTTP_IF_MATCH='"7"')
    assert response.status_code == 412
    assert _snapshot() == before


def test_put__code_changed__400_immutable(writer, window):
    response = writer.put(f"{URL}FEDWIRE/", fedwire(code="FEDWIRE2"), format="json")
    assert response.status_code == 400
    assert "code" in response.json()


def test_delete__window__204_rules_and_overrides_gone_each_audited(writer, window):
    response = writer.post(
        f"{URL}FEDWIRE/overrides/",
        {"date": "2026-12-24", "closed": True, "reason": "test"},
        format="json",
    )
    assert response.status_code == 201
    assert writer.delete(f"{URL}FEDWIRE/", HTTP_IF_MATCH='"1"').status_code == 204
    assert not ProcessingWindow.objects.exists()
    assert not WindowRule.objects.exists()
    assert not WindowOverride.objects.exists()
    deletes = AuditEntry.objects.filter(action=2, content_type__app_label="windows")
    assert sorted(deletes.values_list("content_type__model", flat=True)) == [
        "processingwindow",
        "windowoverride",
        "windowrule",
    ]


def test_delete__calendar_used_by_window__409(writer, window):
    assert writer.delete("/api/v1/calendars/USFED/").status_code == 409
    assert ProcessingWindow.objects.filter(code="FEDWIRE").exists()


def test_delete__institution_with_window__409(writer, usfed, bank):
    assert writer.post(URL, fedwire(institution="DEUTDEFF"), format="json").status_code == 201
    assert writer.delete("/api/v1/institutions/DEUTDEFF/").status_code == 409


# -- bad input: 400 naming the field, nothing changed ----------------------------------------


def _assert_refused(response, field, before):
    """400 naming `field`, and the windows as they were `before`."""
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert _snapshot() == before


def _rule(**changes):
    return {**FEDWIRE["sessions"][0], **changes}


BAD_WINDOWS = [
    ("code", {"code": "fed wire"}),
    ("name", {"name": ""}),
    ("calendar", {"calendar": "NOPE"}),
    ("calendar", {"calendar": None}),
    ("timezone", {"timezone": "Mars/Olympus"}),
    ("institution", {"institution": "NOPENOPE"}),
    ("sessions", {"sessions": []}),
    ("sessions", {"sessions": [_rule(opens="19:00", opens_day_offset=0, closes="09:00")]}),
    ("sessions", {"sessions": [_rule(opens="10:00", opens_day_offset=0, closes="10:00")]}),
    ("sessions", {"sessions": [_rule(opens_day_offset=1)]}),
    ("sessions", {"sessions": [_rule(opens_day_offset=-2)]}),
    ("sessions", {"sessions": [_rule(closes_day_offset=2)]}),
    ("sessions", {"sessions": [_rule(closes="24:00")]}),
    ("sessions", {"sessions": [_rule(opens="9am")]}),
    ("sessions", {"sessions": [_rule(weekdays=[])]}),
    ("sessions", {"sessions": [_rule(weekdays=[0, 1])]}),
    ("sessions", {"sessions": [_rule(weekdays=[8])]}),
    ("sessions", {"sessions": [_rule(effective_from="1899-12-31")]}),
    ("sessions", {"sessions": [_rule(effective_from="2026-02-30")]}),
    ("sessions", {"sessions": [_rule(effective_from="2026-05-01", effective_until="2026-04-01")]}),
    ("sessions", {"sessions": [_rule(colour="blue")]}),
    ("sessions", {"sessions": "every day"}),
    # Two rules of the same business date overlapping.
    (
        "sessions",
        {
            "sessions": [
                _rule(label="day"),
                _rule(label="late", opens="18:00", opens_day_offset=0, closes="20:00"),
            ]
        },
    ),
    # A session reaching into the next business date's session (neighbouring dates).
    ("sessions", {"sessions": [_rule(closes="22:00")]}),
    (
        "sessions",
        {
            "sessions": [
                _rule(opens_day_offset=0, opens="08:00", closes="09:00", closes_day_offset=1)
            ]
        },
    ),
    # Unknown top-level field.
    ("colour", {"colour": "blue"}),
]


@pytest.mark.parametrize(("field", "changes"), BAD_WINDOWS)
def test_create__bad_input__400_naming_field_nothing_stored(writer, usfed, bank, field, changes):
    before = _snapshot()
    _assert_refused(writer.post(URL, fedwire(**changes), format="json"), field, before)


@pytest.mark.parametrize(("field", "changes"), BAD_WINDOWS[2:])
def test_patch__bad_input__400_naming_field_nothing_changed(writer, window, bank, field, changes):
    before = _snapshot()
    _assert_refused(writer.patch(f"{URL}FEDWIRE/", changes, format="json"), field, before)


def test_create__rules_overlapping_only_across_spring_forward__400(writer, usfed):
    """00:00-02:30 and 03:00-05:00 never overlap on the wall clock, but on the spring-forward
    Sunday 02:30 does not exist and reads as 03:30 EDT (fold=0), after 03:00 EDT."""
    data = fedwire(
        sessions=[
            {"label": "a", "weekdays": [7], "opens": "00:00", "closes": "02:30"},
            {"label": "b", "weekdays": [7], "opens": "03:00", "closes": "05:00"},
        ]
    )
    response = writer.post(URL, data, format="json")
    assert response.status_code == 400, response.content
    assert "overlaps" in " ".join(response.json()["sessions"])
    assert not ProcessingWindow.objects.exists()


def test_create__same_rules_in_utc__201(writer, usfed):
    data = fedwire(
        timezone="UTC",
        sessions=[
            {"label": "a", "weekdays": [7], "opens": "00:00", "closes": "02:30"},
            {"label": "b", "weekdays": [7], "opens": "03:00", "closes": "05:00"},
        ],
    )
    assert writer.post(URL, data, format="json").status_code == 201


def test_patch__rules_overlapping_existing_override__400_nothing_changed(writer, window):
    """Wednesday 2026-12-23 is extended to 20:00 by an override; rules opening the next
    business date at 19:30 the evening before are fine alone but collide with it."""
    override = {
        "date": "2026-12-23",
        "sessions": [
            {"label": "late", "opens": "21:00", "opens_day_offset": -1, "closes": "20:00"}
        ],
        "reason": "extended",
    }
    assert writer.post(f"{URL}FEDWIRE/overrides/", override, format="json").status_code == 201
    before = _snapshot()
    response = writer.patch(f"{URL}FEDWIRE/", {"sessions": [_rule(opens="19:30")]}, format="json")
    assert response.status_code == 400
    assert "2026-12-23" in " ".join(response.json()["sessions"])
    assert _snapshot() == before
    # The same rules are fine without the override.
    assert writer.delete(f"{URL}FEDWIRE/overrides/2026-12-23/").status_code == 204
    response = writer.patch(f"{URL}FEDWIRE/", {"sessions": [_rule(opens="19:30")]}, format="json")
    assert response.status_code == 200, response.content


# -- overrides ---------------------------------------------------------------------------------


EARLY_CLOSE = {
    "date": "2026-12-24",
    "closed": False,
    "sessions": [{"label": "early", "opens": "21:00", "opens_day_offset": -1, "closes": "13:00"}],
    "reason": "Christmas Eve early close",
}


def _opening_the_day_before(date, opens, closes, reason="test"):
    """An override of `date` with one session from `opens` on the day before to `closes`."""
    rule = {"label": "x", "opens": opens, "opens_day_offset": -1, "closes": closes}
    return {"date": date, "sessions": [rule], "reason": reason}


def test_override__create__201_shape_etag_audit(writer, window):
    body = _created(writer.post(f"{URL}FEDWIRE/overrides/", EARLY_CLOSE, format="json"))
    assert body["date"] == "2026-12-24"
    assert body["closed"] is False
    assert body["reason"] == "Christmas Eve early close"
    assert body["sessions"] == [
        {
            "label": "early",
            "opens": "21:00",
            "opens_day_offset": -1,
            "closes": "13:00",
            "closes_day_offset": 0,
        }
    ]
    assert body["version"] == 1
    detail = writer.get(f"{URL}FEDWIRE/overrides/2026-12-24/")
    assert detail.status_code == 200
    assert detail.json() == body
    assert writer.get(f"{URL}FEDWIRE/overrides/").json()["count"] == 1
    entry = AuditEntry.objects.get(content_type__model="windowoverride", action=0)
    assert entry.actor_name == "api-key:writer"
    assert entry.object_repr == "FEDWIRE 2026-12-24"


def test_override__duplicate_date__409_nothing_changed(writer, window):
    assert writer.post(f"{URL}FEDWIRE/overrides/", EARLY_CLOSE, format="json").status_code == 201
    before = _snapshot()
    again = {"date": "2026-12-24", "closed": True, "reason": "closed instead"}
    assert writer.post(f"{URL}FEDWIRE/overrides/", again, format="json").status_code == 409
    assert _snapshot() == before


def test_override__patch_and_delete__versions_and_412(writer, window):
    url = f"{URL}FEDWIRE/overrides/2026-12-24/"
    assert writer.post(f"{URL}FEDWIRE/overrides/", EARLY_CLOSE, format="json").status_code == 201
    stale = writer.patch(url, {"closed": True}, format="json", HTTP_IF_MATCH='"5"')
    assert stale.status_code == 412
    response = writer.patch(url, {"closed": True}, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 200, response.content
    assert response.json()["closed"] is True
    assert response.json()["sessions"] == []
    assert response["ETag"] == '"2"'
    assert writer.delete(url, HTTP_IF_MATCH='"1"').status_code == 412
    assert writer.delete(url, HTTP_IF_MATCH='"2"').status_code == 204
    assert writer.get(url).status_code == 404


def test_override__unknown_window_or_date__404(writer, window):
    assert writer.get(f"{URL}NOPE/overrides/").status_code == 404
    assert writer.post(f"{URL}NOPE/overrides/", EARLY_CLOSE, format="json").status_code == 404
    assert writer.get(f"{URL}FEDWIRE/overrides/2026-12-24/").status_code == 404
    assert writer.get(f"{URL}FEDWIRE/overrides/2026-02-30/").status_code == 404
    assert writer.get(f"{URL}FEDWIRE/overrides/soon/").status_code == 404


def test_override__overlapping_previous_days_session__400_nothing_stored(writer, window):
    """Tuesday 2026-03-10 opening at 17:00 on Monday collides with Monday's session (until
    19:00)."""
    before = _snapshot()
    override = _opening_the_day_before("2026-03-10", "17:00", "19:00")
    response = writer.post(f"{URL}FEDWIRE/overrides/", override, format="json")
    assert response.status_code == 400, response.content
    assert "overlaps" in " ".join(response.json()["sessions"])
    assert _snapshot() == before


def test_override__change_that_overlaps_next_day__400_nothing_changed(writer, window):
    assert writer.post(f"{URL}FEDWIRE/overrides/", EARLY_CLOSE, format="json").status_code == 201
    before = _snapshot()
    # 2026-12-23 closing at 22:00 reaches into the 24th's session (opens 21:00 on the 23rd).
    override = _opening_the_day_before("2026-12-23", "21:00", "22:00")
    response = writer.post(f"{URL}FEDWIRE/overrides/", override, format="json")
    assert response.status_code == 400
    assert _snapshot() == before


def test_override__delete_bringing_back_overlap__400_nothing_changed(writer, window):
    """A closed Monday lets Tuesday's override open on Monday afternoon; deleting the closure
    would bring back Monday's session underneath it."""
    closed = {"date": "2026-03-09", "closed": True, "reason": "closed"}
    early = _opening_the_day_before("2026-03-10", "12:00", "19:00", "early start")
    assert writer.post(f"{URL}FEDWIRE/overrides/", closed, format="json").status_code == 201
    assert writer.post(f"{URL}FEDWIRE/overrides/", early, format="json").status_code == 201
    before = _snapshot()
    response = writer.delete(f"{URL}FEDWIRE/overrides/2026-03-09/")
    assert response.status_code == 400
    assert "overlap" in response.json()["detail"]
    assert _snapshot() == before


BAD_OVERRIDES = [
    ("reason", {"reason": ""}),
    ("reason", {"reason": None}),
    ("date", {"date": "1899-12-31"}),
    ("date", {"date": "2200-01-01"}),
    ("date", {"date": "2026-02-30"}),
    ("date", {"date": None}),
    ("sessions", {"sessions": []}),
    ("sessions", {"closed": True}),
    ("sessions", {"sessions": [{"label": "x", "opens": "13:00", "closes": "12:00"}]}),
    (
        "sessions",
        {"sessions": [{"label": "x", "opens": "12:00", "closes": "13:00", "weekdays": [1]}]},
    ),
    (
        "sessions",
        {"sessions": [{"label": "x", "opens": "12:00", "opens_day_offset": 1, "closes": "13:00"}]},
    ),
    ("sessions", {"sessions": [{"label": "x", "opens": "12:00", "closes": "25:00"}]}),
    (
        "sessions",
        {
            "sessions": [
                {"label": "a", "opens": "08:00", "closes": "12:00"},
                {"label": "b", "opens": "11:00", "closes": "13:00"},
            ]
        },
    ),
    ("colour", {"colour": "red"}),
]


@pytest.mark.parametrize(("field", "changes"), BAD_OVERRIDES)
def test_override__bad_input__400_naming_field_nothing_stored(writer, window, field, changes):
    data = {**EARLY_CLOSE, **changes}
    before = _snapshot()
    _assert_refused(writer.post(f"{URL}FEDWIRE/overrides/", data, format="json"), field, before)


def test_override__date_immutable__400(writer, window):
    assert writer.post(f"{URL}FEDWIRE/overrides/", EARLY_CLOSE, format="json").status_code == 201
    response = writer.patch(
        f"{URL}FEDWIRE/overrides/2026-12-24/", {"date": "2026-12-23"}, format="json"
    )
    assert response.status_code == 400
    assert "date" in response.json()


def test_override__exceptional_opening_on_holiday__201(writer, window):
    override = {
        "date": "2026-01-19",
        "sessions": [{"label": "special", "opens": "09:00", "closes": "12:00"}],
        "reason": "exceptional opening",
    }
    assert writer.post(f"{URL}FEDWIRE/overrides/", override, format="json").status_code == 201


# -- the services refuse what the API refuses --------------------------------------------------


def test_service__create_window_overlap__validation_error_nothing_stored(usfed):
    from django.core.exceptions import ValidationError

    from windows.services import create_window

    data = fedwire(sessions=[_rule(closes="22:00")])
    data["calendar"] = usfed
    with pytest.raises(ValidationError) as info:
        create_window(data=data)
    assert "sessions" in info.value.message_dict
    assert not ProcessingWindow.objects.exists()


def test_service__override_without_reason__validation_error(window):
    from django.core.exceptions import ValidationError

    from windows.services import create_override

    with pytest.raises(ValidationError) as info:
        create_override(window=window, data={**EARLY_CLOSE, "reason": "  "})
    assert "reason" in info.value.message_dict
    assert not WindowOverride.objects.exists()
