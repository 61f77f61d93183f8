"""Fixtures many integration modules share; a module's own fixture of the same name wins."""

from __future__ import annotations

import pytest

from tests.factories import make_institution


@pytest.fixture
def bank(db):
    """DEUTDEFF, Deutsche Bank (DE, Europe/Berlin), through the services."""
    return make_institution("DEUTDEFF")


@pytest.fixture
def other(db):
    """BNPAFRPP, BNP Paribas (FR, Europe/Paris), through the services."""
    return make_institution("BNPAFRPP")
