"""Forms made for the data (issue 13, items 2, 3 and 7): weekday boxes, time inputs with day
offsets, the time-zone picker, typed configuration values checked as typed, the holiday
import page and the year view's clicks, the preview as a difference on the window's form,
and the stale save that shows what changed and keeps the input."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from calendars import services as calendar_services
from calendars.models import Calendar, Holiday
from cbpconfig.audit import system_actor
from cbpconfig.models import AuditEntry
from configuration import services as configuration_services
from configuration.models import Configuration, ConfigurationValue
from tests.support.forms import opened_form, with_fields
from windows.models import ProcessingWindow, WindowOverride

pytestmark = pytest.mark.django_db


# -- weekdays and time zones ---------------------------------------------------------------


def test_calendar_form__weekend_as_boxes_zone_as_picker(role_client):
    editor = role_client("Operations editor")
    page = editor.get("/admin/calendars/calendar/add/").content.decode()
    assert 'type="checkbox" name="weekend_days" value="6"' in page
    assert '<select name="timezone"' in page
    assert '<option value="Europe/Berlin">' in page
    form = opened_form(editor, "/admin/calendars/calendar/add/", "calendar_form")
    form = with_fields(form, code="TIPS", name="TIPS", timezone="Europe/Berlin", weekend_days=[])
    form["weekend_days-present"] = ["1"]
    form["_save"] = ["Save"]
    assert editor.post("/admin/calendars/calendar/add/", form).status_code == 302
    assert Calendar.objects.get(code="TIPS").weekend_days == []
    form = with_fields(
        opened_form(editor, "/admin/calendars/calendar/add/", "calendar_form"),
        code="T2",
        name="T2",
        timezone="Europe/Berlin",
        weekend_days=["6", "7"],
        holidays__TOTAL_FORMS="0",
    )
    assert editor.post("/admin/calendars/calendar/add/", form).status_code == 302
    assert Calendar.objects.get(code="T2").weekend_days == [6, 7]


# -- the window's rules as rows ------------------------------------------------------------


def test_window_form__rules_as_rows_with_day_offsets(role_client, estate):
    editor = role_client("Operations editor")
    url = "/admin/windows/processingwindow/add/"
    form = opened_form(editor, url, "processingwindow_form")
    assert form["sessions-TOTAL"] == ["2"]  # a usual day, and a blank row for one more
    form = with_fields(
        form,
        code="FEDWIRE",
        name="Fedwire",
        calendar=str(estate["calendar"].pk),
        timezone="America/New_York",
        sessions__0__label="day",
        sessions__0__weekdays=["1", "2", "3", "4", "5"],
        sessions__0__opens="21:00:00",
        sessions__0__opens_day_offset="-1",
        sessions__0__closes="19:00",
        sessions__0__closes_day_offset="0",
        sessions__0__effective_from="2026-03-08",
        _save="Save",
    )
    response = editor.post(url, form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    window = ProcessingWindow.objects.get(code="FEDWIRE")
    rule = window.rules.get()
    assert (rule.weekdays, str(rule.opens), rule.opens_day_offset, str(rule.closes)) == (
        [1, 2, 3, 4, 5],
        "21:00:00",
        -1,
        "19:00:00",
    )
    assert str(rule.effective_from) == "2026-03-08"


def test_window_form__saved_unchanged__rules_not_rewritten(role_client, estate):
    editor = role_client("Operations editor")
    window = estate["window"]
    url = f"/admin/windows/processingwindow/{window.pk}/change/"
    form = opened_form(editor, url, "processingwindow_form")
    form["_save"] = ["Save"]
    before = AuditEntry.objects.count()
    assert editor.post(url, form).status_code == 302
    window.refresh_from_db()
    assert window.version == 1  # nothing changed, nothing written
    assert AuditEntry.objects.count() == before


def test_window_form__bad_rule__refused_on_the_form(role_client, estate):
    editor = role_client("Operations editor")
    window = estate["window"]
    url = f"/admin/windows/processingwindow/{window.pk}/change/"
    form = with_fields(
        opened_form(editor, url, "processingwindow_form"),
        sessions__0__closes="25:00",
        _save="Save",
    )
    response = editor.post(url, form)
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    window.refresh_from_db()
    assert window.version == 1


def test_window_page__view_only__rules_shown_open_closed_now(role_client, estate):
    page = role_client("Auditor").get(
        f"/admin/windows/processingwindow/{estate['window'].pk}/change/"
    )
    text = page.content.decode()
    assert "cbp-rules-view" in text
    assert 'id="window-status"' in text
    assert "Open now" in text
    assert "data-countdown=" in text


# -- the preview: a difference, on the form, nothing saved, every row kept -----------------


def test_preview__early_close__difference_on_the_form_rows_kept_nothing_saved(role_client, estate):
    editor = role_client("Operations editor")
    window = estate["window"]
    url = f"/admin/windows/processingwindow/{window.pk}/change/"
    form = opened_form(editor, url, "processingwindow_form")
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    total = int(form["overrides-TOTAL_FORMS"][0])
    row = f"overrides-{total}"
    form = with_fields(
        form,
        overrides__TOTAL_FORMS=str(total + 1),
        description="typed, not saved",
    )
    form.update(
        {
            f"{row}-date": [tomorrow],
            f"{row}-reason": ["Early close for the audit"],
            f"{row}-sessions-TOTAL": ["1"],
            f"{row}-sessions-0-label": ["early"],
            f"{row}-sessions-0-opens": ["00:00"],
            f"{row}-sessions-0-opens_day_offset": ["0"],
            f"{row}-sessions-0-closes": ["00:30"],
            f"{row}-sessions-0-closes_day_offset": ["0"],
            f"{row}-window": [str(window.pk)],
            "_preview": ["Preview"],
        }
    )
    response = editor.post(url, form)
    assert response.status_code == 200
    text = response.content.decode()
    diff = response.context["window_diff"]
    changed = [r for r in diff if r["business_date"] == tomorrow]
    assert changed, diff
    assert changed[0]["status"] == "changed", diff
    assert 'id="window-preview-diff"' in text
    assert "Early close for the audit" in text  # the unsaved row is still in the form
    assert "typed, not saved" in text
    assert 'name="_save"' in text  # Save beside the preview
    assert not WindowOverride.objects.filter(reason__startswith="Early").exists()
    window.refresh_from_db()
    assert window.description == ""
    assert window.version == 1


def test_preview__refused_form__errors_and_no_difference(role_client, estate):
    editor = role_client("Operations editor")
    window = estate["window"]
    url = f"/admin/windows/processingwindow/{window.pk}/change/"
    form = with_fields(
        opened_form(editor, url, "processingwindow_form"),
        sessions__0__opens="",
        sessions__0__closes="",
        _preview="Preview",
    )
    response = editor.post(url, form)
    assert response.status_code == 200
    assert "The form would be refused" in response.content.decode()


def test_preview__auditor_may_not(role_client, estate):
    window = estate["window"]
    response = role_client("Auditor").post(
        f"/admin/windows/processingwindow/{window.pk}/change/", {"_preview": "1"}
    )
    assert response.status_code == 403


# -- typed configuration values ------------------------------------------------------------


def test_value_inputs__typed_by_the_configuration(role_client, estate, superuser, client):
    client.force_login(superuser)
    limit = estate["limit"]
    page = client.get(f"/admin/configuration/configuration/{limit.pk}/change/").content.decode()
    assert re.search(r'type="number" step="1" name="values-\d-value" value="500"', page)
    assert re.search(r'type="number" step="1" name="values-\d-value" value="900"', page)
    with system_actor("seed"):
        from configuration import services

        flag = services.create_configuration(
            data={"key": "payments.instant", "value_type": "boolean", "default": False}
        )
        services.create_value(configuration=flag, data={"value": True, "institution": None})
        blob = services.create_configuration(
            data={
                "key": "routing.table",
                "value_type": "json",
                "schema": {"type": "object", "required": ["scheme"]},
            }
        )
    page = client.get(f"/admin/configuration/configuration/{flag.pk}/change/").content.decode()
    assert '<select name="values-0-value"' in page
    assert 'value="true" selected' in page
    page = client.get(f"/admin/configuration/configuration/{blob.pk}/change/").content.decode()
    assert "data-check-url=" in page or "values-__prefix__-value" in page
    assert "required" in page
    assert "scheme" in page


def test_value_inputs__integer_saved_as_a_number(role_client, estate):
    editor = role_client("Operations editor")
    limit = estate["limit"]
    value = ConfigurationValue.objects.get(configuration=limit, institution__isnull=True)
    url = f"/admin/configuration/configurationvalue/{value.pk}/change/"
    form = with_fields(
        opened_form(editor, url, "configurationvalue_form"), value="750", _save="Save"
    )
    assert editor.post(url, form).status_code == 302
    value.refresh_from_db()
    assert value.value == 750
    form = with_fields(
        opened_form(editor, url, "configurationvalue_form"), value="-5", _save="Save"
    )
    response = editor.post(url, form)
    assert response.status_code == 200
    assert "minimum" in response.content.decode() or "less than" in response.content.decode()


def test_configuration_default__typed_input_following_the_type_chosen(role_client, estate):
    """A configuration's default is typed like its values: the page renders an input per type,
    the one of the type chosen enabled, and reads what is posted as the type it is saved under
    — a decimal typed as 12.50 (no quotes), a string as plain text."""
    configurator = role_client("Configuration administrator")
    url = "/admin/configuration/configuration/add/"
    page = configurator.get(url).content.decode()
    assert 'data-type-from="id_value_type"' in page
    assert re.search(
        r'data-kind="integer" hidden><input type="number" step="1" name="default"', page
    )
    assert re.search(r'data-kind="boolean" hidden><select name="default" disabled', page)
    form = with_fields(
        opened_form(configurator, url, "configuration_form"),
        key="payments.fee",
        value_type="decimal",
        default="12.50",
        _save="Save",
    )
    response = configurator.post(url, form)
    assert response.status_code == 302, response.context["errors"]
    fee = Configuration.objects.get(key="payments.fee")
    assert fee.default == "12.50"

    with system_actor("seed"):
        greeting = configuration_services.create_configuration(
            data={"key": "bank.greeting", "value_type": "string", "default": "Hello"}
        )
    url = f"/admin/configuration/configuration/{greeting.pk}/change/"
    page = configurator.get(url).content.decode()
    assert re.search(r'<input type="text" name="default" size="40" value="Hello"', page)
    form = with_fields(
        opened_form(configurator, url, "configuration_form"), default="Good morning", _save="Save"
    )
    assert configurator.post(url, form).status_code == 302
    greeting.refresh_from_db()
    assert greeting.default == "Good morning"


def test_value_add_page__typed_by_the_configuration_chosen(role_client, estate):
    """The stand-alone "add a value" page: choosing the configuration reloads the page with it,
    and the value's input is then of that configuration's type."""
    editor = role_client("Operations editor")
    url = "/admin/configuration/configurationvalue/add/"
    page = editor.get(url).content.decode()
    assert re.search(
        r'<select name="configuration"[^>]*data-reload-on-change="configuration"', page
    )
    page = editor.get(url, {"configuration": estate["limit"].pk}).content.decode()
    assert re.search(r'<input type="number" step="1" name="value"', page)
    with system_actor("seed"):
        greeting = configuration_services.create_configuration(
            data={"key": "bank.greeting", "value_type": "string"}
        )
    form = with_fields(
        opened_form(editor, f"{url}?configuration={greeting.pk}", "configurationvalue_form"),
        value="Guten Tag",
    )
    assert form["configuration"] == [str(greeting.pk)]
    form["_save"] = ["Save"]
    response = editor.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert ConfigurationValue.objects.get(configuration=greeting).value == "Guten Tag"


def test_check_typed_value__the_type_and_schema_of_the_page(role_client, estate):
    """The as-you-type check of a configuration's own page: the type and the schema as typed
    there (not saved yet), checked by the functions every save uses."""
    editor = role_client("Operations editor")
    url = "/admin/configuration/configuration/check-value/"
    schema = json.dumps({"type": "object", "required": ["scheme"]})

    def check(**data):
        return editor.post(url, data).json()

    assert check(value='{"scheme": "SCT"}', value_type="json", schema=schema)["ok"] is True
    refused = check(value="{}", value_type="json", schema=schema)
    assert refused["ok"] is False
    assert "scheme" in refused["error"]
    assert check(value="1.5", value_type="integer", schema="")["ok"] is False
    assert check(value="7", value_type="integer", schema="")["ok"] is True
    assert "not valid JSON" in check(value="{}", value_type="json", schema="{")["error"]
    assert (
        "schema is refused" in check(value="{}", value_type="json", schema='{"type": 12}')["error"]
    )
    assert "type" in check(value="1", value_type="", schema="")["error"]
    assert editor.get(url).status_code == 405


def test_override_sessions__add_a_session_control__as_the_weekly_rules(role_client, estate):
    """The override's sessions editor has the weekly editor's "Add a session", also in the
    empty row the admin copies for "Add another" (its template's names are filled in by the
    script from the row's own counter); a row with three sessions is saved with three."""
    editor = role_client("Operations editor")
    window = estate["window"]
    url = f"/admin/windows/processingwindow/{window.pk}/change/"
    page = editor.get(url).content.decode()
    empty = page.split('name="overrides-__prefix__-sessions-TOTAL"')[1].split("</tr>")[0]
    assert "cbp-add-session" in empty
    assert 'name="__rules__-__row__-opens"' in empty
    weekly = page.split('name="sessions-TOTAL"')[1].split("</fieldset>")[0]
    assert "cbp-add-session" in weekly


def test_check_value__the_services_rules_as_you_type(role_client, estate):
    editor = role_client("Operations editor")
    url = f"/admin/configuration/configuration/{estate['limit'].pk}/check-value/"
    assert editor.post(url, {"value": "12"}).json() == {"ok": True, "error": None}
    bad = editor.post(url, {"value": "-1"}).json()
    assert bad["ok"] is False
    assert bad["error"]
    assert editor.post(url, {"value": "{"}).json()["ok"] is False
    assert editor.get(url).status_code == 405


# -- the holiday import and the year view --------------------------------------------------


def test_import_page__countries_by_name_once__subdivisions_of_the_chosen(role_client, estate):
    editor = role_client("Operations editor")
    calendar = estate["calendar"]
    url = f"/admin/calendars/calendar/{calendar.pk}/import-holidays/"
    page = editor.get(url).content.decode()
    assert '<option value="GB">United Kingdom (GB)</option>' in page
    assert 'value="GBR"' not in page
    assert 'value="UK"' not in page
    assert "European Central Bank — TARGET2 (ECB)" in page
    page = editor.get(url, {"country": "GB"}).content.decode()
    assert "Scotland (SCT)" in page
    response = editor.post(url, {"country": "GB", "subdivision": "SCT", "years": "2027"})
    assert response.status_code == 302
    assert response["Location"].endswith("/year/2027/")
    assert Holiday.objects.filter(calendar=calendar, source="holidays:GB-SCT").count() > 5
    # The calendar's page has the button.
    change = editor.get(f"/admin/calendars/calendar/{calendar.pk}/change/").content.decode()
    assert 'id="import-holidays"' in change


def test_import_page__bad_years__message(role_client, estate):
    response = role_client("Operations editor").post(
        f"/admin/calendars/calendar/{estate['calendar'].pk}/import-holidays/",
        {"country": "DE", "years": "1800"},
    )
    assert response.status_code == 200
    assert "outside the supported years" in response.content.decode()


def test_year_view__click_adds_then_removes_a_holiday__today_marked(role_client, estate):
    editor = role_client("Operations editor")
    calendar = estate["calendar"]
    year = timezone.now().year
    page = editor.get(f"/admin/calendars/calendar/{calendar.pk}/year/{year}/").content.decode()
    today = timezone.now().date().isoformat()
    assert f'today" data-date="{today}"' in page or 'today" title' in page
    assert 'form="day-toggle"' in page
    toggle = f"/admin/calendars/calendar/{calendar.pk}/year/{year}/toggle/"
    day = f"{year}-06-15"
    assert editor.post(toggle, {"date": day, "name": "Founders' day"}).status_code == 302
    holiday = Holiday.objects.get(calendar=calendar, date=day)
    assert holiday.name == "Founders' day"
    assert editor.post(toggle, {"date": day}).status_code == 302
    assert not Holiday.objects.filter(calendar=calendar, date=day).exists()
    actions = list(
        AuditEntry.objects.filter(content_type__model="holiday", object_pk=str(holiday.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [AuditEntry.Action.CREATE, AuditEntry.Action.DELETE]


def test_year_view__auditor__no_clicks(role_client, estate):
    auditor = role_client("Auditor")
    calendar = estate["calendar"]
    year = timezone.now().year
    page = auditor.get(f"/admin/calendars/calendar/{calendar.pk}/year/{year}/").content.decode()
    assert 'form="day-toggle"' not in page
    toggle = f"/admin/calendars/calendar/{calendar.pk}/year/{year}/toggle/"
    assert auditor.post(toggle, {"date": f"{year}-06-15"}).status_code == 403
    assert (
        auditor.post(
            f"/admin/calendars/calendar/{calendar.pk}/import-holidays/",
            {"country": "DE", "years": "2027"},
        ).status_code
        == 403
    )


# -- a stale save: what changed, by whom, the input kept -----------------------------------


def test_stale_save__shows_what_changed_keeps_input__reapplied_on_request(role_client, estate):
    editor = role_client("Operations editor")
    calendar = estate["calendar"]
    url = f"/admin/calendars/calendar/{calendar.pk}/change/"
    form = opened_form(editor, url, "calendar_form")
    with system_actor("colleague"):
        calendar_services.update_calendar(
            calendar=Calendar.objects.get(pk=calendar.pk),
            data={"name": "TARGET2 (ECB)"},
            expected_version=1,
        )
    mine = with_fields(form, description="my note")
    mine["_save"] = ["Save"]
    response = editor.post(url, mine)
    assert response.status_code == 200
    text = response.content.decode()
    panel = text.split('id="stale-changes"')[1].split("</div>")[0]
    assert "system:colleague" in panel
    assert "TARGET2" in panel
    assert "TARGET2 (ECB)" in panel
    assert "version 1 → 2" in panel
    assert "my note" in text  # the input is kept
    assert 'name="name" value="TARGET2 (ECB)"' in text  # theirs, where mine was untouched
    stored = Calendar.objects.get(pk=calendar.pk)
    assert (stored.description, stored.version) == ("", 2)
    # Ticking "save my input over version 2" saves it.
    mine["_reapply_over_version"] = ["2"]
    mine["name"] = ["TARGET2 (ECB)"]
    response = editor.post(url, mine)
    assert response.status_code == 302
    stored.refresh_from_db()
    assert (stored.description, stored.name, stored.version) == ("my note", "TARGET2 (ECB)", 3)


def test_stale_save__reapply_over_an_older_version__refused_again(role_client, estate):
    editor = role_client("Operations editor")
    calendar = estate["calendar"]
    url = f"/admin/calendars/calendar/{calendar.pk}/change/"
    form = opened_form(editor, url, "calendar_form")
    for name in ("A", "B"):
        current = Calendar.objects.get(pk=calendar.pk)
        calendar_services.update_calendar(
            calendar=current, data={"name": name}, expected_version=current.version
        )
    mine = with_fields(form, description="x", _reapply_over_version="2")
    mine["_save"] = ["Save"]
    response = editor.post(url, mine)
    assert response.status_code == 200  # it is at version 3 now: look again
    assert 'id="stale-changes"' in response.content.decode()


def test_history_entries__json_of_changes_never_leaks_expected_version(role_client, estate):
    editor = role_client("Operations editor")
    calendar = estate["calendar"]
    url = f"/admin/calendars/calendar/{calendar.pk}/change/"
    form = with_fields(opened_form(editor, url, "calendar_form"), name="Renamed", _save="Save")
    assert editor.post(url, form).status_code == 302
    page = editor.get(f"/admin/calendars/calendar/{calendar.pk}/history/").content.decode()
    assert "expected_version" not in page
    assert "Renamed" in page
    assert "operations-editor" in page
    entry = AuditEntry.objects.filter(content_type__model="calendar").latest("id")
    assert json.dumps(entry.changes).count("expected_version") == 0
