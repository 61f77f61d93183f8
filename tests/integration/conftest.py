"""Fixtures many integration modules share; a module's own fixture of the same name wins."""

from __future__ import annotations

import pytest

from tests.factories import make_estate, make_institution, role_clients


@pytest.fixture
def bank(db):
    """DEUTDEFF, Deutsche Bank (DE, Europe/Berlin), through the services."""
    return make_institution("DEUTDEFF")


@pytest.fixture
def other(db):
    """BNPAFRPP, BNP Paribas (FR, Europe/Paris), through the services."""
    return make_institution("BNPAFRPP")


@pytest.fixture
def estate(db):
    """The console's small estate (tests.factories.make_estate), through the services."""
    return make_estate()


@pytest.fixture
def role_client(db, django_user_model):
    """role_client("Auditor") -> a logged-in Client of a staff user in that console role."""
    return role_clients(django_user_model)
