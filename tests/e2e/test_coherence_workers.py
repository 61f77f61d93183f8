"""Every change reaches every answer: a real gunicorn with two workers on the real PostgreSQL and
Redis, both workers warm, then one change through each path — the API, the ORM directly (as a
shell or a data migration does), an admin bulk action, ``manage.py restore`` — and every hot
read (business days, window sessions and status, resolved configuration, flag evaluation,
OFREP) must show it in the very next requests, whichever worker answers them."""

from __future__ import annotations

import json
import re
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from calendars import services as calendar_services
from calendars.models import Calendar, Holiday
from configuration import services as configuration_services
from configuration.models import Configuration, ConfigurationValue, Institution
from flags import services as flag_services
from flags.models import Flag
from tests.factories import make_institution
from tests.support.servers import gunicorn, services_env
from tests.support.web import fetch as http
from windows import services as window_services
from windows.models import ProcessingWindow, WindowOverride

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

HOLIDAY = date(2027, 3, 10)  # a Wednesday: business day unless a holiday is added
CLOSED_DAY = date(2027, 3, 11)  # a Thursday: the window's sessions unless an override closes it
STATUS_AT = "2027-03-11T10:00:00Z"
PARALLEL = 8  # requests per read and round, two at a time, so both workers answer


@pytest.fixture
def world(make_key):
    """Committed data for every hot read, and the keys to read and write it."""
    bank = make_institution("DEUTDEFF")
    calendar_services.create_calendar(data={"code": "TGT", "name": "Test", "timezone": "UTC"})
    window_services.create_window(
        data={
            "code": "WIN",
            "name": "Window",
            "calendar": Calendar.objects.get(code="TGT"),
            "timezone": "UTC",
            "payment_type": "SCT",
            "sessions": [
                {
                    "label": "day",
                    "weekdays": [1, 2, 3, 4, 5],
                    "opens": "08:00",
                    "opens_day_offset": 0,
                    "closes": "16:00",
                    "closes_day_offset": 0,
                }
            ],
        }
    )
    limit = configuration_services.create_configuration(
        data={"key": "payments.limit", "value_type": "integer", "default": 10}
    )
    configuration_services.create_value(
        configuration=limit,
        data={
            "institution": bank,
            "value": 500,
            "effective_from": datetime(2020, 1, 1, tzinfo=UTC),
        },
    )
    flag_services.create_flag(data={"name": "fx", "everyone": True})
    return {
        "read": make_key("reader"),
        "write": make_key("writer", write=True),
    }


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}


def _reads(url: str, key: str) -> dict[str, tuple[str, str, bytes | None]]:
    base = f"{url}/api/v1"
    ofrep = json.dumps({"context": {"targetingKey": "DEUTDEFF"}}).encode()
    return {
        "business_day": ("GET", f"{base}/calendars/TGT/business-days/check?date={HOLIDAY}", None),
        "sessions": (
            "GET",
            f"{base}/windows/WIN/sessions?start={CLOSED_DAY}&end={CLOSED_DAY}",
            None,
        ),
        "status": (
            "GET",
            f"{base}/windows/WIN/status?at={urllib.parse.quote(STATUS_AT)}",
            None,
        ),
        "configuration": (
            "GET",
            f"{base}/configurations/payments.limit/resolve?institution=DEUTDEFF",
            None,
        ),
        "flags": ("GET", f"{base}/flags/evaluate?institution=DEUTDEFF", None),
        "ofrep": ("POST", f"{url}/ofrep/v1/evaluate/flags/fx", ofrep),
    }


def _extract(name: str, body: dict) -> object:
    return {
        "business_day": lambda b: b["is_business_day"],
        "sessions": lambda b: len(b["sessions"]),
        "status": lambda b: b["is_open"],
        "configuration": lambda b: b["value"],
        "flags": lambda b: b["flags"]["fx"]["enabled"],
        "ofrep": lambda b: b["value"],
    }[name](body)


def observe(url: str, key: str) -> dict[str, set[object]]:
    """Every hot read, PARALLEL times two at a time: the set of answers seen for each."""
    seen: dict[str, set[object]] = {}
    reads = _reads(url, key)

    def one(item):
        name, (method, target, body) = item
        status, _, payload = http(method, target, _auth(key), body)
        assert status == 200, (name, status, payload[:300])
        return name, _extract(name, json.loads(payload))

    jobs = [item for item in reads.items() for _ in range(PARALLEL)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for name, value in pool.map(one, jobs):
            seen.setdefault(name, set()).add(value)
    return seen


BEFORE = {
    "business_day": {True},
    "sessions": {1},
    "status": {True},
    "configuration": {500},
    "flags": {True},
    "ofrep": {True},
}
AFTER = {
    "business_day": {False},
    "sessions": {0},
    "status": {False},
    "configuration": {700},
    "flags": {False},
    "ofrep": {False},
}


def _serve(world):
    return gunicorn(services_env(), workers=2)


def _warm(url: str, key: str, expected: dict) -> None:
    for _ in range(2):
        assert observe(url, key) == expected


# -- the changes, one function per path -----------------------------------------------------


def change_through_api(url: str, world) -> None:
    w = _auth(world["write"])
    base = f"{url}/api/v1"
    calls = [
        ("POST", f"{base}/calendars/TGT/holidays/", {"date": str(HOLIDAY), "name": "Closure"}),
        (
            "POST",
            f"{base}/windows/WIN/overrides/",
            {"date": str(CLOSED_DAY), "closed": True, "reason": "maintenance"},
        ),
        (
            "POST",
            f"{base}/configurations/payments.limit/values/",
            {
                "institution": "DEUTDEFF",
                "value": 700,
                "effective_from": "2021-01-01T00:00:00Z",
            },
        ),
        ("PATCH", f"{base}/flags/fx/", {"everyone": False}),
    ]
    for method, target, payload in calls:
        status, _, body = http(method, target, w, json.dumps(payload).encode())
        assert status in (200, 201), (target, status, body[:300])


def change_through_orm() -> None:
    """What a shell session or a data migration does: rows saved directly, no service."""
    Holiday.objects.create(calendar=Calendar.objects.get(code="TGT"), date=HOLIDAY, name="Closure")
    WindowOverride.objects.create(
        window=ProcessingWindow.objects.get(code="WIN"),
        date=CLOSED_DAY,
        closed=True,
        reason="maintenance",
    )
    value = ConfigurationValue.objects.get(configuration__key="payments.limit")
    value.value = 700
    value.save()
    flag = Flag.objects.get(name="fx")
    flag.everyone = False
    flag.save()


def _admin_session(url: str) -> tuple[object, str]:
    """A logged-in staff session on the served console: (opener, csrf token)."""
    import http.cookiejar
    import urllib.request

    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    user = get_user_model().objects.create_superuser("ops", "ops@example.com")
    # The served process checks passwords with the production hashers, not the tests' MD5.
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode("a-long-test-password-1", hasher.salt(), iterations=1000)
    user.save()
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/admin/login/", timeout=15).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token,
            "username": "ops",
            "password": "a-long-test-password-1",
            "next": "/admin/",
        }
    ).encode()
    opener.open(
        urllib.request.Request(f"{url}/admin/login/", data=form, headers={"Referer": url}),
        timeout=15,
    ).read()
    assert any(c.name == "sessionid" for c in jar), "the console login failed"
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    return opener, csrf


def _bulk_action(url: str, opener, csrf: str, changelist: str, action: str, pks) -> None:
    import urllib.request

    fields = [("csrfmiddlewaretoken", csrf), ("action", action), ("index", "0")]
    fields += [("_selected_action", str(pk)) for pk in pks]
    if action == "delete_selected":
        fields.append(("post", "yes"))  # the confirmation page's answer
    request = urllib.request.Request(
        f"{url}{changelist}",
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Referer": f"{url}{changelist}"},
    )
    with opener.open(request, timeout=15) as response:
        assert response.status == 200


# -- the tests ----------------------------------------------------------------------------


def test_change_through_api__seen_by_next_request_on_both_workers(world):
    with _serve(world) as url:
        _warm(url, world["read"], BEFORE)
        change_through_api(url, world)
        assert observe(url, world["read"]) == AFTER


def test_change_through_orm__seen_by_next_request_on_both_workers(world):
    with _serve(world) as url:
        _warm(url, world["read"], BEFORE)
        change_through_orm()
        assert observe(url, world["read"]) == AFTER


def test_admin_bulk_actions__seen_by_next_request_on_both_workers(world):
    change_through_orm()  # start from the changed state; the bulk actions undo it
    with _serve(world) as url:
        _warm(url, world["read"], AFTER)
        opener, csrf = _admin_session(url)
        _bulk_action(
            url,
            opener,
            csrf,
            "/admin/calendars/holiday/",
            "delete_selected",
            Holiday.objects.filter(date=HOLIDAY).values_list("pk", flat=True),
        )
        _bulk_action(
            url,
            opener,
            csrf,
            "/admin/windows/windowoverride/",
            "delete_selected",
            WindowOverride.objects.values_list("pk", flat=True),
        )
        _bulk_action(
            url,
            opener,
            csrf,
            "/admin/flags/flag/",
            "enable_for_everyone",
            Flag.objects.values_list("pk", flat=True),
        )
        # The changed value goes; a value of 500 is added back through the console's API
        # twin would not be a bulk action, so the configuration falls back to its default.
        _bulk_action(
            url,
            opener,
            csrf,
            "/admin/configuration/configurationvalue/",
            "delete_selected",
            ConfigurationValue.objects.values_list("pk", flat=True),
        )
        assert not Holiday.objects.exists()
        assert not WindowOverride.objects.exists()
        assert observe(url, world["read"]) == {**BEFORE, "configuration": {10}}


def test_restore__seen_by_next_request_on_both_workers(world, tmp_path):
    call_command("backup", "--output", str(tmp_path), verbosity=0)
    archive = next(tmp_path.glob("*"))
    with _serve(world) as url:
        change_through_api(url, world)
        _warm(url, world["read"], AFTER)
        call_command("restore", str(archive), verbosity=0)
        assert not Holiday.objects.exists()
        assert Configuration.objects.get(key="payments.limit").values.count() == 1
        assert Institution.objects.count() == 1
        assert observe(url, world["read"]) == BEFORE
