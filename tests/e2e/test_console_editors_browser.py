"""The console's editors in a real browser (issue 13, "forms made for the data"): an override
of several sessions made with "Add a session" in a row the admin's "Add another" made, and a
configuration's default typed in the input of the type chosen on the page, its JSON checked
against the page's schema as it is typed; a new value's input typed by the configuration
chosen. The browser, gunicorn and the people are test_console_browser's."""

# The fixtures are imported and used as test arguments (pytest style).
# ruff: noqa: F811

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from configuration.models import Configuration, ConfigurationValue
from tests.e2e.test_console_browser import (  # noqa: F401 - fixtures
    _orm_beside_the_browser,
    estate,
    people,
    playwright_browser,
    server,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]


def _three_sessions(estate, day_offset: int = 5) -> tuple[str, list[tuple[str, str, str, str]]]:
    """A business date and three sessions of 50 minutes inside its regular session (which lasts
    three and a half hours): (opens, opens day offset, closes, closes day offset) each."""
    rule = estate["window"].rules.get()
    business_date = (estate["now"] + timedelta(days=day_offset)).date()
    start = datetime.combine(
        business_date + timedelta(days=rule.opens_day_offset), rule.opens
    ).replace(second=0)
    sessions = []
    for n in range(3):
        opens = start + timedelta(hours=n)
        closes = opens + timedelta(minutes=50)
        sessions.append(
            (
                opens.strftime("%H:%M"),
                str((opens.date() - business_date).days),
                closes.strftime("%H:%M"),
                str((closes.date() - business_date).days),
            )
        )
    return business_date.isoformat(), sessions


def _typed_and_checked(page, area, check, text: str, mark: str) -> str:
    """Type ``text`` into ``area`` and wait for the server's as-you-type answer in ``check``
    to start with ``mark`` (✓ or ✗); that answer."""
    area.fill(text)
    page.wait_for_function(
        "([el, mark]) => el.textContent.startsWith(mark)",
        arg=[check.element_handle(), mark],
        timeout=5000,
    )
    return check.inner_text()


def test_editor__override_of_three_sessions__added_with_add_a_session(people, estate):
    day, sessions = _three_sessions(estate)
    window = estate["window"]
    editor = people("editor", "Operations editor")
    page = editor.go(f"/admin/windows/processingwindow/{window.pk}/change/")
    page.click("#overrides-group .add-row a")
    row = page.locator("#overrides-group tr.dynamic-overrides").last
    row.locator("input[name$='-date']").fill(day)
    row.locator("input[name$='-reason']").fill("Split day for the migration")
    for n, (opens, opens_offset, closes, closes_offset) in enumerate(sessions):
        if n:
            row.locator(".cbp-add-session").click()
        # The new row's fields are named after this override row, numbered on.
        prefix = row.locator("input[name$='-sessions-TOTAL']").get_attribute("name")[
            : -len("TOTAL")
        ]
        assert "__" not in prefix, prefix
        row.locator(f"input[name='{prefix}{n}-label']").fill(f"part {n + 1}")
        row.locator(f"input[name='{prefix}{n}-opens']").fill(opens)
        row.locator(f"select[name='{prefix}{n}-opens_day_offset']").select_option(opens_offset)
        row.locator(f"input[name='{prefix}{n}-closes']").fill(closes)
        row.locator(f"select[name='{prefix}{n}-closes_day_offset']").select_option(closes_offset)
    assert row.locator(".cbp-rule").count() == 3
    editor.shot("three-sessions-typed")

    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    editor.shot("saved")
    override = window.overrides.get(date=day)
    assert [s["label"] for s in override.sessions] == ["part 1", "part 2", "part 3"]
    assert [s["closes"] for s in override.sessions] == [s[2] for s in sessions]


def test_configurator__default_typed_as_the_type_chosen__json_checked_as_typed(people, estate):
    configurator = people("configurator", "Configuration administrator")
    page = configurator.go("/admin/configuration/configuration/add/")
    page.fill("#id_key", "routing.default")
    page.select_option("#id_value_type", "integer")
    default = page.locator("input[type=number][name=default]")
    assert default.is_visible()
    default.fill("42")
    page.select_option("#id_value_type", "boolean")
    assert page.locator("select[name=default]").is_visible()
    assert not default.is_visible()
    configurator.shot("default-as-boolean")

    page.select_option("#id_value_type", "json")
    page.fill("#id_schema", '{"type": "object", "required": ["scheme"]}')
    area = page.locator("textarea[name=default]:not([disabled])")
    check = page.locator(".cbp-typed-value .cbp-check").first
    assert "scheme" in _typed_and_checked(page, area, check, '{"name": "x"}', "✗")
    configurator.shot("default-refused-as-typed")
    _typed_and_checked(page, area, check, '{"scheme": "SCT"}', "✓")
    configurator.shot("default-valid-as-typed")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    assert Configuration.objects.get(key="routing.default").default == {"scheme": "SCT"}

    # A new value on its own page: choosing the configuration gives the input of its type.
    page = configurator.go("/admin/configuration/configurationvalue/add/")
    page.select_option("select[name=configuration]", str(estate["limit"].pk))
    page.wait_for_selector("input[type=number][name=value]")
    page.fill("input[type=number][name=value]", "640")
    configurator.shot("new-value-typed")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    assert ConfigurationValue.objects.filter(configuration=estate["limit"], value=640).exists()
