"""The console (Django admin) and secrets (issue 10, item 4).

Sensitive values (the default of a sensitive configuration and its values) are shown as
``"********"`` on every page the console renders for staff without
``configuration.view_sensitive_value`` — lists, forms, the read-only (view-only) page, inlines,
Django's and django-auditlog's history pages, the audit-entry pages, delete confirmations — and
no search or list filter tells which row holds a given secret. Staff with the permission see
the values.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from cbpconfig.models import AuditEntry
from configuration import services
from configuration.models import Configuration, ConfigurationValue
from configuration.resolution import MASK
from tests.e2e.conftest import chrome  # noqa: F401 - the fixture, for the browser test
from tests.integration.test_windows_api import usfed, window  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 2, 1, tzinfo=UTC)

# Distinctive strings that appear nowhere on a page unless a secret leaked.
DEFAULT_SECRET = "dflt-Qx7vTw"
GLOBAL_SECRET = "glob-Km3pRz"
BANK_SECRET = "bank-Jd9sLe"
NEW_SECRET = "next-Hc2wYu"
JSON_SECRET = "json-Vb8nAq"
EARLIER_SECRET = "earl-Tf4kGo"  # written while the configuration was not yet sensitive
SECRETS = (DEFAULT_SECRET, GLOBAL_SECRET, BANK_SECRET, NEW_SECRET, JSON_SECRET, EARLIER_SECRET)

VIEWER_PERMISSIONS = [
    "configuration.view_configuration",
    "configuration.view_configurationvalue",
    "configuration.view_institution",
    "cbpconfig.view_auditentry",
]
EDITOR_PERMISSIONS = [
    *VIEWER_PERMISSIONS,
    *(
        f"configuration.{action}_{model}"
        for action in ("add", "change", "delete")
        for model in ("configuration", "configurationvalue")
    ),
]


def _client_for(django_user_model, username: str, permissions: list[str]) -> Client:
    user = django_user_model.objects.create_user(username, password="pw-Unused-1!", is_staff=True)
    for dotted in permissions:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer(django_user_model):
    """Staff with view permissions only (the console's read-only pages)."""
    return _client_for(django_user_model, "viewer", VIEWER_PERMISSIONS)


@pytest.fixture
def editor(django_user_model):
    """Staff who may add, change and delete configurations and values, but not see secrets."""
    return _client_for(django_user_model, "editor", EDITOR_PERMISSIONS)


@pytest.fixture
def root(superuser):
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def secrets(db):
    """A sensitive string configuration with a default, a global and an institution value (one
    of them changed since), and a sensitive JSON configuration whose value was written while it
    was not yet sensitive."""
    bank = services.create_institution(
        data={"code": "DEUTDEFF", "name": "Deutsche", "country": "DE", "timezone": "Europe/Berlin"}
    )
    token = services.create_configuration(
        data={
            "key": "gateway.token",
            "value_type": "string",
            "default": DEFAULT_SECRET,
            "is_sensitive": True,
        }
    )
    services.create_value(configuration=token, data={"value": GLOBAL_SECRET, "effective_from": T0})
    bank_value = services.create_value(
        configuration=token,
        data={"value": BANK_SECRET, "institution": bank, "effective_from": T0},
    )
    services.update_value(value=bank_value, data={"value": NEW_SECRET})
    services.create_value(
        configuration=token,
        data={"value": BANK_SECRET, "institution": bank, "effective_from": T1},
    )
    blob = services.create_configuration(data={"key": "gateway.blob", "value_type": "json"})
    services.create_value(
        configuration=blob, data={"value": {"earlier": EARLIER_SECRET}, "effective_from": T0}
    )
    blob = services.update_configuration(configuration=blob, data={"is_sensitive": True})
    services.create_value(
        configuration=blob,
        data={"value": {"nested": [JSON_SECRET]}, "institution": bank, "effective_from": T0},
    )
    return {"token": token, "blob": blob, "bank": bank}


def _pages(secrets) -> list[tuple[str, str, dict | None]]:
    """Every console page that could show a sensitive value: (url, method, POST data)."""
    token, blob = secrets["token"], secrets["blob"]
    values = list(ConfigurationValue.objects.filter(configuration__in=[token, blob]))
    conf = "/admin/configuration/configuration/"
    val = "/admin/configuration/configurationvalue/"
    pages: list[tuple[str, str, dict | None]] = [
        ("/admin/", "GET", None),
        (conf, "GET", None),
        (val, "GET", None),
        (f"{val}?configuration__value_type=string", "GET", None),
        (f"{conf}?is_sensitive__exact=1", "GET", None),
        ("/admin/cbpconfig/auditentry/", "GET", None),
    ]
    for configuration in (token, blob):
        for suffix in ("change/", "history/", "auditlog/", "delete/"):
            pages.append((f"{conf}{configuration.pk}/{suffix}", "GET", None))
    for value in values:
        for suffix in ("change/", "history/", "auditlog/", "delete/"):
            pages.append((f"{val}{value.pk}/{suffix}", "GET", None))
    for entry in AuditEntry.objects.all():
        pages.append((f"/admin/cbpconfig/auditentry/{entry.pk}/change/", "GET", None))
    # The "delete selected" confirmation pages list the objects (and their values) to delete.
    pages.append(
        (conf, "POST", {"action": "delete_selected", "_selected_action": [token.pk, blob.pk]})
    )
    pages.append(
        (val, "POST", {"action": "delete_selected", "_selected_action": [v.pk for v in values]})
    )
    return pages


def _render(client: Client, url: str, method: str, data):
    if method == "POST":
        return client.post(url, data)
    return client.get(url)


def _leaks(client: Client, secrets) -> list[str]:
    found = []
    for url, method, data in _pages(secrets):
        response = _render(client, url, method, data)
        assert response.status_code in (200, 302, 403), (url, response.status_code)
        html = response.content.decode()
        found += [f"{method} {url}: {s}" for s in SECRETS if s in html]
    return found


def test_console__view_only_staff__never_sees_a_sensitive_value(viewer, secrets):
    assert _leaks(viewer, secrets) == []


def test_console__editor_without_permission__never_sees_a_sensitive_value(editor, secrets):
    assert _leaks(editor, secrets) == []


def test_console__superuser__sees_the_values_where_the_pages_show_them(root, secrets):
    """The good case: with ``configuration.view_sensitive_value`` the same pages show the
    values (the audit log keeps them masked for everyone)."""
    assert _leaks(root, secrets)  # the helper finds them: it would find a leak
    token = secrets["token"]
    conf = "/admin/configuration/configuration/"
    val = "/admin/configuration/configurationvalue/"
    listing = root.get(val).content.decode()
    assert GLOBAL_SECRET in listing
    assert NEW_SECRET in listing
    assert JSON_SECRET in listing
    assert DEFAULT_SECRET in root.get(conf).content.decode()
    change = root.get(f"{conf}{token.pk}/change/").content.decode()
    assert DEFAULT_SECRET in change
    assert GLOBAL_SECRET in change
    assert BANK_SECRET in change
    # Audit entries never hold sensitive values, not even for the superuser.
    for entry in AuditEntry.objects.all():
        page = root.get(f"/admin/cbpconfig/auditentry/{entry.pk}/change/").content.decode()
        assert not [s for s in SECRETS if s in page], entry.changes


def test_console__read_only_page__shows_the_mask_where_the_value_would_be(viewer, secrets):
    token = secrets["token"]
    value = token.values.filter(institution__isnull=True).get()
    page = viewer.get(f"/admin/configuration/configuration/{token.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    # The default and the three values of the inline, each as the mask.
    assert html.count(MASK) >= 4, html
    assert "Save" not in html  # really the read-only page
    page = viewer.get(f"/admin/configuration/configurationvalue/{value.pk}/change/")
    assert page.status_code == 200
    assert MASK in page.content.decode()


def test_console__value_of_a_non_sensitive_configuration__shown_to_view_only_staff(viewer, secrets):
    """Masking is for sensitive configurations only."""
    plain = services.create_configuration(
        data={"key": "payments.limit", "value_type": "string", "default": "plain-Wn5x"}
    )
    value = services.create_value(
        configuration=plain, data={"value": "plain-value-Pe6y", "effective_from": T0}
    )
    html = viewer.get(f"/admin/configuration/configuration/{plain.pk}/change/").content.decode()
    assert "plain-Wn5x" in html
    assert "plain-value-Pe6y" in html
    html = viewer.get(
        f"/admin/configuration/configurationvalue/{value.pk}/change/"
    ).content.decode()
    assert "plain-value-Pe6y" in html


@pytest.mark.parametrize("who", ["viewer", "editor"])
def test_console_search__by_a_secret__tells_nothing(who, request, secrets):
    """Neither the search box nor a hand-made filter on the value finds the row holding a
    secret: the search fields hold no value, and a lookup on the value is refused (400)."""
    client = request.getfixturevalue(who)
    val = "/admin/configuration/configurationvalue/"
    conf = "/admin/configuration/configuration/"
    for url in (f"{val}?q={BANK_SECRET}", f"{conf}?q={DEFAULT_SECRET}"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.context["cl"].result_count == 0, url
    probes = [
        f"{val}?value={json.dumps(BANK_SECRET)}",
        f"{val}?value__icontains=Jd9",
        f"{val}?value__contains={json.dumps(BANK_SECRET)}",
        f"{val}?value__nested__0__startswith=json",
        f"{conf}?default__icontains=Qx7",
        f"{conf}?default={json.dumps(DEFAULT_SECRET)}",
        f"{val}?configuration__default__icontains=Qx7",
        f"{conf}?values__value__icontains=Jd9",
    ]
    for url in probes:
        response = client.get(url)
        assert response.status_code == 400, (url, response.status_code)
    assert client.get("/admin/cbpconfig/auditentry/?q=Jd9").context["cl"].result_count == 0


def test_console_search__superuser_may_filter_by_value(root, secrets):
    """The good case: with the permission, a filter on the value works (it shows nothing the
    list does not already show)."""
    response = root.get("/admin/configuration/configurationvalue/?value__icontains=Jd9")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_console_editor__cannot_unmask_by_turning_sensitivity_off(editor, root, secrets):
    """Turning ``is_sensitive`` off, or changing the type or schema (whose refusal messages
    quote the stored values, and whose acceptance tells whether they match), would reveal
    values; staff without the permission see those fields read-only on a sensitive
    configuration. The superuser can change them."""
    token = secrets["token"]
    url = f"/admin/configuration/configuration/{token.pk}/change/"
    form = editor.get(url).context["adminform"].form
    assert "is_sensitive" not in form.fields
    assert "schema" not in form.fields
    assert "value_type" not in form.fields
    data = {
        "description": "changed",
        "value_type": "integer",
        "schema": json.dumps({"type": "string", "pattern": "^x"}),
        "default": json.dumps(MASK),
        "expected_version": str(token.version),
        "values-TOTAL_FORMS": "0",
        "values-INITIAL_FORMS": "0",
        "values-MIN_NUM_FORMS": "0",
        "values-MAX_NUM_FORMS": "1000",
    }  # no "is_sensitive": the checkbox unticked
    response = editor.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    token.refresh_from_db()
    assert token.is_sensitive
    assert token.value_type == "string"
    assert token.schema is None
    assert token.description == "changed"
    assert token.default == DEFAULT_SECRET

    form = root.get(url).context["adminform"].form
    assert "is_sensitive" in form.fields
    data = {**data, "value_type": "string", "schema": "null", "expected_version": token.version}
    data["default"] = json.dumps(DEFAULT_SECRET)
    data["values-TOTAL_FORMS"] = data["values-INITIAL_FORMS"] = "0"
    response = root.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    token.refresh_from_db()
    assert not token.is_sensitive


def test_console_inline__view_only_rows_of_a_sensitive_configuration__masked_no_add(
    django_user_model, secrets
):
    """Staff who may change the configuration but only view its values get read-only rows,
    masked, and no empty row to add one (an added row would be shown in clear)."""
    client = _client_for(
        django_user_model,
        "half",
        [*VIEWER_PERMISSIONS, "configuration.change_configuration"],
    )
    token = secrets["token"]
    response = client.get(f"/admin/configuration/configuration/{token.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not [s for s in SECRETS if s in html]
    (inline,) = response.context["inline_admin_formsets"]
    assert not inline.has_add_permission
    assert not inline.has_change_permission


def test_console__existing_masking_for_editors_still_saves_back_unchanged(editor, secrets):
    value = secrets["token"].values.filter(institution__isnull=True).get()
    url = f"/admin/configuration/configurationvalue/{value.pk}/change/"
    assert MASK in editor.get(url).content.decode()
    response = editor.post(
        url,
        {
            "value": json.dumps(MASK),
            "effective_from_0": "2026-01-03",
            "effective_from_1": "00:00:00",
            "expected_version": str(value.version),
        },
    )
    assert response.status_code == 302
    value.refresh_from_db()
    assert value.value == GLOBAL_SECRET
    assert Configuration.objects.get(key="gateway.token").default == DEFAULT_SECRET


# -- console log-in: throttling and lock-out per account and per address ----------------------

LOGIN = "/admin/login/"
PASSWORD = "Right-horse-9!"


def _failures(reason: str) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value("cbp_console_login_failures_total", {"reason": reason})
    return value or 0.0


def _browser(address: str, **headers) -> Client:
    return Client(REMOTE_ADDR=address, **headers)


def _log_in(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _assert_logs_in(client: Client, username: str = "alice") -> None:
    """The right password logs ``username`` in (not locked out)."""
    response = _log_in(client, username, PASSWORD)
    assert response.status_code == 302
    assert _logged_in(client)


def _lock_out(client: Client, username: str = "alice") -> None:
    """Five wrong passwords: ``username`` is locked, the right one is refused too."""
    for _ in range(5):
        _log_in(client, username, "nope-nope-1")
    assert _log_in(client, username, PASSWORD).status_code == 429


@pytest.fixture
def accounts(django_user_model):
    for name in ("alice", "bob"):
        django_user_model.objects.create_user(name, password=PASSWORD, is_staff=True)


def test_login__five_wrong_passwords__account_locked_even_with_the_right_one(accounts, caplog):
    caplog.set_level("INFO")
    wrong = "Wrong-pass-0"
    before = {r: _failures(r) for r in ("bad_credentials", "locked_out")}
    client = _browser("192.0.2.10")
    statuses = [_log_in(client, "alice", wrong).status_code for _ in range(5)]
    # Four ordinary refusals; the fifth failure locks, and says so.
    assert statuses == [200, 200, 200, 200, 429]

    response = _log_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert not _logged_in(client)
    html = response.content.decode()
    assert 'id="login-locked"' in html
    assert "locked for 15 minutes" in html
    assert 'id="login-form"' in html  # the log-in page itself, with the message
    assert _log_in(_browser("192.0.2.11"), "alice", PASSWORD).status_code == 429  # per account

    assert _failures("bad_credentials") - before["bad_credentials"] == 5
    assert _failures("locked_out") - before["locked_out"] == 2
    lines = [r for r in caplog.records if r.name == "cbpconfig.login"]
    failed = [r for r in lines if "wrong user name or password" in r.getMessage()]
    assert len(failed) == 5
    assert all(r.levelname == "WARNING" for r in lines)
    assert all("'alice'" in r.getMessage() and "192.0.2.10" in r.getMessage() for r in failed)
    assert any("locked out" in r.getMessage() for r in lines)
    assert any("locked for 15 minutes" in r.getMessage() for r in lines)
    # The password is in no log line at all, ours or a library's.
    assert not [r for r in caplog.records if wrong in r.getMessage() or PASSWORD in r.getMessage()]

    # Another account from another address is not affected.
    _assert_logs_in(_browser("192.0.2.20"), "bob")


def test_login__four_wrong_passwords__then_the_right_one_logs_in(accounts):
    """Below the limit nothing is locked (the good case of the lock-out)."""
    client = _browser("192.0.2.30")
    for _ in range(4):
        assert _log_in(client, "alice", "nope-nope-1").status_code == 200
    _assert_logs_in(client)


def test_login__twenty_failures_from_one_address__locks_the_address_across_user_names(
    accounts,
):
    attacker = _browser("198.51.100.7")
    for index in range(19):  # each user name below its own limit
        assert _log_in(attacker, f"guess{index % 5}-{index}", "x-wrong-1").status_code == 200
    # 19 failures: the address is not locked yet.
    _assert_logs_in(_browser("198.51.100.7"), "bob")
    assert _log_in(attacker, "guess-last", "x-wrong-1").status_code == 429
    refused = _browser("198.51.100.7")
    assert _log_in(refused, "bob", PASSWORD).status_code == 429
    assert not _logged_in(refused)
    # The same account from another address logs in.
    _assert_logs_in(_browser("198.51.100.8"), "bob")


def test_login__forwarded_for_from_an_untrusted_peer__does_not_escape_the_address_lock(
    accounts,
):
    for index in range(20):
        spoofing = _browser("198.51.100.9", HTTP_X_FORWARDED_FOR=f"203.0.113.{index}")
        _log_in(spoofing, f"user{index}", "x-wrong-1")
    spoofing = _browser("198.51.100.9", HTTP_X_FORWARDED_FOR="203.0.113.200")
    assert _log_in(spoofing, "bob", PASSWORD).status_code == 429


def test_login__behind_a_trusted_proxy__the_forwarded_client_is_locked_not_the_proxy(
    accounts, settings
):
    settings.CBP_TRUSTED_PROXIES = ["10.0.0.0/8"]
    for index in range(20):
        _log_in(
            _browser("10.1.1.1", HTTP_X_FORWARDED_FOR="203.0.113.5"), f"user{index}", "x-wrong-1"
        )
    locked = _browser("10.1.1.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert _log_in(locked, "bob", PASSWORD).status_code == 429
    neighbour = _browser("10.1.1.1", HTTP_X_FORWARDED_FOR="203.0.113.6")
    assert _log_in(neighbour, "bob", PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("command", "argument"),
    [("axes_reset_username", "alice"), ("axes_reset_ip", "192.0.2.40"), ("axes_reset", None)],
)
def test_login__after_a_reset__the_account_logs_in(accounts, command, argument):
    from django.core.management import call_command

    client = _browser("192.0.2.40")
    _lock_out(client)
    out = io.StringIO()
    call_command(command, *([argument] if argument else []), stdout=out)
    assert "attempts removed" in out.getvalue()
    _assert_logs_in(client)


def test_login__after_the_cool_off__the_account_logs_in(accounts):
    from axes.models import AccessAttempt

    client = _browser("192.0.2.50")
    _lock_out(client)
    # Sixteen minutes later (the failures age past the 15-minute cool-off).
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(minutes=16)
        attempt.save(update_fields=["attempt_time"])
    _assert_logs_in(client)


def test_login__lock_out__does_not_touch_the_api_keys(accounts, make_key):
    """API keys are not Django log-ins: a locked address still reaches the API with a key,
    and wrong keys lock nothing."""
    from rest_framework.test import APIClient

    client = _browser("192.0.2.60")
    for index in range(20):
        _log_in(client, f"user{index}", "x-wrong-1")
    assert _log_in(client, "bob", PASSWORD).status_code == 429
    api = APIClient(REMOTE_ADDR="192.0.2.60")
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key('reader')}")
    assert api.get("/api/v1/institutions/").status_code == 200

    before = _failures("bad_credentials")
    wrong = APIClient(REMOTE_ADDR="192.0.2.61")
    wrong.credentials(HTTP_AUTHORIZATION="Api-Key nope.nope")
    for _ in range(10):
        assert wrong.get("/api/v1/institutions/").status_code == 401
    assert _failures("bad_credentials") == before
    assert _log_in(_browser("192.0.2.61"), "bob", PASSWORD).status_code == 302


def test_metrics__login_failure_counter_is_exported(accounts, make_key):
    from rest_framework.test import APIClient

    _log_in(_browser("192.0.2.70"), "alice", "nope-nope-1")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key('reader')}")
    body = api.get("/metrics").content.decode()
    assert 'cbp_console_login_failures_total{reason="bad_credentials"}' in body
    assert 'cbp_console_login_failures_total{reason="locked_out"}' in body
    assert "alice" not in body  # no user name in any label


# -- the Content-Security-Policy and our templates --------------------------------------------

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


def test_templates__no_inline_event_handlers_or_inline_scripts():
    """``script-src 'self'`` blocks inline handlers (``onclick=``) and inline ``<script>``
    bodies: every script of our templates is a file."""
    templates = sorted(TEMPLATES_DIR.rglob("*.html"))
    assert templates
    offenders = []
    for path in templates:
        text = path.read_text()
        offenders += [f"{path}: {m.group(0)[:60]}" for m in INLINE_HANDLER.finditer(text)]
        offenders += [f"{path}: {m.group(0)}" for m in INLINE_SCRIPT.finditer(text)]
    assert offenders == []


def test_templates__the_check_finds_what_the_policy_blocks():
    """The patterns above catch an inline handler or script, and not a data- attribute or a
    script file."""
    assert INLINE_HANDLER.search('<a href="x"\n   onclick="history.back()">')
    assert not INLINE_HANDLER.search('<a href="x" data-history-back>')
    assert INLINE_SCRIPT.search("<script>history.back()</script>")
    assert not INLINE_SCRIPT.search('<script src="/static/x.js" defer></script>')


@pytest.mark.django_db(transaction=True)
def test_browser__window_preview_back_link__works_under_the_policy(
    chrome,  # noqa: F811 - the imported fixture
    live_server,
    django_user_model,
    window,  # noqa: F811 - the imported fixture
):
    """Headless Chromium: log in through the console's form, preview an unsaved change of a
    processing window, and go back to the form with the preview's link — which goes back in
    the history (the unsaved change is still in the form), with no Content-Security-Policy
    violation on the way."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    django_user_model.objects.create_superuser("ops", "ops@example.com", "browser-pass-1!")
    chrome.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        },
    )
    wait = WebDriverWait(chrome, 20)
    chrome.get(f"{live_server.url}/admin/login/?next=/admin/")
    chrome.find_element(By.NAME, "username").send_keys("ops")
    chrome.find_element(By.NAME, "password").send_keys("browser-pass-1!")
    chrome.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "site-name")))

    change = f"{live_server.url}/admin/windows/processingwindow/{window.pk}/change/"
    chrome.get(change)
    description = wait.until(ec.presence_of_element_located((By.NAME, "description")))
    description.clear()
    description.send_keys("typed, not saved")
    chrome.find_element(By.NAME, "_preview").click()
    back = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "a[data-history-back]")))
    assert chrome.execute_script("return window.__csp || []") == []
    back.click()
    wait.until(ec.url_to_be(change))
    field = wait.until(ec.presence_of_element_located((By.NAME, "description")))
    assert field.get_attribute("value") == "typed, not saved"
    assert chrome.execute_script("return window.__csp || []") == []
