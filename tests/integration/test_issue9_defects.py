"""Issue 9: the defects, each reproduced through the paths a user takes (API, admin pages as a
browser submits them), with the good case beside each refusal.

1. A calendar without weekend days (24/7/365, as TIPS or FedNow) is accepted everywhere, and
   every business-day and window answer treats Saturday and Sunday as business days.
2. No admin save path answers a service's refusal with a 500: the form (or page) is shown
   again with the reason, and nothing is saved.
3. Every versioned change form — the window's and its override rows included — carries the
   version it was opened at and refuses to overwrite a newer change.
4. Window overlap validation covers the zone's older clock-change rules (through the API).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.test import Client

from calendars import services as calendar_services
from calendars.businessdays import BusinessCalendar, CalendarData
from calendars.models import Calendar
from cbpconfig.admin import ServiceModelAdmin
from configuration import services as configuration_services
from configuration.models import Configuration, ConfigurationValue
from tests.factories import session
from tests.support.forms import opened_form, with_fields
from windows import admin as windows_admin
from windows import services as window_services
from windows.models import ProcessingWindow, WindowOverride

pytestmark = pytest.mark.django_db(transaction=True)

EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]
TIPS = {"code": "TIPS", "name": "TIPS", "timezone": "Europe/Berlin", "weekend_days": []}


@pytest.fixture
def admin_client(superuser):
    client = Client()
    client.force_login(superuser)
    return client


# --- a browser's view of an admin form ------------------------------------------------------


def _opened_form(client: Client, url: str, model_name: str) -> dict[str, list[str]]:
    """GET ``url`` and return what submitting its form unchanged (Save) would POST."""
    return {**opened_form(client, url, f"{model_name}_form"), "_save": ["Save"]}


def _page_text(response) -> str:
    return response.content.decode()


# =============================================================================================
# 1. Calendars without weekend days
# =============================================================================================


def test_calendar_api__empty_weekend__accepted_on_post_put_and_patch(writer):
    # Before: 400 {"weekend_days": ["This field cannot be blank."]}.
    response = writer.post("/api/v1/calendars/", TIPS, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["weekend_days"] == []
    assert Calendar.objects.get(code="TIPS").weekend_days == []

    # PATCH to a weekend and back to none, PUT with none.
    url = "/api/v1/calendars/TIPS/"
    response = writer.patch(url, {"weekend_days": [6, 7]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["weekend_days"] == [6, 7]
    response = writer.patch(url, {"weekend_days": []}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["weekend_days"] == []
    response = writer.put(url, {**TIPS, "name": "TIPS (ECB)"}, format="json")
    assert response.status_code == 200, response.content
    assert writer.get(url).json()["weekend_days"] == []
    # Still refused: all seven days, repeats, a non-list.
    for bad in ([1, 2, 3, 4, 5, 6, 7], [6, 6], None):
        response = writer.patch(url, {"weekend_days": bad}, format="json")
        assert response.status_code == 400, (bad, response.content)
        assert "weekend_days" in response.json()
    assert Calendar.objects.get(code="TIPS").weekend_days == []


def test_calendar_model__empty_weekend__full_clean_accepts_and_none_refused(db):
    Calendar(
        code="FEDNOW", name="FedNow", timezone="America/New_York", weekend_days=[]
    ).full_clean()
    with pytest.raises(ValidationError) as exc:
        Calendar(code="FEDNOW", name="FedNow", weekend_days=None).full_clean()
    assert "weekend_days" in exc.value.message_dict


def test_calendar_admin__empty_weekend__added_and_changed(admin_client):
    base = "/admin/calendars/calendar/"
    form = _opened_form(admin_client, f"{base}add/", "calendar")
    form = with_fields(form, code="TIPS", name="TIPS", timezone="Europe/Berlin", weekend_days="[]")
    response = admin_client.post(f"{base}add/", form)
    assert response.status_code == 302, _page_text(response)[:3000]
    tips = Calendar.objects.get(code="TIPS")
    assert tips.weekend_days == []

    usfed = calendar_services.create_calendar(data={"code": "USFED", "name": "US"})
    form = with_fields(_opened_form(admin_client, f"{base}{usfed.pk}/change/", "calendar"))
    assert form["weekend_days"] == ["6", "7"]  # ticked boxes since issue 13 (JSON still accepted)
    response = admin_client.post(f"{base}{usfed.pk}/change/", with_fields(form, weekend_days="[]"))
    assert response.status_code == 302, _page_text(response)[:3000]
    assert Calendar.objects.get(pk=usfed.pk).weekend_days == []
    # An empty box is not "no weekend": refused with a message, nothing changed.
    form = _opened_form(admin_client, f"{base}{usfed.pk}/change/", "calendar")
    response = admin_client.post(f"{base}{usfed.pk}/change/", with_fields(form, weekend_days=""))
    assert response.status_code == 200
    assert "[] for a calendar open every day" in _page_text(response)
    # The year view shows every day of a week as a business day.
    response = admin_client.get(f"{base}{usfed.pk}/year/2026/")
    assert response.status_code == 200
    assert response.context["business_day_count"] == 365


def test_businessdays__empty_weekend__agrees_with_numpy_all_days_weekmask():
    holidays = (date(2026, 12, 25), date(2026, 12, 27), date(2027, 1, 1))
    cal = BusinessCalendar(CalendarData("TIPS", (), tuple((d, "closed") for d in holidays)))
    np_cal = np.busdaycalendar(weekmask="1111111", holidays=list(holidays))
    saturday = date(2026, 12, 19)
    assert cal.is_business_day(saturday)
    assert cal.is_business_day(saturday + timedelta(1))
    assert cal.check(date(2026, 12, 27)) == (
        False,
        [{"calendar": "TIPS", "kind": "holiday", "name": "closed"}],
    )
    for offset in range(-20, 21):
        d = saturday + timedelta(offset)
        assert cal.is_business_day(d) == bool(np.is_busday(d, busdaycal=np_cal))
        assert cal.next(d) == np.busday_offset(d + timedelta(1), 0, "forward", busdaycal=np_cal)
        assert cal.previous(d) == np.busday_offset(
            d - timedelta(1), 0, "backward", busdaycal=np_cal
        )
        for days in (-9, -1, 0, 1, 9):
            for convention, roll in (("following", "following"), ("preceding", "preceding")):
                assert cal.add(d, days, convention) == np.busday_offset(
                    d, days, roll, busdaycal=np_cal
                )
        assert cal.count(d, d + timedelta(30)) == np.busday_count(
            d, d + timedelta(30), busdaycal=np_cal
        )
    # Joined with a calendar that has a weekend, the weekend is the other calendar's.
    joint = BusinessCalendar(cal.members[0], CalendarData("T2", (6, 7)))
    assert not joint.is_business_day(saturday)
    assert joint.check(saturday)[1] == [{"calendar": "T2", "kind": "weekend", "name": "Saturday"}]


def test_business_day_api__empty_weekend__saturday_and_sunday_are_business_days(writer, reader):
    assert writer.post("/api/v1/calendars/", TIPS, format="json").status_code == 201
    assert (
        writer.post(
            "/api/v1/calendars/TIPS/holidays/",
            {"date": "2026-12-27", "name": "Closed Sunday"},
            format="json",
        ).status_code
        == 201
    )
    base = "/api/v1/calendars/TIPS/business-days"

    def get(path, **params):
        response = reader.get(f"{base}{path}", params)
        assert response.status_code == 200, response.content
        return response.json()

    assert get("/check", date="2026-12-19") == {
        "date": "2026-12-19",
        "is_business_day": True,
        "reasons": [],
    }
    assert get("/check", date="2026-12-20")["is_business_day"] is True
    assert get("/check", date="2026-12-27") == {
        "date": "2026-12-27",
        "is_business_day": False,
        "reasons": [{"calendar": "TIPS", "kind": "holiday", "name": "Closed Sunday"}],
    }
    assert get("/add", date="2026-12-18", days=1)["result"] == "2026-12-19"  # Fri + 1 = Sat
    assert get("/add", date="2026-12-26", days=1)["result"] == "2026-12-28"  # skips the holiday
    assert get("/add", date="2026-12-27", days=0, convention="preceding")["result"] == (
        "2026-12-26"
    )
    assert get("/adjust", date="2026-12-19", convention="following")["result"] == "2026-12-19"
    assert get("/next", date="2026-12-18")["result"] == "2026-12-19"
    assert get("/previous", date="2026-12-21")["result"] == "2026-12-20"
    assert get("/count", start="2026-12-14", end="2026-12-21")["count"] == 7
    assert get("/count", start="2026-12-21", end="2026-12-28")["count"] == 6
    assert get("", start="2026-12-19", end="2026-12-21")["business_days"] == [
        "2026-12-19",
        "2026-12-20",
        "2026-12-21",
    ]
    # Joint with a Monday-Friday calendar: the weekend comes from the other member only.
    calendar_services.create_calendar(data={"code": "T2", "name": "TARGET2"})
    response = reader.get("/api/v1/calendars/TIPS+T2/business-days/check", {"date": "2026-12-19"})
    assert response.json()["reasons"] == [{"calendar": "T2", "kind": "weekend", "name": "Saturday"}]


def test_window_on_calendar_without_weekend__sessions_and_status_every_day(writer, reader):
    assert writer.post("/api/v1/calendars/", TIPS, format="json").status_code == 201
    writer.post(
        "/api/v1/calendars/TIPS/holidays/", {"date": "2026-12-27", "name": "Closed"}, format="json"
    )
    window = {
        "code": "TIPS-DAY",
        "name": "TIPS day",
        "calendar": "TIPS",
        "payment_type": "INST",
        "sessions": [
            {"label": "day", "weekdays": EVERY_DAY, "opens": "07:00", "closes": "19:00"},
        ],
    }
    response = writer.post("/api/v1/windows/", window, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["timezone"] == "Europe/Berlin"

    response = reader.get(
        "/api/v1/windows/TIPS-DAY/sessions", {"start": "2026-12-18", "end": "2026-12-28"}
    )
    assert response.status_code == 200, response.content
    dates = [s["business_date"] for s in response.json()["sessions"]]
    assert dates == [
        "2026-12-18",
        "2026-12-19",  # Saturday
        "2026-12-20",  # Sunday
        "2026-12-21",
        "2026-12-22",
        "2026-12-23",
        "2026-12-24",
        "2026-12-25",
        "2026-12-26",
        # 2026-12-27 is the holiday
        "2026-12-28",
    ]

    def status(at: str) -> dict:
        response = reader.get("/api/v1/windows/TIPS-DAY/status", {"at": at})
        assert response.status_code == 200, response.content
        return response.json()

    saturday_noon = status("2026-12-19T12:00:00+01:00")
    assert saturday_noon["is_open"] is True
    assert saturday_noon["processing_date"] == "2026-12-19"
    assert saturday_noon["seconds_until_close"] == 7 * 3600
    saturday_evening = status("2026-12-19T20:00:00+01:00")
    assert saturday_evening["is_open"] is False
    assert saturday_evening["processing_date"] == "2026-12-20"  # Sunday
    before_holiday = status("2026-12-26T20:00:00+01:00")
    assert before_holiday["processing_date"] == "2026-12-28"  # the Sunday is a holiday


# =============================================================================================
# 2. A service's refusal in the admin: the form again, with the reason, never a 500
# =============================================================================================


def test_admin__every_domain_admin_saves_through_the_shared_base():
    """One error-catching base for every admin that writes our objects."""
    domain_apps = {"calendars", "configuration", "windows", "flags"}
    writers = [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in domain_apps
    ]
    assert {m._meta.app_label for m, _ in writers} == domain_apps
    for model, model_admin in writers:
        assert isinstance(model_admin, ServiceModelAdmin), model
    assert not hasattr(windows_admin, "ServiceErrorsMixin")  # the windows-only copy is gone


@pytest.fixture
def limit(db):
    configuration = configuration_services.create_configuration(
        data={"key": "payments.limit", "value_type": "string", "description": "A limit"}
    )
    configuration_services.create_value(
        configuration=configuration,
        data={"value": "abc", "effective_from": datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))},
    )
    return Configuration.objects.get(pk=configuration.pk)


def test_configuration_admin__type_change_refused_by_the_service__form_again_with_reason(
    admin_client, limit
):
    # The form deletes the old value and changes the type, but meanwhile another string value
    # was added (through the API, a service): the service refuses the type at save time.
    # Before: its ValidationError escaped save_model: a 500.
    url = f"/admin/configuration/configuration/{limit.pk}/change/"
    form = _opened_form(admin_client, url, "configuration")
    assert form["values-0-value"] == ["abc"]  # a string input of its type since issue 13
    configuration_services.create_value(
        configuration=limit,
        data={"value": "xyz", "effective_from": datetime(2026, 2, 1, tzinfo=ZoneInfo("UTC"))},
    )
    response = admin_client.post(
        url, with_fields(form, value_type="integer", values__0__DELETE="on")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "is not a integer" in str(errors["value_type"]), errors
    assert "is not a integer" in _page_text(response)
    stored = Configuration.objects.get(pk=limit.pk)
    assert (stored.value_type, stored.version) == ("string", 1)
    assert sorted(ConfigurationValue.objects.values_list("value", flat=True)) == ["abc", "xyz"]
    # Good case: the form opened now shows both values; deleting both, the type changes.
    form = _opened_form(admin_client, url, "configuration")
    form = with_fields(form, value_type="integer", values__0__DELETE="on", values__1__DELETE="on")
    response = admin_client.post(url, form)
    assert response.status_code == 302, _page_text(response)[:3000]
    assert Configuration.objects.get(pk=limit.pk).value_type == "integer"
    assert not ConfigurationValue.objects.exists()


def test_configuration_admin__type_change_deleting_the_old_values__saved_in_one_go(
    admin_client, limit
):
    url = f"/admin/configuration/configuration/{limit.pk}/change/"
    form = _opened_form(admin_client, url, "configuration")
    form = with_fields(
        form,
        value_type="integer",
        values__0__DELETE="on",
        values__TOTAL_FORMS="2",
        values__1__value="42",
        values__1__effective_from_0="2026-02-01",
        values__1__effective_from_1="00:00:00",
    )
    response = admin_client.post(url, form)
    assert response.status_code == 302, _page_text(response)[:3000]
    stored = Configuration.objects.get(pk=limit.pk)
    assert stored.value_type == "integer"
    assert list(ConfigurationValue.objects.filter(configuration=limit).values_list("value")) == [
        (42,)
    ]


def test_configuration_admin__two_new_values_at_one_instant__refused_on_the_form(
    admin_client, limit
):
    # Before: the second create hit the unique constraint (IntegrityError): a 500.
    url = f"/admin/configuration/configuration/{limit.pk}/change/"
    rows = {
        "values__TOTAL_FORMS": "3",
        "values__1__value": '"x"',
        "values__1__effective_from_0": "2026-03-01",
        "values__1__effective_from_1": "00:00:00",
        "values__2__value": '"y"',
        "values__2__effective_from_0": "2026-03-01",
        "values__2__effective_from_1": "00:00:00",
    }
    response = admin_client.post(
        url, with_fields(_opened_form(admin_client, url, "configuration"), **rows)
    )
    assert response.status_code == 200
    assert "conflicts with an existing object" in _page_text(response)
    assert ConfigurationValue.objects.filter(configuration=limit).count() == 1
    assert Configuration.objects.get(pk=limit.pk).version == 1
    # Good case: two instants.
    rows["values__2__effective_from_0"] = "2026-04-01"
    response = admin_client.post(
        url, with_fields(_opened_form(admin_client, url, "configuration"), **rows)
    )
    assert response.status_code == 302, _page_text(response)[:3000]
    assert ConfigurationValue.objects.filter(configuration=limit).count() == 3


@pytest.fixture
def weekday_window(db):
    """Monday-Friday 21:00 (day before) - 19:00 in New York, on a calendar without holidays;
    Tuesday 2026-03-10 closed, and Wednesday 2026-03-11 opening at 18:00 on the Tuesday —
    which only fits because Tuesday is closed."""
    calendar = calendar_services.create_calendar(
        data={"code": "NYC", "name": "NY", "timezone": "America/New_York"}
    )
    window = window_services.create_window(
        data={
            "code": "WIRE",
            "name": "Wire",
            "calendar": calendar,
            "sessions": [session("21:00", "19:00", opens_day_offset=-1)],
        }
    )
    closed = window_services.create_override(
        window=window, data={"date": date(2026, 3, 10), "closed": True, "reason": "closed"}
    )
    early = window_services.create_override(
        window=window,
        data={
            "date": date(2026, 3, 11),
            "sessions": [{"label": "early", "opens": "18:00", "opens_day_offset": -1,
                          "closes": "19:00"}],
            "reason": "opens early",
        },
    )  # fmt: skip
    return window, closed, early


def test_override_admin__delete_refused_by_the_service__confirmation_page_again(
    admin_client, weekday_window
):
    # Before: the service's ValidationError escaped the delete view: a 500.
    _, closed, early = weekday_window
    url = f"/admin/windows/windowoverride/{closed.pk}/delete/"
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == url
    text = _page_text(response)
    assert "would bring back regular sessions that overlap" in text
    assert WindowOverride.objects.filter(pk=closed.pk).exists()
    # Good case: the early opening can go (its date gets its regular session back).
    response = admin_client.post(
        f"/admin/windows/windowoverride/{early.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not WindowOverride.objects.filter(pk=early.pk).exists()


def test_override_admin__bulk_delete_refused__list_again_and_nothing_deleted(
    admin_client, weekday_window
):
    # Before: a 500 from the changelist. Both selected; the closed day goes first and is
    # refused, so neither is deleted (the action is all or nothing).
    _, closed, early = weekday_window
    url = "/admin/windows/windowoverride/"
    response = admin_client.post(
        url,
        {"action": "delete_selected", "_selected_action": [closed.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert "would bring back regular sessions that overlap" in _page_text(response)
    assert WindowOverride.objects.count() == 2
    # Good case: the early opening alone.
    response = admin_client.post(
        url, {"action": "delete_selected", "_selected_action": [early.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert list(WindowOverride.objects.values_list("pk", flat=True)) == [closed.pk]


def test_override_admin__bulk_delete_of_several__all_or_nothing(admin_client, weekday_window):
    window, closed, early = weekday_window
    third = window_services.create_override(
        window=window, data={"date": date(2026, 3, 2), "closed": True, "reason": "x"}
    )
    response = admin_client.post(
        "/admin/windows/windowoverride/",
        {
            "action": "delete_selected",
            "_selected_action": [third.pk, closed.pk],
            "post": "yes",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert set(WindowOverride.objects.values_list("pk", flat=True)) == {
        third.pk,
        closed.pk,
        early.pk,
    }


# =============================================================================================
# 3. Every versioned change form carries its version
# =============================================================================================


def _versioned_objects():
    """One object of every versioned model with an admin change page (and its inline rows)."""
    calendar = calendar_services.create_calendar(
        data={"code": "NYC", "name": "NY", "timezone": "America/New_York"}
    )
    holiday = calendar_services.create_holiday(
        calendar=calendar, data={"date": date(2026, 7, 3), "name": "Independence Day"}
    )
    institution = configuration_services.create_institution(
        data={"code": "DEUTDEFF", "name": "DB", "country": "DE", "timezone": "Europe/Berlin"}
    )
    configuration = configuration_services.create_configuration(
        data={"key": "a.b", "value_type": "integer"}
    )
    value = configuration_services.create_value(
        configuration=configuration, data={"value": 1, "institution": institution}
    )
    window = window_services.create_window(
        data={
            "code": "WIN",
            "name": "W",
            "calendar": calendar,
            "sessions": [{"label": "d", "weekdays": [1, 2, 3, 4, 5], "opens": "08:00",
                          "closes": "17:00"}],
        }
    )  # fmt: skip
    override = window_services.create_override(
        window=window, data={"date": date(2026, 3, 10), "closed": True, "reason": "r"}
    )
    from flags.services import create_flag

    flag = create_flag(data={"name": "new-rails"})
    return [
        (calendar, "holidays", holiday),
        (holiday, None, None),
        (institution, None, None),
        (configuration, "values", value),
        (value, None, None),
        (window, "overrides", override),
        (override, None, None),
        (flag, None, None),
    ]


def test_every_versioned_change_form__carries_the_version_it_was_opened_at(admin_client):
    for obj, inline, row in _versioned_objects():
        type(obj).objects.filter(pk=obj.pk).update(version=7)  # not the default of 1
        opts = obj._meta
        url = f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/change/"
        form = _opened_form(admin_client, url, opts.model_name)
        assert form.get("expected_version") == ["7"], (url, sorted(form))
        if inline is not None:
            type(row).objects.filter(pk=row.pk).update(version=3)
            form = _opened_form(admin_client, url, opts.model_name)
            assert form.get(f"{inline}-0-expected_version") == ["3"], (url, sorted(form))


def test_window_admin__form_opened_before_an_api_change__refused_then_saved_fresh(
    admin_client, writer, weekday_window
):
    # Before: the window form had no version field, so this save silently overwrote the API's.
    window, _, _ = weekday_window
    url = f"/admin/windows/processingwindow/{window.pk}/change/"
    opened = _opened_form(admin_client, url, "processingwindow")
    response = writer.patch("/api/v1/windows/WIRE/", {"name": "From the API"}, format="json")
    assert response.status_code == 200

    response = admin_client.post(url, with_fields(opened, name="From the admin"))
    assert response.status_code == 200
    assert "Someone else changed this object" in _page_text(response)
    assert ProcessingWindow.objects.get(pk=window.pk).name == "From the API"

    fresh = _opened_form(admin_client, url, "processingwindow")
    response = admin_client.post(url, with_fields(fresh, name="From the admin"))
    assert response.status_code == 302, _page_text(response)[:3000]
    assert ProcessingWindow.objects.get(pk=window.pk).name == "From the admin"


def test_window_admin__override_row_opened_before_an_api_change__refused_then_saved_fresh(
    admin_client, writer, weekday_window
):
    window, closed, _ = weekday_window
    url = f"/admin/windows/processingwindow/{window.pk}/change/"
    opened = _opened_form(admin_client, url, "processingwindow")
    row = next(
        k.split("-")[1] for k, v in opened.items() if k.endswith("-id") and v == [str(closed.pk)]
    )
    response = writer.patch(
        "/api/v1/windows/WIRE/overrides/2026-03-10/", {"reason": "From the API"}, format="json"
    )
    assert response.status_code == 200, response.content

    response = admin_client.post(url, with_fields(opened, **{f"overrides__{row}__reason": "Admin"}))
    assert response.status_code == 200
    assert "Someone else changed this object" in _page_text(response)
    assert WindowOverride.objects.get(pk=closed.pk).reason == "From the API"

    fresh = _opened_form(admin_client, url, "processingwindow")
    response = admin_client.post(url, with_fields(fresh, **{f"overrides__{row}__reason": "Admin"}))
    assert response.status_code == 302, _page_text(response)[:3000]
    assert WindowOverride.objects.get(pk=closed.pk).reason == "Admin"


def test_override_admin__form_opened_before_a_service_change__refused_then_saved_fresh(
    admin_client, weekday_window
):
    _, closed, _ = weekday_window
    url = f"/admin/windows/windowoverride/{closed.pk}/change/"
    opened = _opened_form(admin_client, url, "windowoverride")
    window_services.update_override(override=closed, data={"reason": "by a service"})
    response = admin_client.post(url, with_fields(opened, reason="Admin"))
    assert response.status_code == 200
    assert "Someone else changed this object" in _page_text(response)
    assert WindowOverride.objects.get(pk=closed.pk).reason == "by a service"
    response = admin_client.post(
        url, with_fields(_opened_form(admin_client, url, "windowoverride"), reason="Admin")
    )
    assert response.status_code == 302
    assert WindowOverride.objects.get(pk=closed.pk).reason == "Admin"


# =============================================================================================
# 4. Overlap validation covers the zone's older clock-change rules
# =============================================================================================


def _night_and_day(**extra):
    return [
        {"label": "night", "weekdays": EVERY_DAY, "opens": "20:00", "opens_day_offset": -1,
         "closes": "00:30", **extra},
        {"label": "day", "weekdays": EVERY_DAY, "opens": "01:00", "closes": "18:00", **extra},
    ]  # fmt: skip


def test_window_api__overlap_only_under_brazils_old_dst__400_naming_first_date(writer):
    # Before: accepted (only this year and the next were checked; Brazil has had no DST
    # since 2019).
    calendar_services.create_calendar(
        data={"code": "BRPIX", "name": "Pix", "timezone": "America/Sao_Paulo", "weekend_days": []}
    )
    window = {"code": "PIX", "name": "Pix", "calendar": "BRPIX", "sessions": _night_and_day()}
    response = writer.post("/api/v1/windows/", window, format="json")
    assert response.status_code == 400, response.content
    assert response.json() == {
        "sessions": ["session 'day' on 1932-10-03 overlaps session 'night' on 1932-10-03"]
    }
    assert not ProcessingWindow.objects.exists()
    # Good case: the same rules from 2019-06-01 on.
    window["sessions"] = _night_and_day(effective_from="2019-06-01")
    response = writer.post("/api/v1/windows/", window, format="json")
    assert response.status_code == 201, response.content


def test_window_api__every_day_rule_in_apia__400_naming_the_skipped_day(writer):
    calendar_services.create_calendar(
        data={"code": "WS", "name": "Samoa", "timezone": "Pacific/Apia", "weekend_days": []}
    )
    rule = {"label": "day", "weekdays": EVERY_DAY, "opens": "09:00", "closes": "17:00"}
    window = {"code": "APIA", "name": "Apia", "calendar": "WS", "sessions": [rule]}
    response = writer.post("/api/v1/windows/", window, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["sessions"] == [
        "session 'day' on 2011-12-31 overlaps session 'day' on 2011-12-30"
    ]
    window["sessions"] = [{**rule, "effective_from": "2012-01-01"}]
    assert writer.post("/api/v1/windows/", window, format="json").status_code == 201
