"""Shared fixtures. Tests talk to the real PostgreSQL and Redis when DATABASE_URL / REDIS_URL
point at them (CI always does); without them, the tests that need a real server are skipped
with a reason, except under CBP_REQUIRE_SERVICES=1 (CI), where they fail instead."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("CBP_REQUIRE_SERVICES") == "1"


def _is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config, items):
    missing = []
    if not _is_postgres():
        missing.append(("postgres", "needs the real PostgreSQL (DATABASE_URL is not set to it)"))
    if not settings.CBP_CACHE_IS_REDIS:
        missing.append(("redis", "needs the real Redis (REDIS_URL is not set)"))
    if missing and REQUIRE_SERVICES:
        raise pytest.UsageError(
            "CBP_REQUIRE_SERVICES=1 but " + "; ".join(reason for _, reason in missing)
        )
    for marker, reason in missing:
        for item in items:
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def _clear_in_process_caches() -> None:
    """Database ids and versions repeat across tests, so per-process copies must go too."""
    from calendars.cache import clear_local as clear_calendars
    from cbpconfig.ready import clear as clear_ready
    from flags.cache import clear_local as clear_flags
    from windows.cache import clear_local as clear_windows

    clear_calendars()
    clear_flags()
    clear_windows()
    clear_ready()


def pytest_configure(config):
    # Users are created in many tests; PBKDF2 at full strength would cost ~0.3 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache_and_keys():
    """Each test starts with an empty cache and no remembered API keys, and leaves no
    in-process cache behind."""
    from cbpconfig.api.authentication import forget_keys
    from cbpconfig.api.throttling import reset_local_counts

    cache.clear()
    forget_keys()
    reset_local_counts()
    _clear_in_process_caches()
    yield
    forget_keys()
    _clear_in_process_caches()


@pytest.fixture
def make_key(db):
    """make_key(name, institution=None, write=False) -> raw key."""
    from cbpconfig.models import APIKey

    def _make(name="key", institution=None, write=False):
        _, key = APIKey.objects.create_key(name=name, institution=institution, can_write=write)
        return key

    return _make


@pytest.fixture
def client_for():
    """client_for(key) -> an APIClient sending `Authorization: Api-Key <key>`."""

    def _client(key=None, scheme="Api-Key"):
        client = APIClient()
        if key:
            client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
        return client

    return _client


@pytest.fixture
def writer(make_key, client_for):
    """A platform key allowed to write."""
    return client_for(make_key("writer", write=True))


@pytest.fixture
def reader(make_key, client_for):
    """A platform key that only reads."""
    return client_for(make_key("reader"))


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_user(
        "staff", "staff@example.com", "s3cret-pass!", is_staff=True
    )


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", "s3cret-pass!")


@pytest.fixture
def staff_client(superuser):
    client = APIClient()
    client.force_login(superuser)
    return client
