"""End-to-end helpers: a real gunicorn serving the project, and headless Chromium."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

# The helpers the e2e tests import from here live in tests.support.
from tests.support.processes import ROOT, database_url_of_test_db, free_port
from tests.support.servers import gunicorn
from tests.support.web import fetch as http

__all__ = ["ROOT", "chrome", "database_url_of_test_db", "free_port", "gunicorn", "http"]


@pytest.fixture
def chrome():
    """Headless Debian Chromium driven through chromedriver (selenium)."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if os.environ.get("CBP_REQUIRE_SERVICES") == "1":
            pytest.fail("chromium and chromedriver are required in CI")
        pytest.skip(
            "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="cbp-chrome-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
