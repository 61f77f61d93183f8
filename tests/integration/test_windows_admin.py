"""The admin console for processing windows: pages load, saves go through the services (with
the API's validation shown on the form), overrides inline, history, and the 14-day preview of
the saved and of the unsaved state, computed by the same code as the API."""

# Fixtures are imported from test_windows_api and used as test arguments (pytest style).
# ruff: noqa: F811

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from cbpconfig.models import AuditEntry
from tests.integration.test_windows_api import (  # noqa: F401 - fixtures
    FEDWIRE,
    _snapshot,
    usfed,
    window,
)
from windows.models import ProcessingWindow, WindowOverride

pytestmark = pytest.mark.django_db(transaction=True)

BASE = "/admin/windows/processingwindow/"
# The inline override formset's management form, with no rows.
NO_OVERRIDES = {
    "overrides-TOTAL_FORMS": "0",
    "overrides-INITIAL_FORMS": "0",
    "overrides-MIN_NUM_FORMS": "0",
    "overrides-MAX_NUM_FORMS": "1000",
}


@pytest.fixture
def admin_client(superuser):
    client = Client()
    client.force_login(superuser)
    return client


def _window_form(window, **changes):
    """The POST body of the window's change form with its current values."""
    data = {
        "name": window.name,
        "description": window.description,
        "institution": window.institution_id or "",
        "calendar": window.calendar_id,
        "timezone": window.timezone,
        "payment_type": window.payment_type,
        "is_active": "on" if window.is_active else "",
        "sessions": json.dumps(FEDWIRE["sessions"]),
        "expected_version": window.version,
        **NO_OVERRIDES,
    }
    existing = list(WindowOverride.objects.filter(window=window).order_by("date"))
    for i, o in enumerate(existing):
        data.update(
            {
                f"overrides-{i}-id": o.pk,
                f"overrides-{i}-window": window.pk,
                f"overrides-{i}-date": o.date.isoformat(),
                f"overrides-{i}-closed": "on" if o.closed else "",
                f"overrides-{i}-sessions": json.dumps(o.sessions),
                f"overrides-{i}-reason": o.reason,
            }
        )
    data["overrides-TOTAL_FORMS"] = data["overrides-INITIAL_FORMS"] = str(len(existing))
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def _add_override_rows(data, *rows):
    start = int(data["overrides-TOTAL_FORMS"])
    for i, row in enumerate(rows, start=start):
        data[f"overrides-{i}-date"] = row["date"]
        if row.get("closed"):
            data[f"overrides-{i}-closed"] = "on"
        data[f"overrides-{i}-sessions"] = json.dumps(row.get("sessions", []))
        data[f"overrides-{i}-reason"] = row["reason"]
    data["overrides-TOTAL_FORMS"] = str(start + len(rows))
    return data


def _row(date, reason, label, opens, closes):
    """An inline override row with one session, opening on the day before."""
    rule = {"label": label, "opens": opens, "opens_day_offset": -1, "closes": closes}
    return {"date": date, "sessions": [rule], "reason": reason}


def _next_business_date(reader, today):
    """The first business date with a session from `today` on, per the API."""
    end = today + timedelta(days=13)
    body = reader.get(
        "/api/v1/windows/FEDWIRE/sessions", {"start": today.isoformat(), "end": end.isoformat()}
    ).json()
    return body["sessions"]


def test_changelist__superuser__lists_windows(admin_client, window):
    response = admin_client.get(BASE)
    assert response.status_code == 200
    assert b"FEDWIRE" in response.content
    assert admin_client.get(BASE, {"q": "FED"}).status_code == 200


def test_change_page__shows_14_day_preview_like_the_api(admin_client, reader, window):
    response = admin_client.get(f"{BASE}{window.pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="window-preview"' in content
    assert "does not save" in content
    today = timezone.now().astimezone(window_zone()).date()
    api_sessions = _next_business_date(reader, today)
    preview = response.context["window_preview"]
    assert [(s["business_date"], s["opens_at"], s["closes_at"]) for s in preview] == [
        (s["business_date"], s["opens_at"], s["closes_at"]) for s in api_sessions
    ]
    assert len(preview) >= 8  # two weeks of weekdays, less the odd holiday
    for s in api_sessions:
        assert s["opens_at"] in content  # UTC instants (titles)
        assert s["opens_at_local"] in content  # local instants with offset (titles)
    assert "UTC" in content
    assert "EST" in content or "EDT" in content


def window_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/New_York")


def test_add_page__loads_and_creates_through_services(admin_client, usfed):
    assert admin_client.get(f"{BASE}add/").status_code == 200
    data = {
        "code": "FEDWIRE",
        "name": "Fedwire",
        "calendar": usfed.pk,
        "timezone": "",
        "payment_type": "RTGS",
        "is_active": "on",
        "sessions": json.dumps(FEDWIRE["sessions"]),
        **NO_OVERRIDES,
    }
    response = admin_client.post(f"{BASE}add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    window = ProcessingWindow.objects.get(code="FEDWIRE")
    assert window.timezone == "America/New_York"  # the calendar's
    assert window.rules.count() == 1
    entry = AuditEntry.objects.get(content_type__model="processingwindow", action=0)
    assert entry.actor.username == "admin"


def test_add__overlapping_rules__error_on_form_nothing_saved(admin_client, usfed):
    rules = [{**FEDWIRE["sessions"][0], "closes": "22:00"}]
    data = {
        "code": "FEDWIRE",
        "name": "Fedwire",
        "calendar": usfed.pk,
        "is_active": "on",
        "sessions": json.dumps(rules),
        **NO_OVERRIDES,
    }
    response = admin_client.post(f"{BASE}add/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "overlaps" in " ".join(errors["sessions"])
    assert not ProcessingWindow.objects.exists()


def test_change__rules_and_inline_override__saved_through_services(admin_client, window):
    data = _add_override_rows(
        _window_form(window, name="Fedwire Funds"),
        _row("2026-12-24", "Christmas Eve", "early", "21:00", "13:00"),
    )
    response = admin_client.post(f"{BASE}{window.pk}/change/", data)
    assert response.status_code == 302, _errors(response)
    window.refresh_from_db()
    assert window.name == "Fedwire Funds"
    assert window.version == 2
    override = WindowOverride.objects.get(window=window)
    assert override.sessions[0]["closes"] == "13:00"
    entry = AuditEntry.objects.get(content_type__model="windowoverride", action=0)
    assert entry.actor.username == "admin"


def test_change__inline_override_overlapping__error_shown_nothing_saved(admin_client, window):
    before = _snapshot()
    data = _add_override_rows(
        _window_form(window), _row("2026-03-10", "overlaps Monday", "x", "17:00", "19:00")
    )
    response = admin_client.post(f"{BASE}{window.pk}/change/", data)
    assert response.status_code == 200
    assert "overlaps" in response.content.decode()
    assert _snapshot() == before


def test_change__override_without_reason__error_shown(admin_client, window):
    before = _snapshot()
    data = _add_override_rows(
        _window_form(window), {"date": "2026-03-10", "closed": True, "reason": ""}
    )
    response = admin_client.post(f"{BASE}{window.pk}/change/", data)
    assert response.status_code == 200
    assert _snapshot() == before


def test_change__stale_version__refused(admin_client, window, writer):
    assert (
        writer.patch("/api/v1/windows/FEDWIRE/", {"name": "API"}, format="json").status_code == 200
    )
    response = admin_client.post(f"{BASE}{window.pk}/change/", _window_form(window, name="Admin"))
    assert response.status_code == 200
    assert "Someone else changed this object" in response.content.decode()
    window.refresh_from_db()
    assert window.name == "API"


def test_preview__unsaved_override__shown_not_saved(admin_client, reader, window):
    today = timezone.now().astimezone(window_zone()).date()
    upcoming = _next_business_date(reader, today)
    target = upcoming[1]["business_date"]
    before = _snapshot()
    data = _add_override_rows(
        _window_form(window), {"date": target, "closed": True, "reason": "preview only"}
    )
    data["_preview"] = "Preview"
    response = admin_client.post(f"{BASE}{window.pk}/change/", data)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Nothing is saved yet" in content
    diff = response.context["window_diff"]
    assert {r["status"] for r in diff if r["business_date"] == target} == {"removed"}
    assert {r["status"] for r in diff if r["business_date"] != target} == {"same"}
    assert _snapshot() == before
    # The change page still shows the saved sessions.
    saved = admin_client.get(f"{BASE}{window.pk}/change/").context["window_preview"]
    assert target in [s["business_date"] for s in saved]


def test_preview__unsaved_early_close__override_source_shown(admin_client, reader, window):
    today = timezone.now().astimezone(window_zone()).date()
    target = _next_business_date(reader, today)[0]["business_date"]
    data = _add_override_rows(
        _window_form(window), _row(target, "early close", "early", "21:00", "13:00")
    )
    data["_preview"] = "Preview"
    response = admin_client.post(f"{BASE}{window.pk}/change/", data)
    assert response.status_code == 200
    (row,) = [r for r in response.context["window_diff"] if r["business_date"] == target]
    assert row["source"] == "override"
    assert row["status"] == "changed"
    assert row["after"].endswith("13:00")
    assert not WindowOverride.objects.exists()


def test_preview__invalid_form__errors_listed_nothing_saved(admin_client, window):
    before = _snapshot()
    data = _window_form(
        window, sessions=json.dumps([{**FEDWIRE["sessions"][0], "closes": "22:00"}])
    )
    data["_preview"] = "Preview"
    response = admin_client.post(f"{BASE}{window.pk}/change/", data)
    assert response.status_code == 200
    assert response.context["errors"]
    assert "window_diff" not in response.context
    assert "overlaps" in response.content.decode()
    assert _snapshot() == before


def test_preview__add_page__previews_new_window(admin_client, usfed):
    data = {
        "code": "NEWWIN",
        "name": "New",
        "calendar": usfed.pk,
        "is_active": "on",
        "sessions": json.dumps(FEDWIRE["sessions"]),
        **NO_OVERRIDES,
        "_preview": "Preview",
    }
    response = admin_client.post(f"{BASE}add/", data)
    assert response.status_code == 200
    diff = response.context["window_diff"]
    assert diff
    assert {r["status"] for r in diff} == {"added"}
    assert not ProcessingWindow.objects.exists()


def test_preview__one_home__no_separate_preview_page(admin_client, window):
    """The preview is the change form's (windows.preview): the old page and its URLs are gone."""
    for name, args in (
        ("admin:windows_processingwindow_preview", [window.pk]),
        ("admin:windows_processingwindow_preview_add", []),
    ):
        with pytest.raises(NoReverseMatch):
            reverse(name, args=args)
    response = admin_client.post(f"{BASE}{window.pk}/preview/", _window_form(window))
    assert response.status_code != 200 or "Nothing has been saved" not in response.content.decode()


def test_history__window__lists_changes(admin_client, window, writer):
    assert writer.patch("/api/v1/windows/FEDWIRE/", {"name": "x"}, format="json").status_code == 200
    response = admin_client.get(f"{BASE}{window.pk}/auditlog/")
    assert response.status_code == 200


def test_delete__through_admin__window_and_children_gone(admin_client, window):
    response = admin_client.post(f"{BASE}{window.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ProcessingWindow.objects.exists()


def test_override_admin__pages_load_and_save(admin_client, window):
    base = "/admin/windows/windowoverride/"
    assert admin_client.get(base).status_code == 200
    assert admin_client.get(f"{base}add/").status_code == 200
    data = {
        "window": window.pk,
        "date": "2026-12-24",
        "closed": "on",
        "sessions": "[]",
        "reason": "closed",
    }
    response = admin_client.post(f"{base}add/", data)
    assert response.status_code == 302, _errors(response)
    override = WindowOverride.objects.get()
    assert admin_client.get(f"{base}{override.pk}/change/").status_code == 200
    row = _row("2026-03-10", "overlap", "x", "17:00", "19:00")
    bad = {"window": window.pk, **row, "sessions": json.dumps(row["sessions"])}
    response = admin_client.post(f"{base}add/", bad)
    assert response.status_code == 200
    assert "overlaps" in response.content.decode()
    assert WindowOverride.objects.count() == 1


def _errors(response):
    if response.context is None:
        return response.content[:500]
    out = []
    for key in ("adminform", "inline_admin_formsets", "errors"):
        if key in response.context:
            out.append(repr(response.context[key]))
    errors = response.context.get("errors")
    return errors or out
