"""Calendars and holidays over the API: shape, scope, validation, versions, audit."""

from __future__ import annotations

from datetime import date

import pytest

from calendars import services
from calendars.models import Calendar, Holiday
from cbpconfig.models import AuditEntry
from tests.factories import assert_field_refused, assert_status_everywhere, make_institution

pytestmark = pytest.mark.django_db

URL = "/api/v1/calendars/"
VALID = {
    "code": "TARGET2",
    "name": "TARGET2",
    "timezone": "Europe/Berlin",
    "weekend_days": [6, 7],
    "description": "Euro RTGS",
}


@pytest.fixture
def target2(db):
    cal = services.create_calendar(data=dict(VALID))
    services.create_holiday(calendar=cal, data={"date": date(2026, 4, 3), "name": "Good Friday"})
    services.create_holiday(calendar=cal, data={"date": date(2026, 4, 6), "name": "Easter Monday"})
    services.create_holiday(calendar=cal, data={"date": date(2027, 1, 1), "name": "New Year"})
    return Calendar.objects.get(pk=cal.pk)


def holiday_url(code, day=None):
    return f"{URL}{code}/holidays/" + (f"{day}/" if day else "")


# --- calendars -------------------------------------------------------------------------------


def test_create__write_key__201_contract_shape_and_audit(writer):
    response = writer.post(URL, VALID, format="json", HTTP_X_REQUEST_ID="cal-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["ETag"] == '"1"'
    assert {k: body[k] for k in VALID} == VALID
    assert body["holidays_until"] is None
    assert body["version"] == 1
    assert body["created_at"].endswith("Z")
    assert body["updated_at"].endswith("Z")
    assert "data_version" not in body
    entry = AuditEntry.objects.get(content_type__model="calendar", action=0)
    assert entry.actor_name == "api-key:writer"
    assert entry.cid == "cal-1"
    assert "data_version" not in entry.changes


def test_create__weekend_default__6_7(writer):
    response = writer.post(URL, {"code": "XX1", "name": "x"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["weekend_days"] == [6, 7]
    assert response.json()["timezone"] == "UTC"


def test_retrieve__holidays_until_is_31_december_of_last_holiday_year(reader, target2):
    response = reader.get(f"{URL}TARGET2/")
    assert response.status_code == 200
    assert response.json()["holidays_until"] == "2027-12-31"
    assert response["ETag"] == '"1"'
    assert reader.get(f"{URL}TARGET2/", HTTP_IF_NONE_MATCH='"1"').status_code == 304
    listed = reader.get(URL).json()
    assert listed["count"] == 1
    assert listed["results"][0]["holidays_until"] == "2027-12-31"


def test_holidays_until__read_only__refused_as_input_ignored(writer, target2):
    response = writer.patch(f"{URL}TARGET2/", {"holidays_until": "2099-12-31"}, format="json")
    assert response.status_code == 200
    assert response.json()["holidays_until"] == "2027-12-31"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code", "t2"),
        ("code", "T"),
        ("code", "-T2"),
        ("code", "X" * 33),
        ("name", ""),
        ("timezone", "Mars/Olympus"),
        ("weekend_days", [6, 6]),
        ("weekend_days", [0]),
        ("weekend_days", [8]),
        ("weekend_days", [1, 2, 3, 4, 5, 6, 7]),
        ("weekend_days", "6,7"),
        ("weekend_days", [True]),
        ("unknown", 1),
    ],
)
def test_create__bad_field__400_names_it_nothing_changed(writer, field, value):
    before = AuditEntry.objects.count()
    response = writer.post(URL, {**VALID, field: value}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Calendar.objects.count() == 0
    assert AuditEntry.objects.count() == before


def test_create__duplicate_code__409(writer, target2):
    assert writer.post(URL, VALID, format="json").status_code == 409
    assert Calendar.objects.count() == 1


def test_update__code_immutable__400_nothing_changed(writer, target2):
    assert_field_refused(writer, f"{URL}TARGET2/", {"code": "T2"}, "code")
    assert Calendar.objects.get(pk=target2.pk).code == "TARGET2"


def test_put__without_code__replaces_other_fields(writer, target2):
    body = {"name": "New", "timezone": "UTC", "weekend_days": [5, 6], "description": ""}
    response = writer.put(f"{URL}TARGET2/", body, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 200, response.content
    assert response.json()["weekend_days"] == [5, 6]
    assert response["ETag"] == '"2"'


def test_update__stale_if_match__412_nothing_changed(writer, target2):
    ok = writer.patch(f"{URL}TARGET2/", {"name": "One"}, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200
    assert ok["ETag"] == '"2"'
    stale = writer.patch(f"{URL}TARGET2/", {"name": "Two"}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    assert writer.delete(f"{URL}TARGET2/", HTTP_IF_MATCH='"1"').status_code == 412
    assert Calendar.objects.get(pk=target2.pk).name == "One"


def test_holiday_change__calendar_version_unchanged_answers_change(writer, target2):
    from calendars.selectors import business_calendar

    before = Calendar.objects.get(pk=target2.pk)
    assert business_calendar(["TARGET2"])[0].is_business_day(date(2026, 5, 1))
    response = writer.post(
        holiday_url("TARGET2"), {"date": "2026-05-01", "name": "Labour Day"}, format="json"
    )
    assert response.status_code == 201
    after = Calendar.objects.get(pk=target2.pk)
    # A client holding the calendar's ETag is not made stale by a holiday change ...
    assert after.version == before.version
    # ... but every cached business-day answer is.
    assert not business_calendar(["TARGET2"])[0].is_business_day(date(2026, 5, 1))


def test_delete__cascades_holidays_each_audited(writer, target2):
    response = writer.delete(f"{URL}TARGET2/", HTTP_IF_MATCH='"1"')
    assert response.status_code == 204
    assert not Holiday.objects.exists()
    deletes = AuditEntry.objects.filter(action=2, actor_name="api-key:writer")
    assert sorted(e.content_type.model for e in deletes) == ["calendar"] + ["holiday"] * 3


def _assert_delete_refused(writer, target2, reference):
    """DELETE answers 409 naming `reference`; the calendar and its 3 holidays stay."""
    response = writer.delete(f"{URL}TARGET2/")
    assert response.status_code == 409
    assert reference in response.json()["detail"]
    assert Calendar.objects.filter(pk=target2.pk).exists()
    assert Holiday.objects.filter(calendar=target2).count() == 3


def test_delete__referenced_by_institution__409_nothing_deleted(writer, target2):
    make_institution("DEUTDEFF", calendar=target2)
    _assert_delete_refused(writer, target2, "institution")


def test_delete__referenced_by_processing_window__409_nothing_deleted(writer, target2):
    from windows.models import ProcessingWindow

    # A bare window row is enough to hold the reference (its rules do not matter here).
    ProcessingWindow.objects.create(code="SCT-INST", name="SCT Inst", calendar=target2)
    _assert_delete_refused(writer, target2, "window")


# --- scope -----------------------------------------------------------------------------------


def test_no_key__401_everywhere(anon, target2):
    calls = [
        ("get", URL),
        ("post", URL),
        ("get", f"{URL}TARGET2/"),
        ("patch", f"{URL}TARGET2/"),
        ("delete", f"{URL}TARGET2/"),
        ("get", holiday_url("TARGET2")),
        ("post", holiday_url("TARGET2")),
        ("get", holiday_url("TARGET2", "2026-04-03")),
        ("put", holiday_url("TARGET2", "2026-04-03")),
        ("delete", holiday_url("TARGET2", "2026-04-03")),
        ("post", f"{URL}TARGET2/holidays/import"),
        ("get", f"{URL}TARGET2/holidays.ics"),
        ("get", f"{URL}TARGET2/business-days/check?date=2026-04-03"),
    ]
    assert_status_everywhere(anon, calls, 401)
    assert Calendar.objects.get(pk=target2.pk).version == 1


def test_read_key__writes_403_nothing_changed(reader, target2):
    assert reader.post(URL, {**VALID, "code": "OTHER"}, format="json").status_code == 403
    assert reader.patch(f"{URL}TARGET2/", {"name": "x"}, format="json").status_code == 403
    assert reader.delete(f"{URL}TARGET2/").status_code == 403
    assert (
        reader.post(holiday_url("TARGET2"), {"date": "2026-05-01", "name": "x"}).status_code == 403
    )
    assert reader.delete(holiday_url("TARGET2", "2026-04-03")).status_code == 403
    imported = reader.post(
        f"{URL}TARGET2/holidays/import", {"market": "ECB", "years": [2026]}, format="json"
    )
    assert imported.status_code == 403
    assert Calendar.objects.count() == 1
    assert Holiday.objects.count() == 3


def test_institution_key__reads_calendars_never_writes(make_key, client_for, target2):
    bank = make_institution("DEUTDEFF", name="DB")
    client = client_for(make_key("bank", institution=bank))
    assert client.get(URL).json()["count"] == 1
    assert client.get(f"{URL}TARGET2/").status_code == 200
    assert client.get(holiday_url("TARGET2")).json()["count"] == 3
    assert client.get(f"{URL}TARGET2/holidays.ics").status_code == 200
    check = client.get(f"{URL}TARGET2/business-days/check", {"date": "2026-04-03"})
    assert check.status_code == 200
    assert check.json()["is_business_day"] is False
    assert client.patch(f"{URL}TARGET2/", {"name": "x"}, format="json").status_code == 403
    assert (
        client.post(holiday_url("TARGET2"), {"date": "2026-05-01", "name": "x"}).status_code == 403
    )
    assert (
        client.post(
            f"{URL}TARGET2/holidays/import", {"market": "ECB", "years": [2026]}, format="json"
        ).status_code
        == 403
    )
    assert Holiday.objects.count() == 3


def test_staff__needs_model_permission_to_write(client, django_user_model, target2):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw-123456!", is_staff=True)
    client.force_login(user)
    assert client.get(holiday_url("TARGET2")).status_code == 200
    body = {"date": "2026-05-01", "name": "Labour Day"}
    assert (
        client.post(holiday_url("TARGET2"), body, content_type="application/json").status_code
        == 403
    )
    user.user_permissions.add(Permission.objects.get(codename="add_holiday"))
    user = django_user_model.objects.get(pk=user.pk)
    client.force_login(user)
    response = client.post(holiday_url("TARGET2"), body, content_type="application/json")
    assert response.status_code == 201, response.content
    entry = AuditEntry.objects.filter(content_type__model="holiday", action=0).latest("id")
    assert entry.actor_display == "viewer"


# --- holidays --------------------------------------------------------------------------------


def test_holiday_create__201_shape_source_manual_audited(writer, target2):
    response = writer.post(
        holiday_url("TARGET2"), {"date": "2026-05-01", "name": "Labour Day"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["date"] == "2026-05-01"
    assert body["name"] == "Labour Day"
    assert body["source"] == "manual"
    assert body["version"] == 1
    assert body["calendar"] == "TARGET2"
    assert response["ETag"] == '"1"'
    entry = AuditEntry.objects.filter(content_type__model="holiday", action=0).latest("id")
    assert entry.actor_name == "api-key:writer"


def test_holiday_create__source_is_read_only(writer, target2):
    response = writer.post(
        holiday_url("TARGET2"),
        {"date": "2026-05-01", "name": "Labour Day", "source": "holidays:XX"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["source"] == "manual"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"date": "2026-13-01", "name": "x"}, "date"),
        ({"date": "1899-12-31", "name": "x"}, "date"),
        ({"date": "2200-01-01", "name": "x"}, "date"),
        ({"date": "soon", "name": "x"}, "date"),
        ({"name": "x"}, "date"),
        ({"date": "2026-05-01", "name": ""}, "name"),
        ({"date": "2026-05-01", "name": "x" * 201}, "name"),
        ({"date": "2026-05-01"}, "name"),
        ({"date": "2026-05-01", "name": "x", "colour": "red"}, "colour"),
    ],
)
def test_holiday_create__bad_input__400_names_it_nothing_changed(writer, target2, body, field):
    before = (Holiday.objects.count(), Calendar.objects.get(pk=target2.pk).version)
    response = writer.post(holiday_url("TARGET2"), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert (Holiday.objects.count(), Calendar.objects.get(pk=target2.pk).version) == before
    good = writer.post(holiday_url("TARGET2"), {"date": "2026-05-01", "name": "x"}, format="json")
    assert good.status_code == 201


def test_holiday_create__duplicate_date__409(writer, target2):
    response = writer.post(
        holiday_url("TARGET2"), {"date": "2026-04-03", "name": "Again"}, format="json"
    )
    assert response.status_code == 409
    assert Holiday.objects.get(calendar=target2, date=date(2026, 4, 3)).name == "Good Friday"


def test_holiday_list__unknown_calendar__404(reader):
    assert reader.get(holiday_url("NOPE")).status_code == 404
    assert reader.get(holiday_url("NOPE", "2026-04-03")).status_code == 404


def test_holiday_list__ordered_by_date_with_filters(reader, target2):
    def dates(**params):
        response = reader.get(holiday_url("TARGET2"), params)
        assert response.status_code == 200, response.content
        return [row["date"] for row in response.json()["results"]]

    assert dates() == ["2026-04-03", "2026-04-06", "2027-01-01"]
    assert dates(year=2027) == ["2027-01-01"]
    assert dates(start="2026-04-04") == ["2026-04-06", "2027-01-01"]
    assert dates(end="2026-04-05") == ["2026-04-03"]
    assert dates(start="2026-04-04", end="2026-12-31") == ["2026-04-06"]
    assert dates(year=2026, start="2026-04-05") == ["2026-04-06"]


@pytest.mark.parametrize(
    ("param", "value"),
    [("year", "20x6"), ("year", "1800"), ("start", "2026-02-30"), ("end", "yesterday")],
)
def test_holiday_list__bad_filter__400_names_it(reader, target2, param, value):
    response = reader.get(holiday_url("TARGET2"), {param: value})
    assert response.status_code == 400
    assert param in response.json()


def test_holiday_detail__by_date_get_put_patch_delete(writer, target2):
    url = holiday_url("TARGET2", "2026-04-03")
    got = writer.get(url)
    assert got.status_code == 200
    assert got["ETag"] == '"1"'
    assert got.json()["name"] == "Good Friday"
    assert writer.get(url, HTTP_IF_NONE_MATCH='"1"').status_code == 304

    put = writer.put(url, {"name": "Karfreitag"}, format="json", HTTP_IF_MATCH='"1"')
    assert put.status_code == 200, put.content
    assert put.json()["name"] == "Karfreitag"
    assert put["ETag"] == '"2"'

    patch = writer.patch(url, {"name": "Good Friday"}, format="json", HTTP_IF_MATCH='"2"')
    assert patch.status_code == 200
    assert patch.json()["version"] == 3

    # Sending the date unchanged is fine; a GET body can be PUT back as it is.
    body = writer.get(url).json()
    assert writer.put(url, body, format="json", HTTP_IF_MATCH='"3"').status_code == 200

    assert writer.delete(url, HTTP_IF_MATCH='"4"').status_code == 204
    assert writer.get(url).status_code == 404
    assert (
        AuditEntry.objects.filter(
            content_type__model="holiday", actor_name="api-key:writer", action=1
        ).count()
        == 3
    )
    assert (
        AuditEntry.objects.filter(
            content_type__model="holiday", actor_name="api-key:writer", action=2
        ).count()
        == 1
    )


def test_holiday_detail__date_immutable__400_nothing_changed(writer, target2):
    url = holiday_url("TARGET2", "2026-04-03")
    response = writer.patch(url, {"date": "2026-04-10"}, format="json")
    assert response.status_code == 400
    assert "date" in response.json()
    assert Holiday.objects.filter(calendar=target2, date=date(2026, 4, 3)).exists()
    assert not Holiday.objects.filter(date=date(2026, 4, 10)).exists()


def test_holiday_detail__stale_if_match__412_nothing_changed(writer, target2):
    url = holiday_url("TARGET2", "2026-04-03")
    assert writer.patch(url, {"name": "A"}, format="json", HTTP_IF_MATCH='"1"').status_code == 200
    assert writer.patch(url, {"name": "B"}, format="json", HTTP_IF_MATCH='"1"').status_code == 412
    assert writer.delete(url, HTTP_IF_MATCH='"1"').status_code == 412
    assert Holiday.objects.get(calendar=target2, date=date(2026, 4, 3)).name == "A"


@pytest.mark.parametrize("bad", ["2026-02-30", "20260403", "today", "2026-4-3"])
def test_holiday_detail__not_a_date__404(reader, target2, bad):
    assert reader.get(holiday_url("TARGET2", bad)).status_code == 404


def test_holiday_detail__other_calendars_holiday__404(writer, target2):
    other = services.create_calendar(data={"code": "USFED", "name": "Fed"})
    services.create_holiday(calendar=other, data={"date": date(2026, 7, 3), "name": "July 4th"})
    assert writer.get(holiday_url("TARGET2", "2026-07-03")).status_code == 404
    assert writer.delete(holiday_url("TARGET2", "2026-07-03")).status_code == 404
    assert Holiday.objects.filter(calendar=other).count() == 1
