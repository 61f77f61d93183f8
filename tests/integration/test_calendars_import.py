"""Holiday import from the `holidays` package: API and management command."""

from __future__ import annotations

from datetime import date

import holidays
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from calendars import services
from calendars.models import Calendar, Holiday
from cbpconfig.models import AuditEntry

pytestmark = pytest.mark.django_db

URL = "/api/v1/calendars/"


@pytest.fixture
def target2(db):
    return services.create_calendar(data={"code": "TARGET2", "name": "TARGET2"})


@pytest.fixture
def usny(db):
    return services.create_calendar(data={"code": "USNY", "name": "New York"})


def stored(calendar):
    return dict(Holiday.objects.filter(calendar=calendar).values_list("date", "name"))


def package_dates(entries) -> dict[date, str]:
    return {day: "; ".join(entries.get_list(day)) for day in entries}


def import_(client, code, body):
    return client.post(f"{URL}{code}/holidays/import", body, format="json")


# --- API ---------------------------------------------------------------------------------------


def test_import_market__same_as_holidays_package(writer, target2):
    response = import_(writer, "TARGET2", {"market": "ECB", "years": [2026, 2027]})
    assert response.status_code == 200, response.content
    expected = package_dates(holidays.financial_holidays("ECB", years=[2026, 2027]))
    assert response.json() == {"created": len(expected), "skipped": 0}
    assert stored(target2) == expected
    assert set(Holiday.objects.values_list("source", flat=True)) == {"holidays:ECB"}
    assert date(2026, 4, 3) in expected
    assert date(2026, 4, 6) in expected


def test_import_country__same_as_holidays_package(writer, usny):
    response = import_(writer, "USNY", {"country": "US", "subdivision": None, "years": [2026]})
    assert response.status_code == 200, response.content
    expected = package_dates(holidays.country_holidays("US", years=[2026]))
    assert response.json() == {"created": len(expected), "skipped": 0}
    assert stored(usny) == expected
    assert set(Holiday.objects.values_list("source", flat=True)) == {"holidays:US"}


def test_import_subdivision__same_as_package_source_names_it(writer, usny):
    response = import_(writer, "USNY", {"country": "US", "subdivision": "CA", "years": [2026]})
    assert response.status_code == 200, response.content
    expected = package_dates(holidays.country_holidays("US", subdiv="CA", years=[2026]))
    assert stored(usny) == expected
    assert set(Holiday.objects.values_list("source", flat=True)) == {"holidays:US-CA"}


def test_import__several_names_on_one_date__joined_with_semicolon(writer, db):
    services.create_calendar(data={"code": "KRX", "name": "Korea"})
    response = import_(writer, "KRX", {"country": "KR", "years": [2025]})
    assert response.status_code == 200
    holiday = Holiday.objects.get(calendar__code="KRX", date=date(2025, 5, 5))
    assert holiday.name == "; ".join(
        holidays.country_holidays("KR", years=[2025]).get_list(date(2025, 5, 5))
    )
    assert "; " in holiday.name


def test_import__idempotent_existing_dates_kept(writer, target2):
    services.create_holiday(
        calendar=target2, data={"date": date(2026, 12, 25), "name": "Weihnachten"}
    )
    first = import_(writer, "TARGET2", {"market": "ECB", "years": [2026]}).json()
    total = len(holidays.financial_holidays("ECB", years=[2026]))
    assert first == {"created": total - 1, "skipped": 1}
    holiday = Holiday.objects.get(calendar=target2, date=date(2026, 12, 25))
    assert (holiday.name, holiday.source) == ("Weihnachten", "manual")
    entries = AuditEntry.objects.count()
    again = import_(writer, "TARGET2", {"market": "ECB", "years": [2026]}).json()
    assert again == {"created": 0, "skipped": total}
    assert AuditEntry.objects.count() == entries


def test_import__one_audit_entry_per_created_holiday_with_actor(writer, target2):
    response = import_(writer, "TARGET2", {"market": "ECB", "years": [2026]})
    created = response.json()["created"]
    entries = AuditEntry.objects.filter(content_type__model="holiday", action=0)
    assert entries.count() == created
    assert set(entries.values_list("actor_name", flat=True)) == {"api-key:writer"}


def test_import__staff_with_add_holiday(client, django_user_model, target2):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("cal-staff", password="pw-123456!", is_staff=True)
    client.force_login(user)
    body = {"market": "ECB", "years": [2026]}
    url = f"{URL}TARGET2/holidays/import"
    assert client.post(url, body, content_type="application/json").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="add_holiday"))
    client.force_login(django_user_model.objects.get(pk=user.pk))
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert (
        AuditEntry.objects.filter(
            content_type__model="holiday", actor__username="cal-staff"
        ).count()
        == response.json()["created"]
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"country": "XX", "years": [2026]}, "country"),
        ({"country": "US", "subdivision": "ZZ", "years": [2026]}, "subdivision"),
        ({"market": "NOPE", "years": [2026]}, "market"),
        ({"market": "ECB", "subdivision": "CA", "years": [2026]}, "subdivision"),
        ({"country": "US", "market": "ECB", "years": [2026]}, "market"),
        ({"years": [2026]}, "country"),
        ({"market": "ECB"}, "years"),
        ({"market": "ECB", "years": []}, "years"),
        ({"market": "ECB", "years": [2000, 2050]}, "years"),
        ({"market": "ECB", "years": [1899]}, "years"),
        ({"market": "ECB", "years": [2200]}, "years"),
        ({"market": "ECB", "years": ["2026x"]}, "years"),
        ({"market": "ECB", "years": 2026}, "years"),
        ({"market": "ECB", "years": [2026], "overwrite": True}, "overwrite"),
    ],
)
def test_import__bad_input__400_names_it_nothing_changed(writer, target2, body, field):
    before = (Holiday.objects.count(), AuditEntry.objects.count())
    response = import_(writer, "TARGET2", body)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert (Holiday.objects.count(), AuditEntry.objects.count()) == before


def test_import__50_years__allowed(writer, target2):
    response = import_(writer, "TARGET2", {"market": "ECB", "years": [2000, 2049]})
    assert response.status_code == 200
    assert Holiday.objects.filter(calendar=target2).dates("date", "year").count() == 2


def test_import__unknown_calendar__404(writer):
    assert import_(writer, "NOPE", {"market": "ECB", "years": [2026]}).status_code == 404
    assert not Holiday.objects.exists()


def test_import__codes_case_insensitive_stored_as_package_spells_them(writer, target2):
    response = import_(writer, "TARGET2", {"market": "ecb", "years": [2026]})
    assert response.status_code == 200
    assert set(Holiday.objects.values_list("source", flat=True)) == {"holidays:ECB"}


def test_import__trailing_slash_also_answers(writer, target2):
    response = writer.post(
        f"{URL}TARGET2/holidays/import/", {"market": "ECB", "years": [2026]}, format="json"
    )
    assert response.status_code == 200


def test_import__metrics_after_commit(target2, django_capture_on_commit_callbacks):
    from prometheus_client import REGISTRY

    labels = {"calendar": "TARGET2", "action": "create"}
    before = REGISTRY.get_sample_value("cbp_calendar_holiday_changes_total", labels) or 0.0
    source = services.holiday_source(market="ECB", years=[2026])
    with django_capture_on_commit_callbacks(execute=True):
        result = services.import_holidays(calendar=target2, source=source)
    after = REGISTRY.get_sample_value("cbp_calendar_holiday_changes_total", labels)
    assert after == before + result.created


def test_import__one_token_write_per_transaction(
    target2, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from calendars.cache import name
    from cbpconfig.cache import token_key

    writes: list[list[str]] = []
    original = cache.set_many

    def spy(data, *args, **kwargs):
        writes.append(sorted(data))
        return original(data, *args, **kwargs)

    monkeypatch.setattr(cache, "set_many", spy)
    source = services.holiday_source(market="ECB", years=[2026, 2027])
    with django_capture_on_commit_callbacks(execute=True):
        result = services.import_holidays(calendar=target2, source=source)
        assert writes == []  # nothing before the commit
    assert result.created > 5
    # One bump of TARGET2's token covers all the imported holidays.
    assert writes == [[token_key(name("TARGET2"))]]


# --- management command ------------------------------------------------------------------------


def test_command__market_years_range__imports_and_audits_as_system(target2, capsys):
    call_command("import_holidays", "TARGET2", "--market", "ECB", "--years", "2026-2028")
    expected = package_dates(holidays.financial_holidays("ECB", years=[2026, 2027, 2028]))
    assert stored(target2) == expected
    out = capsys.readouterr().out
    assert f"created {len(expected)}, skipped 0" in out
    entries = AuditEntry.objects.filter(content_type__model="holiday", action=0)
    assert entries.count() == len(expected)
    assert set(entries.values_list("actor_name", flat=True)) == {"system:import_holidays"}


def test_command__country_subdivision(usny):
    call_command(
        "import_holidays", "USNY", "--country", "US", "--subdivision", "NY", "--years", "2026"
    )
    expected = package_dates(holidays.country_holidays("US", subdiv="NY", years=[2026]))
    assert stored(usny) == expected
    assert set(Holiday.objects.values_list("source", flat=True)) == {"holidays:US-NY"}


@pytest.mark.parametrize(
    "args",
    [
        ["NOPE", "--market", "ECB", "--years", "2026"],
        ["TARGET2", "--market", "NOPE", "--years", "2026"],
        ["TARGET2", "--country", "XX", "--years", "2026"],
        ["TARGET2", "--country", "US", "--subdivision", "ZZ", "--years", "2026"],
        ["TARGET2", "--market", "ECB", "--subdivision", "CA", "--years", "2026"],
        ["TARGET2", "--market", "ECB", "--years", "2026-2080"],
        ["TARGET2", "--market", "ECB", "--years", "2030-2026"],
        ["TARGET2", "--market", "ECB", "--years", "soon"],
        ["TARGET2", "--market", "ECB", "--years", "1850"],
    ],
)
def test_command__bad_input__one_line_error_nothing_changed(target2, args):
    with pytest.raises(CommandError) as info:
        call_command("import_holidays", *args)
    assert "\n" not in str(info.value)
    assert not Holiday.objects.exists()
    assert not AuditEntry.objects.filter(content_type__model="holiday").exists()


def test_command__either_country_or_market_required(target2):
    with pytest.raises(CommandError):
        call_command("import_holidays", "TARGET2", "--years", "2026")
    with pytest.raises(CommandError):
        call_command(
            "import_holidays", "TARGET2", "--country", "US", "--market", "ECB", "--years", "2026"
        )
    assert Calendar.objects.get(pk=target2.pk).version == 1
