"""The admin console for calendars: pages load for staff, saves go through the services
(audited with the user), the import action, the year view and per-object history."""

from __future__ import annotations

from datetime import date

import holidays
import pytest
from django.urls import reverse
from django.utils import timezone

from calendars import services
from calendars.models import Calendar, Holiday
from cbpconfig.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def target2(db):
    cal = services.create_calendar(
        data={"code": "TARGET2", "name": "TARGET2", "timezone": "Europe/Berlin"}
    )
    services.create_holiday(calendar=cal, data={"date": date(2026, 4, 3), "name": "Good Friday"})
    services.create_holiday(calendar=cal, data={"date": date(2026, 4, 6), "name": "Easter Monday"})
    return Calendar.objects.get(pk=cal.pk)


def change_url(calendar):
    return reverse("admin:calendars_calendar_change", args=[calendar.pk])


def inline_management(total, initial):
    return {
        "holidays-TOTAL_FORMS": str(total),
        "holidays-INITIAL_FORMS": str(initial),
        "holidays-MIN_NUM_FORMS": "0",
        "holidays-MAX_NUM_FORMS": "1000",
    }


def calendar_form(calendar, **overrides):
    data = {
        "name": calendar.name,
        "timezone": calendar.timezone,
        "weekend_days": "[6, 7]",
        # The admin renders a hidden initial value for fields with a callable default.
        "initial-weekend_days": "[6, 7]",
        "description": calendar.description,
        "expected_version": str(calendar.version),
        "_save": "Save",
    }
    data.update(overrides)
    return data


def inline_rows(calendar):
    rows = {}
    holidays_ = list(Holiday.objects.filter(calendar=calendar).order_by("date"))
    for index, holiday in enumerate(holidays_):
        rows.update(
            {
                f"holidays-{index}-id": str(holiday.pk),
                f"holidays-{index}-calendar": str(calendar.pk),
                f"holidays-{index}-date": holiday.date.isoformat(),
                f"holidays-{index}-name": holiday.name,
                f"holidays-{index}-expected_version": str(holiday.version),
            }
        )
    return rows, len(holidays_)


def new_row_form(calendar, rows, count, day, name):
    """The change form's POST body with the existing `rows` and one new holiday row."""
    new = {"calendar": str(calendar.pk), "date": day, "name": name}
    rows.update({f"holidays-{count}-{field}": value for field, value in new.items()})
    return {**calendar_form(calendar), **inline_management(count + 1, count), **rows}


def test_changelist__loads_with_search_and_filter(admin_client, target2):
    url = reverse("admin:calendars_calendar_changelist")
    response = admin_client.get(url)
    assert response.status_code == 200
    assert b"TARGET2" in response.content
    assert b"2026-12-31" in response.content or b"Dec. 31, 2026" in response.content
    assert b"TARGET2" in admin_client.get(url, {"q": "targ"}).content
    assert b"TARGET2" not in admin_client.get(url, {"q": "zzz"}).content
    assert admin_client.get(url, {"timezone": "Europe/Berlin"}).status_code == 200


def test_change_page__holidays_inline_and_year_view_link(admin_client, target2):
    response = admin_client.get(change_url(target2))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Good Friday" in content
    assert "Easter Monday" in content
    year_url = reverse("admin:calendars_calendar_year", args=[target2.pk, timezone.now().year])
    assert year_url in content


def test_add__calendar_with_inline_holidays__through_services_audited(admin_client, superuser):
    data = {
        "code": "USFED",
        "name": "Fedwire",
        "timezone": "America/New_York",
        "weekend_days": "[6, 7]",
        "description": "",
        "_save": "Save",
        **inline_management(1, 0),
        "holidays-0-date": "2026-07-03",
        "holidays-0-name": "Independence Day (observed)",
    }
    response = admin_client.post(reverse("admin:calendars_calendar_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    calendar = Calendar.objects.get(code="USFED")
    assert list(calendar.holidays.values_list("date", "source")) == [(date(2026, 7, 3), "manual")]
    entries = AuditEntry.objects.filter(actor=superuser)
    assert sorted(e.content_type.model for e in entries) == ["calendar", "holiday"]


def test_change__inline_rename_add_delete__services_and_fresh_answers(
    admin_client, superuser, target2, reader
):
    assert reader.get(
        "/api/v1/calendars/TARGET2/business-days/check", {"date": "2026-05-01"}
    ).json()["is_business_day"]
    rows, count = inline_rows(target2)
    rows["holidays-0-name"] = "Karfreitag"
    rows["holidays-1-DELETE"] = "on"
    data = new_row_form(target2, rows, count, "2026-05-01", "Labour Day")
    response = admin_client.post(change_url(target2), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert dict(target2.holidays.values_list("date", "name")) == {
        date(2026, 4, 3): "Karfreitag",
        date(2026, 5, 1): "Labour Day",
    }
    # The calendar object itself did not change: no version bump, no audit entry for it.
    assert Calendar.objects.get(pk=target2.pk).version == 1
    actions = sorted(
        (e.content_type.model, e.action) for e in AuditEntry.objects.filter(actor=superuser)
    )
    assert actions == [("holiday", 0), ("holiday", 1), ("holiday", 2)]
    check = reader.get("/api/v1/calendars/TARGET2/business-days/check", {"date": "2026-05-01"})
    assert check.json()["is_business_day"] is False


def test_change__inline_date_is_immutable__form_error_nothing_changed(admin_client, target2):
    rows, count = inline_rows(target2)
    rows["holidays-0-date"] = "2026-04-10"
    data = {**calendar_form(target2), **inline_management(count, count), **rows}
    response = admin_client.post(change_url(target2), data)
    assert response.status_code == 200
    assert "immutable" in response.content.decode()
    assert Holiday.objects.filter(calendar=target2, date=date(2026, 4, 3)).exists()


def test_change__inline_duplicate_date__form_error(admin_client, target2):
    rows, count = inline_rows(target2)
    data = new_row_form(target2, rows, count, "2026-04-03", "Again")
    response = admin_client.post(change_url(target2), data)
    assert response.status_code == 200
    assert Holiday.objects.filter(calendar=target2).count() == 2


def test_change__calendar_fields_through_service_audited(admin_client, superuser, target2):
    rows, count = inline_rows(target2)
    data = {
        **calendar_form(target2, name="TARGET2 RTGS", weekend_days="[5, 6, 7]"),
        **inline_management(count, count),
        **rows,
    }
    response = admin_client.post(change_url(target2), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    calendar = Calendar.objects.get(pk=target2.pk)
    assert (calendar.name, calendar.weekend_days, calendar.version) == (
        "TARGET2 RTGS",
        [5, 6, 7],
        2,
    )
    entry = AuditEntry.objects.get(actor=superuser, content_type__model="calendar")
    assert entry.changes["name"] == ["TARGET2", "TARGET2 RTGS"]


def test_change__stale_version__refused(admin_client, target2):
    services.update_calendar(calendar=target2, data={"name": "changed elsewhere"})
    rows, count = inline_rows(target2)
    data = {**calendar_form(target2, name="mine"), **inline_management(count, count), **rows}
    response = admin_client.post(change_url(target2), data)
    assert response.status_code == 200
    assert Calendar.objects.get(pk=target2.pk).name == "changed elsewhere"


def test_year_view__weekends_and_holidays_month_by_month(admin_client, target2):
    url = reverse("admin:calendars_calendar_year", args=[target2.pk, 2026])
    response = admin_client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'title="Good Friday"' in content
    assert 'class="holiday"' in content
    assert 'class="weekend"' in content
    assert "January" in content
    assert "December" in content
    assert response.context["holiday_count"] == 2
    april = response.context["months"][3]
    assert april["business_days"] == 20  # 22 weekdays minus Good Friday and Easter Monday
    assert "holiday-gap" not in content
    assert reverse("admin:calendars_calendar_year", args=[target2.pk, 2027]) in content


def test_year_view__year_without_holidays__shows_the_gap(admin_client, target2):
    response = admin_client.get(reverse("admin:calendars_calendar_year", args=[target2.pk, 2031]))
    assert response.status_code == 200
    assert "holiday-gap" in response.content.decode()


def test_year_view__unknown_calendar_or_year__404(admin_client, target2):
    assert (
        admin_client.get(f"/admin/calendars/calendar/{target2.pk + 999}/year/2026/").status_code
        == 404
    )
    assert admin_client.get(f"/admin/calendars/calendar/{target2.pk}/year/1800/").status_code == 404


def test_year_view__anonymous__redirected_to_login(client, target2):
    response = client.get(reverse("admin:calendars_calendar_year", args=[target2.pk, 2026]))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_import_action__intermediate_form_then_import_audited(admin_client, superuser, target2):
    url = reverse("admin:calendars_calendar_changelist")
    selection = {"action": "import_holidays", "_selected_action": [str(target2.pk)]}
    page = admin_client.post(url, selection)
    assert page.status_code == 200
    assert b"Import holidays" in page.content
    assert b'name="market"' in page.content

    bad = admin_client.post(url, {**selection, "apply": "1", "market": "ECB", "years": "2000-2060"})
    assert bad.status_code == 200
    assert b"at most 50" in bad.content or b"more than 50" in bad.content
    assert Holiday.objects.filter(calendar=target2).count() == 2

    done = admin_client.post(
        url, {**selection, "apply": "1", "market": "ECB", "years": "2026-2027"}
    )
    assert done.status_code == 302
    expected = holidays.financial_holidays("ECB", years=[2026, 2027])
    stored = dict(target2.holidays.values_list("date", "name"))
    assert set(stored) == set(expected)
    assert stored[date(2026, 4, 3)] == "Good Friday"  # existing date kept
    created = AuditEntry.objects.filter(actor=superuser, content_type__model="holiday", action=0)
    assert created.count() == len(expected) - 2
    assert set(
        target2.holidays.exclude(date__in=[date(2026, 4, 3), date(2026, 4, 6)]).values_list(
            "source", flat=True
        )
    ) == {"holidays:ECB"}


def test_import_action__country_and_subdivision(admin_client, target2):
    url = reverse("admin:calendars_calendar_changelist")
    response = admin_client.post(
        url,
        {
            "action": "import_holidays",
            "_selected_action": [str(target2.pk)],
            "apply": "1",
            "country": "US",
            "subdivision": "CA",
            "years": "2026",
        },
    )
    assert response.status_code == 302
    assert target2.holidays.filter(source="holidays:US-CA").exists()


def test_history__per_calendar_and_holiday(admin_client, target2):
    response = admin_client.get(reverse("admin:calendars_calendar_auditlog", args=[target2.pk]))
    assert response.status_code == 200
    holiday = target2.holidays.first()
    response = admin_client.get(reverse("admin:calendars_holiday_auditlog", args=[holiday.pk]))
    assert response.status_code == 200


def test_delete__through_admin__cascade_audited(admin_client, superuser, target2):
    url = reverse("admin:calendars_calendar_delete", args=[target2.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Calendar.objects.exists()
    assert not Holiday.objects.exists()
    assert AuditEntry.objects.filter(actor=superuser, action=2).count() == 3


def test_delete_selected__through_services(admin_client, superuser, target2):
    url = reverse("admin:calendars_calendar_changelist")
    response = admin_client.post(
        url, {"action": "delete_selected", "_selected_action": [str(target2.pk)], "post": "yes"}
    )
    assert response.status_code == 302
    assert not Calendar.objects.exists()
    assert (
        AuditEntry.objects.filter(actor=superuser, action=2, content_type__model="calendar").count()
        == 1
    )


def test_holiday_admin__pages_and_rename(admin_client, superuser, target2):
    assert admin_client.get(reverse("admin:calendars_holiday_changelist")).status_code == 200
    holiday = target2.holidays.get(date=date(2026, 4, 3))
    url = reverse("admin:calendars_holiday_change", args=[holiday.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url, {"name": "Karfreitag", "expected_version": "1", "_save": "Save"}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    holiday.refresh_from_db()
    assert (holiday.name, holiday.version, holiday.date) == ("Karfreitag", 2, date(2026, 4, 3))
    assert AuditEntry.objects.filter(actor=superuser, action=1).count() == 1


def test_holiday_admin__add_duplicate_date__form_error(admin_client, target2):
    response = admin_client.post(
        reverse("admin:calendars_holiday_add"),
        {"calendar": str(target2.pk), "date": "2026-04-03", "name": "Again", "_save": "Save"},
    )
    assert response.status_code == 200
    assert Holiday.objects.filter(calendar=target2).count() == 2
