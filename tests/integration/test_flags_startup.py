"""CBP_FLAG_OVERRIDES is validated at start-up: a bad value stops the process with one line."""

from __future__ import annotations

import os
import subprocess

import pytest
from django.core.exceptions import ImproperlyConfigured

from flags import selectors
from tests.factories import run_manage


def _check(overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CBP_FLAG_OVERRIDES": overrides}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return run_manage("check", env=env, timeout=120)


@pytest.mark.parametrize(
    ("bad", "mentions"),
    [
        ("new-ledger", "new-ledger"),
        ("new-ledger=maybe", "maybe"),
        ("New Ledger=on", "New Ledger"),
        ("a=on,a=off", "more than once"),
    ],
)
def test_manage_check__bad_flag_overrides__one_line_nonzero_exit(bad, mentions):
    result = _check(bad)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "CBP_FLAG_OVERRIDES" in lines[0]
    assert mentions in lines[0]
    assert "Traceback" not in result.stderr


def test_manage_check__good_flag_overrides__exit_0():
    result = _check("new-ledger=on, old-ledger=OFF,")
    assert result.returncode == 0, result.stderr


def test_parse_static_overrides__bad__improperly_configured_naming_setting():
    with pytest.raises(ImproperlyConfigured, match=r"^CBP_FLAG_OVERRIDES: "):
        selectors.parse_static_overrides("x=sometimes")


def test_static_overrides__read_at_call_time(settings):
    settings.CBP_FLAG_OVERRIDES = "a=on"
    assert dict(selectors.static_overrides()) == {"a": True}
    settings.CBP_FLAG_OVERRIDES = "a=off,b=1"
    assert dict(selectors.static_overrides()) == {"a": False, "b": True}
    settings.CBP_FLAG_OVERRIDES = ""
    assert dict(selectors.static_overrides()) == {}
