"""Test data built through the services, as the API and the admin build it, and the few checks
many test modules make the same way. Plain functions: call them from fixtures and tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Institutions by BIC; any other code gets its code as name, the BIC's country and Berlin time.
INSTITUTIONS: dict[str, dict[str, str]] = {
    "DEUTDEFF": {"name": "Deutsche Bank", "country": "DE", "timezone": "Europe/Berlin"},
    "BNPAFRPP": {"name": "BNP Paribas", "country": "FR", "timezone": "Europe/Paris"},
}


def make_institution(code: str = "DEUTDEFF", **fields: Any):
    """An institution created through configuration.services; `fields` add to or override the
    defaults (INSTITUTIONS)."""
    from configuration.services import create_institution

    defaults = INSTITUTIONS.get(code) or {"name": code, "country": code[4:6]}
    data = {"code": code, "timezone": "Europe/Berlin", **defaults, **fields}
    return create_institution(data=data)


def make_calendar(code: str = "TARGET2", *, holidays: Mapping[str, Any] | None = None, **fields):
    """A calendar (named after its code unless `fields` say otherwise) created through
    calendars.services; `holidays` are holiday_source() arguments to import from."""
    from calendars import services

    calendar = services.create_calendar(data={"code": code, "name": code, **fields})
    if holidays is not None:
        services.import_holidays(calendar=calendar, source=services.holiday_source(**holidays))
    return calendar


def make_configuration(key: str, value_type: str = "integer", **fields: Any):
    """A configuration definition created through configuration.services."""
    from configuration.services import create_configuration

    return create_configuration(data={"key": key, "value_type": value_type, **fields})


def session(opens: str = "07:00", closes: str = "18:00", **changes: Any) -> dict[str, Any]:
    """A Monday-to-Friday session rule as the API takes it; `changes` override its fields."""
    rule: dict[str, Any] = {"label": "day", "weekdays": [1, 2, 3, 4, 5]}
    rule |= {"opens": opens, "opens_day_offset": 0, "closes": closes, "closes_day_offset": 0}
    return rule | changes


def run_manage(*args: str, env: Mapping[str, str], timeout: int = 300):
    """`manage.py *args` in a separate process (as an operator runs it), output captured."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def environ_without(*names: str) -> dict[str, str]:
    """This process's environment less `names`."""
    return {k: v for k, v in os.environ.items() if k not in names}


def crud_calls(list_url: str, detail_url: str) -> list[tuple[str, str]]:
    """(method, url) of every list and detail endpoint of a resource."""
    detail = [(method, detail_url) for method in ("get", "put", "patch", "delete")]
    return [("get", list_url), ("post", list_url), *detail]


def assert_status_everywhere(client, calls: Iterable[tuple[str, str]], status: int) -> None:
    """Each (method, url), called with an empty JSON body, answers `status`."""
    for method, url in calls:
        assert getattr(client, method)(url, {}, format="json").status_code == status, (method, url)


def assert_stale_version_refused(client, url: str, field: str, first: Any, second: Any) -> None:
    """Two PATCHes of `field`, both If-Match "1": the first is taken (ETag "2"), the second 412."""
    ok = client.patch(url, {field: first}, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200
    assert ok["ETag"] == '"2"'
    stale = client.patch(url, {field: second}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412


def assert_field_refused(client, url: str, body: dict[str, Any], field: str) -> None:
    """PATCH `body` answers 400 naming `field`."""
    response = client.patch(url, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
