"""Operations staff in a real browser: log in to the admin, create an institution, see its
history. Drives Debian's headless Chromium against pytest-django's live server."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from cbpconfig.models import AuditEntry
from configuration.models import Institution

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _login(chrome, live_server, username, password):
    chrome.get(f"{live_server.url}/admin/login/?next=/admin/")
    chrome.find_element(By.NAME, "username").send_keys(username)
    chrome.find_element(By.NAME, "password").send_keys(password)
    chrome.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(chrome, 15).until(ec.presence_of_element_located((By.ID, "site-name")))


def _institution_form(chrome, live_server, django_user_model, code: str, name: str) -> None:
    """As a superuser, the admin's add-institution form with code, name and country DE."""
    django_user_model.objects.create_superuser("ops", "ops@example.com", "browser-pass-1!")
    _login(chrome, live_server, "ops", "browser-pass-1!")
    chrome.get(f"{live_server.url}/admin/configuration/institution/add/")
    chrome.find_element(By.NAME, "code").send_keys(code)
    chrome.find_element(By.NAME, "name").send_keys(name)
    chrome.find_element(By.NAME, "country").send_keys("DE")


def test_admin__staff_creates_institution_in_browser__saved_and_audited(
    chrome, live_server, django_user_model
):
    _institution_form(chrome, live_server, django_user_model, "COBADEFF", "Commerzbank")
    chrome.find_element(By.NAME, "timezone").send_keys("Europe/Berlin")
    chrome.find_element(By.NAME, "_save").click()
    WebDriverWait(chrome, 15).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist"))
    )
    assert "COBADEFF" in chrome.find_element(By.ID, "result_list").text

    institution = Institution.objects.get(code="COBADEFF")
    entry = AuditEntry.objects.get(object_pk=str(institution.pk), action=AuditEntry.Action.CREATE)
    assert entry.actor_display == "ops"

    chrome.get(f"{live_server.url}/admin/configuration/institution/{institution.pk}/auditlog/")
    assert "Commerzbank" in chrome.page_source


def test_admin__bad_input_in_browser__error_shown_nothing_saved(
    chrome, live_server, django_user_model
):
    _institution_form(chrome, live_server, django_user_model, "nope", "Bad")
    # The zone is picked from the known ones (issue 13): an unknown one cannot be chosen, and
    # none chosen is refused.
    zone = chrome.find_element(By.NAME, "timezone")
    assert zone.tag_name == "select"
    assert not zone.find_elements(By.CSS_SELECTOR, "option[value='Nowhere/Land']")
    chrome.find_element(By.NAME, "_save").click()
    WebDriverWait(chrome, 15).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".errornote")))
    assert "BIC" in chrome.page_source
    assert "This field is required" in chrome.page_source
    assert Institution.objects.count() == 0
