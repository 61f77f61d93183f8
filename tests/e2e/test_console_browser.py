"""The operations console as people use it (issue 13), in a real browser: Debian's Chromium
driven by Playwright for Python, against gunicorn on the real PostgreSQL and Redis.

Each test is one job as a person does it, and saves a screenshot of each step under
var/e2e-screenshots/<test>/. Every page is checked against the Content-Security-Policy
(``script-src 'self'``): a violation or a script error fails the test.

No browser is downloaded: ``playwright`` drives /usr/bin/chromium (``executable_path``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group
from django.utils import timezone

from cbpconfig.audit import system_actor
from cbpconfig.models import APIKey, AuditEntry
from configuration import services as configuration_services
from tests.e2e import conftest as e2e
from tests.factories import ensure_roles, make_estate
from tests.support.servers import services_env
from windows.models import ProcessingWindow

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = e2e.ROOT / "var" / "e2e-screenshots"
PASSWORD = "console-pass-1!"
PORTS = range(17500, 17600)  # this suite's gunicorn instances
CSP_PROBE = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation', "
    "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _orm_beside_the_browser():
    # Playwright's sync API runs an event loop in this thread for the whole module; the
    # tests' own ORM calls (set-up, checks, the database's clean-up after each test) are
    # still plain synchronous code.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if before is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture
def server():
    """gunicorn serving the test database, with the same Redis as this process."""
    with e2e.gunicorn(services_env(), port=e2e.free_port(PORTS)) as url:
        yield url


@pytest.fixture(scope="module")
def playwright_browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CBP_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} is required in CI (apt-get install chromium)")
        pytest.skip(f"needs Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Person:
    """One person at one browser (their own context: cookies, session), who takes a
    screenshot of each step and may not meet a policy violation or a script error."""

    def __init__(self, browser, base: str, shots: Path, who: str, steps: list[int]):
        self.base, self.shots, self.who, self.steps = base, shots, who, steps
        self.context = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="UTC"
        )
        self.context.add_init_script(CSP_PROBE)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"script error: {error}"))
        self.page.on("dialog", lambda dialog: dialog.accept())

    def go(self, path: str):
        self.page.goto(self.base + path)
        self.check()
        return self.page

    def check(self) -> None:
        violations = self.page.evaluate("window.__csp || []")
        assert violations == [], violations
        assert self.errors == [], self.errors

    def shot(self, name: str) -> None:
        self.check()
        self.steps[0] += 1  # one numbering for everyone in the test: the order things happened
        self.shots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(
            path=str(self.shots / f"{self.steps[0]:02d}-{self.who}-{name}.png"), full_page=True
        )

    def log_in(self, username: str) -> None:
        self.go("/admin/login/?next=/admin/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", PASSWORD)
        self.page.click("input[type=submit]")
        self.page.wait_for_selector("#environment-banner")
        self.check()

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def close(self) -> None:
        self.check()
        self.context.close()


@pytest.fixture
def people(request, playwright_browser, server):
    """people("editor") -> a Person logged in as a staff user of that role."""
    shots = SCREENSHOTS / request.node.name
    shutil.rmtree(shots, ignore_errors=True)
    made: list[Person] = []
    steps = [0]

    def make(who: str, role: str | None = None, *, log_in: bool = True) -> Person:
        if role is not None:
            from django.contrib.auth import get_user_model

            user = get_user_model().objects.create_user(who, is_staff=True)
            # The server checks passwords with the deployment's hashers (the tests' own
            # settings use a fast one it does not know).
            user.password = PBKDF2PasswordHasher().encode(PASSWORD, "e2e-console-salt")
            user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=role))
        person = Person(playwright_browser, server, shots, who, steps)
        made.append(person)
        if log_in and role is not None:
            person.log_in(who)
        return person

    yield make
    for person in made:
        person.close()


@pytest.fixture
def estate(db):
    ensure_roles()
    return make_estate()


def api(server: str, path: str, key: str, method: str = "GET", body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    status, _, content = e2e.http(method, server + path, headers, data)
    return status, json.loads(content) if content else None


# -- first run ------------------------------------------------------------------------------


def test_first_run__landing_banner_login_home(people, estate):
    visitor = people("visitor")
    page = visitor.go("/")
    assert "development" in visitor.text("#environment-banner").lower()
    for link in ("#link-console", "#link-docs", "#link-health"):
        assert page.is_visible(link)
    visitor.shot("landing")
    page.click("#link-docs")
    page.wait_for_selector("#swagger-ui")
    visitor.shot("api-docs")
    visitor.go("/")
    page.click("#link-console")
    page.wait_for_selector("#id_username")
    assert page.is_visible("#environment-banner")
    visitor.shot("login")

    editor = people("editor", "Operations editor")
    page = editor.page
    assert "What needs attention" in page.title()
    closing = editor.text("#closing-soon")
    assert "SCT-INST" in closing
    countdown = page.inner_text("#closing-soon .cbp-countdown")
    page.wait_for_timeout(1500)
    assert page.inner_text("#closing-soon .cbp-countdown") != countdown  # it counts down
    assert "Staff outing" in editor.text("#upcoming-overrides")
    assert "TARGET2" in editor.text("#calendars-ending")
    assert "payments.limit" in editor.text("#scheduled-changes")
    assert "instant-payments" in editor.text("#partial-flags")
    assert "system:seed" in editor.text("#latest-changes")
    menu = editor.text("#content-main")
    assert "Switches" not in menu
    assert "Samples" not in menu
    assert menu.count("API keys") == 1
    editor.shot("home")


# -- calendars: create, import, click the year view -----------------------------------------


def test_editor__creates_a_calendar_imports_holidays_and_clicks_the_year(people, estate):
    editor = people("editor", "Operations editor")
    page = editor.go("/admin/calendars/calendar/add/")
    page.fill("#id_code", "UKSCOT")
    page.fill("#id_name", "Scottish banks")
    page.select_option("select[name=timezone]", "Europe/London")
    assert page.is_checked("input[name=weekend_days][value='6']")  # Saturday, Sunday ticked
    assert page.is_checked("input[name=weekend_days][value='7']")
    editor.shot("new-calendar")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist")
    editor.shot("calendar-saved")

    page.click("#import-holidays")
    page.wait_for_selector("#import-form")
    assert page.locator("select[name=country] option[value=GB]").inner_text() == (
        "United Kingdom (GB)"
    )
    assert page.locator("select[name=country] option[value=GBR]").count() == 0
    page.select_option("select[name=country]", "GB")  # reloads with its subdivisions
    page.wait_for_selector("select[name=subdivision] option[value=SCT]", state="attached")
    page.select_option("select[name=subdivision]", "SCT")
    year = timezone.now().year
    page.fill("input[name=years]", str(year))
    editor.shot("import-form")
    page.click("input[name=_import]")
    page.wait_for_selector(".cal-year")
    assert "created" in editor.text(".messagelist")
    assert page.locator(".cal-month td.holiday").count() >= 5
    today = timezone.now().date().isoformat()
    assert page.locator(f"td.today[data-date='{today}']").count() == 1
    editor.shot("year-view-imported")

    # Click an ordinary day: it becomes a holiday; click it again: it is removed.
    day = next(
        d
        for d in (f"{year}-{m:02d}-15" for m in range(1, 13))
        if page.locator(f"td.business[data-date='{d}']").count()
    )
    page.fill("#day-toggle input[name=name]", "Bank outage")
    page.click(f"td[data-date='{day}'] button")
    page.wait_for_selector(f"td.holiday[data-date='{day}']")
    assert "Bank outage" in page.get_attribute(f"td[data-date='{day}']", "title")
    editor.shot("day-made-holiday")
    page.click(f"td[data-date='{day}'] button")  # confirms "Remove the holiday…?"
    page.wait_for_selector(f"td.business[data-date='{day}']")
    editor.shot("day-back-to-business")

    # Every change is in the calendar's history, imported ones included, by their dates.
    calendar_id = page.url.split("/calendar/")[1].split("/")[0]
    page = editor.go(f"/admin/calendars/calendar/{calendar_id}/history/")
    history = editor.text("#history-table")
    assert "Bank outage" in history
    assert "Deleted holiday" in history
    assert "St Andrew" in history or "Christmas" in history
    editor.shot("calendar-history")


# -- a window: early close, preview as a difference, save, the API's answer -----------------


def _early_close(estate, day_offset: int = 4) -> tuple[tuple[str, str, str, str], int]:
    """An early close inside the regular session of ``day_offset`` days ahead: ((date, opens,
    opens day offset, closes), closes day offset) in the window's zone (UTC)."""
    rule = estate["window"].rules.get()
    business_date = (estate["now"] + timedelta(days=day_offset)).date()
    opens = datetime.combine(
        business_date + timedelta(days=rule.opens_day_offset), rule.opens
    ).replace(second=0)
    closes = opens + timedelta(hours=1)
    return (
        business_date.isoformat(),
        opens.strftime("%H:%M"),
        str(rule.opens_day_offset),
        closes.strftime("%H:%M"),
    ), (closes.date() - business_date).days


def test_editor__early_close_preview_difference_then_save(people, estate, make_key, server):
    (day, opens, opens_offset, closes), closes_offset = _early_close(estate)
    window = estate["window"]
    editor = people("editor", "Operations editor")
    page = editor.go(f"/admin/windows/processingwindow/{window.pk}/change/")
    assert "Open now" in editor.text("#window-status")
    assert page.locator("#window-preview table tbody tr").count() >= 10  # the next sessions
    editor.shot("window-page")

    page.click("#overrides-group .add-row a")
    row = page.locator("#overrides-group tr.dynamic-overrides").last
    row.locator("input[name$='-date']").fill(day)
    row.locator("input[name$='-reason']").fill("Early close before the holiday")
    row.locator("input[name$='-sessions-0-label']").fill("early")
    row.locator("input[name$='-sessions-0-opens']").fill(opens)
    row.locator("select[name$='-sessions-0-opens_day_offset']").select_option(opens_offset)
    row.locator("input[name$='-sessions-0-closes']").fill(closes)
    row.locator("select[name$='-sessions-0-closes_day_offset']").select_option(str(closes_offset))
    editor.shot("early-close-typed")

    page.click("input[name=_preview]")
    page.wait_for_selector("#window-preview-diff")
    changed = page.locator(f"#window-preview-diff tr[data-date='{day}']")
    assert changed.first.get_attribute("data-status") == "changed"
    assert f"{closes}" in changed.first.inner_text()
    # Every unsaved row is still in the form, with Save beside the preview.
    assert page.locator("input[value='Early close before the holiday']").count() == 1
    assert page.is_visible("input[name=_save]")
    assert not window.overrides.filter(date=day).exists()
    editor.shot("preview-difference")

    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    assert window.overrides.filter(date=day, reason__startswith="Early close").exists()
    editor.shot("saved")

    key = make_key("ops-check")
    status, body = api(server, f"/api/v1/windows/SCT-INST/sessions?start={day}&end={day}", key)
    assert status == 200
    assert body["sessions"][0]["source"] == "override"
    assert body["sessions"][0]["closes_at"].endswith(f"{closes}:00Z")


# -- a value changed in the console, answered by the API ------------------------------------


def test_editor__changes_a_value__the_api_answers_it(people, estate, make_key, server):
    with system_actor("seed"):
        table = configuration_services.create_configuration(
            data={
                "key": "routing.table",
                "value_type": "json",
                "schema": {"type": "object", "required": ["scheme"]},
            }
        )
    editor = people("editor", "Operations editor")
    page = editor.go("/admin/configuration/configurationvalue/?q=payments.limit&scope=global")
    page.click("#result_list tbody tr a")
    value = page.locator("input[type=number][name=value]")
    assert value.input_value() == "500"
    assert "integer" in editor.text(".cbp-value-type")
    value.fill("750")
    editor.shot("typed-value")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    editor.shot("value-saved")

    key = make_key("reader")
    status, body = api(server, "/api/v1/configurations/payments.limit/resolve", key)
    assert status == 200
    assert (body["value"], body["source"]) == (750, "global")

    # A JSON value is checked against its schema as it is typed.
    administrator = people("configurator", "Configuration administrator")
    page = administrator.go(f"/admin/configuration/configuration/{table.pk}/change/")
    page.click("#values-group .add-row a")
    area = page.locator("#values-group tr.dynamic-values textarea").last
    area.fill('{"name": "x"}')
    check = page.locator("#values-group tr.dynamic-values .cbp-check").last
    check.wait_for(state="visible")
    page.wait_for_function(
        "el => el.textContent.includes('✗')", arg=check.element_handle(), timeout=5000
    )
    assert "scheme" in check.inner_text()
    administrator.shot("json-refused-as-typed")
    area.fill('{"scheme": "SCT"}')
    page.wait_for_function(
        "el => el.textContent.includes('✓')", arg=check.element_handle(), timeout=5000
    )
    administrator.shot("json-valid-as-typed")


# -- an institution whole -------------------------------------------------------------------


def test_auditor__looks_at_an_institution_at_another_time(people, estate, make_key):
    make_key("bank-app", institution=estate["bank"])
    auditor = people("auditor", "Auditor")
    page = auditor.go("/admin/configuration/institution/")
    page.click("text=Overview")
    page.wait_for_selector("#effective-configuration")
    config = auditor.text("#effective-configuration")
    assert re.search(r"payments\.limit\s+500\s+global", config), config
    assert re.search(r"instant-payments\s+on\s+TARGETING_MATCH", auditor.text("#flags"))
    assert re.search(r"SCT-INST.*open", auditor.text("#windows"), re.S)
    assert "bank-app" in auditor.text("#api-keys")
    assert "Staff outing" in auditor.text("#recent-changes")
    auditor.shot("institution-now")

    later = (estate["now"] + timedelta(days=4)).astimezone(ZoneInfo("Europe/Berlin"))
    page.fill("#id_at", later.strftime("%Y-%m-%dT%H:%M"))
    page.click("#evaluate-at input[type=submit]")
    page.wait_for_selector("#effective-configuration")
    assert re.search(
        r"payments\.limit\s+900\s+institution", auditor.text("#effective-configuration")
    )
    shown = (later.astimezone(UTC) if later.tzinfo else later).strftime("%Y-%m-%d %H:%M")
    assert shown in auditor.text("#evaluated-at")
    auditor.shot("institution-later")


# -- history and the change log -------------------------------------------------------------


def test_each_change_found_in_the_history_and_the_change_log(people, estate, make_key, server):
    key = make_key("deployer", write=True)
    status, _ = api(server, "/api/v1/windows/SCT-INST/", key, "PATCH", {"name": "SEPA Inst"})
    assert status == 200
    editor = people("editor", "Operations editor")
    window = estate["window"]
    page = editor.go(f"/admin/windows/processingwindow/{window.pk}/change/")
    page.fill("#id_payment_type", "SCT Inst")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")

    page = editor.go(f"/admin/windows/processingwindow/{window.pk}/change/")
    page.click("a.historylink")
    page.wait_for_selector("#history-table")
    history = editor.text("#history-table")
    assert "api-key:deployer" in history
    assert "SEPA instant" in history
    assert "SEPA Inst" in history
    assert "editor" in history
    assert "SCT Inst" in history
    assert "Staff outing" in history  # a child: the override
    assert "expected_version" not in page.content()
    assert not re.search(r"windows\.\w+\.None", page.content())
    editor.shot("window-history")

    page = editor.go("/admin/changes/")
    page.fill("#change-log-filter input[name=actor]", "api-key:deployer")
    page.click("#change-log-filter input[type=submit]")
    page.wait_for_selector("#change-log-table")
    rows = editor.text("#change-log-table")
    assert "SEPA Inst" in rows
    assert "system:seed" not in rows
    editor.shot("change-log-by-actor")
    page.select_option("#change-log-filter select[name=model]", "windows.windowoverride")
    page.fill("#change-log-filter input[name=actor]", "")
    page.fill("#change-log-filter input[name=institution]", "DEUTDEFF")
    page.click("#change-log-filter input[type=submit]")
    page.wait_for_selector("#change-log-table")
    assert "Staff outing" in editor.text("#change-log-table")
    editor.shot("change-log-by-type-and-institution")


# -- an auditor finds no way to change anything ---------------------------------------------


def test_auditor__sees_everything_finds_no_way_to_change_anything(people, estate, make_key):
    make_key("seen")
    auditor = people("auditor", "Auditor")
    window, calendar = estate["window"], estate["calendar"]
    pages = {
        "home": "/admin/",
        "window": f"/admin/windows/processingwindow/{window.pk}/change/",
        "calendar": f"/admin/calendars/calendar/{calendar.pk}/change/",
        "year": f"/admin/calendars/calendar/{calendar.pk}/year/{timezone.now().year}/",
        "configuration": f"/admin/configuration/configuration/{estate['limit'].pk}/change/",
        "institution": "/admin/institutions/DEUTDEFF/",
        "keys": "/admin/cbpconfig/apikey/",
        "changes": "/admin/changes/",
        "flag": f"/admin/flags/flag/{estate['flag'].pk}/change/",
    }
    for name, path in pages.items():
        page = auditor.go(path)
        assert page.locator("input[name=_save], input[name=_continue]").count() == 0, name
        assert page.locator("input[name=_preview]").count() == 0, name
        # (the admin's inline script hides the "Add another" row of a view-only inline)
        assert page.locator("a.addlink:visible, #import-holidays").count() == 0, name
        assert page.locator("form#day-toggle, a.deletelink").count() == 0, name
        assert page.locator("#revoke-form").count() == 0, name
        auditor.shot(name)
    page = auditor.go(pages["window"])
    assert page.locator(".cbp-rules-view").count() == 1  # the rules, not "Sessions: None"
    assert "None" not in page.inner_text(".field-sessions")
    key = APIKey.objects.get(name="seen")
    page = auditor.go(f"/admin/cbpconfig/apikey/key/{key.prefix}/")
    assert page.locator("#revoke-form").count() == 0
    csrf = next(c["value"] for c in auditor.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        auditor.base + f"/admin/cbpconfig/apikey/key/{key.prefix}/revoke/",
        headers={"X-CSRFToken": csrf, "Referer": auditor.base + "/admin/"},
    )
    assert response.status == 403
    assert not APIKey.objects.get(pk=key.pk).revoked


# -- two people edit the same window --------------------------------------------------------


def test_two_people_edit_one_window__the_second_is_refused_with_what_changed(people, estate):
    window = estate["window"]
    url = f"/admin/windows/processingwindow/{window.pk}/change/"
    alice = people("alice", "Operations editor")
    bob = people("bob", "Operations editor")
    alice.go(url)
    bob.go(url)

    alice.page.fill("#id_name", "SEPA instant (Alice)")
    alice.page.click("input[name=_save]")
    alice.page.wait_for_selector(".messagelist")
    alice.shot("saved-first")

    bob.page.fill("#id_description", "Bob's note")
    bob.page.fill("input[name='sessions-0-label']", "all day")
    bob.shot("typing-meanwhile")
    bob.page.click("input[name=_save]")
    bob.page.wait_for_selector("#stale-changes")
    stale = bob.text("#stale-changes")
    assert "alice" in stale
    assert "SEPA instant" in stale
    assert "SEPA instant (Alice)" in stale
    # Bob's input is kept; Alice's change is in the field Bob had not touched.
    assert bob.page.input_value("#id_description") == "Bob's note"
    assert bob.page.input_value("input[name='sessions-0-label']") == "all day"
    assert bob.page.input_value("#id_name") == "SEPA instant (Alice)"
    assert ProcessingWindow.objects.get(pk=window.pk).description == ""
    bob.shot("refused-with-what-changed")

    bob.page.check("#reapply-over")
    bob.page.click("input[name=_save]")
    bob.page.wait_for_selector(".messagelist")
    bob.shot("saved-over")
    stored = ProcessingWindow.objects.get(pk=window.pk)
    assert (stored.name, stored.description) == ("SEPA instant (Alice)", "Bob's note")
    assert stored.rules.get().label == "all day"
    actors = set(
        AuditEntry.objects.filter(content_type__model="processingwindow").values_list(
            "actor_name", flat=True
        )
    )
    assert {"alice", "bob"} <= actors


# -- API keys: issued once, working, revoked ------------------------------------------------


def test_key_admin__issues_a_key_it_works__revokes_it_it_is_refused(people, estate, server):
    admin = people("keys", "API-key administrator")
    page = admin.go("/admin/cbpconfig/apikey/")
    page.click("a.addlink")
    page.fill("#id_name", "bank-app")
    page.check("input[name=scope][value=institution]")
    page.select_option("#id_institution", label="DEUTDEFF — Deutsche Bank")
    admin.shot("issue-form")
    page.click("input[name=_issue]")
    page.wait_for_selector("#issued-key")
    raw = page.input_value("#issued-key")
    assert "." in raw
    assert raw not in page.url
    admin.shot("issued-once")

    status, body = api(server, "/api/v1/institutions/DEUTDEFF/", raw)
    assert (status, body["code"]) == (200, "DEUTDEFF")
    status, _ = api(server, "/api/v1/institutions/BNPAFRPP/", raw)
    assert status == 404  # another institution does not exist for it

    page.click("text=The key's page")
    page.wait_for_selector("#key-facts")
    key = APIKey.objects.get(name="bank-app")
    assert urllib.parse.unquote(page.url).endswith(f"/key/{key.prefix}/")
    assert key.hashed_key not in page.content()
    assert raw not in page.content()
    assert "institution DEUTDEFF (read-only)" in admin.text("#key-facts")
    admin.shot("key-page")
    page.click("#revoke-form input[type=submit]")  # confirms "Revoke bank-app?"
    page.wait_for_selector(".messagelist")
    assert admin.text("#key-status") == "revoked"
    admin.shot("revoked")
    status, _ = api(server, "/api/v1/institutions/DEUTDEFF/", raw)
    assert status == 401
