"""The business-calendar selector: tokens, the in-process LRU, invalidation after commit."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.cache import cache

from calendars import cache as calendar_cache
from calendars import services
from calendars.models import Calendar
from calendars.selectors import (
    CalendarNotFound,
    business_calendar,
    calendar_data_version,
    calendar_version_token,
)
from cbpconfig import cache as coherence

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def target2():
    cal = services.create_calendar(data={"code": "TARGET2", "name": "TARGET2"})
    services.create_holiday(calendar=cal, data={"date": date(2026, 4, 3), "name": "Good Friday"})
    return Calendar.objects.get(pk=cal.pk)


@pytest.fixture
def usfed():
    cal = services.create_calendar(data={"code": "USFED", "name": "Fedwire"})
    services.create_holiday(calendar=cal, data={"date": date(2026, 7, 3), "name": "Independence"})
    return Calendar.objects.get(pk=cal.pk)


def test_business_calendar__warm_cache__no_query_same_object(target2, django_assert_num_queries):
    cal, token = business_calendar(["TARGET2"])
    assert token == calendar_data_version(target2)
    assert not cal.is_business_day(date(2026, 4, 3))
    with django_assert_num_queries(0):
        again, token2 = business_calendar(["TARGET2"])
    assert again is cal
    assert token2 == token


def test_business_calendar__cold__at_most_two_queries(target2, usfed, django_assert_num_queries):
    with django_assert_num_queries(2):
        cal, token = business_calendar(["TARGET2", "USFED"])
    assert token == f"{calendar_data_version(target2)}+{calendar_data_version(usfed)}"
    assert not cal.is_business_day(date(2026, 7, 3))
    # A new process-local miss of the joint calendar reuses the built members: one query.
    calendar_cache.business_calendars.clear()
    with django_assert_num_queries(1):
        business_calendar(["USFED", "TARGET2"])


def test_business_calendar__holiday_added__new_token_and_answer(target2):
    cal, token = business_calendar(["TARGET2"])
    assert cal.is_business_day(date(2026, 4, 6))
    services.create_holiday(calendar=target2, data={"date": date(2026, 4, 6), "name": "Easter"})
    cal2, token2 = business_calendar(["TARGET2"])
    assert token2 != token
    assert not cal2.is_business_day(date(2026, 4, 6))
    assert calendar_version_token(["TARGET2"]) == token2


def test_business_calendar__unknown_code__calendar_not_found(target2):
    with pytest.raises(CalendarNotFound) as info:
        business_calendar(["TARGET2", "NOPE"])
    assert info.value.codes == ("NOPE",)
    assert isinstance(info.value, Calendar.DoesNotExist)
    # A made-up code leaves no key behind; creating it later makes it known.
    assert cache.get(coherence.token_key(calendar_cache.name("NOPE"))) is None
    services.create_calendar(data={"code": "NOPE", "name": "now it exists"})
    cal, token = business_calendar(["TARGET2", "NOPE"])
    assert token.split("+")[1] == calendar_data_version(Calendar.objects.get(code="NOPE"))


def test_business_calendar__deleted_and_recreated__different_token(target2):
    _, token = business_calendar(["TARGET2"])
    services.delete_calendar(calendar=target2)
    with pytest.raises(CalendarNotFound):
        business_calendar(["TARGET2"])
    services.create_calendar(data={"code": "TARGET2", "name": "again"})
    cal, token2 = business_calendar(["TARGET2"])
    assert token2 != token
    assert cal.is_business_day(date(2026, 4, 3))


def test_business_calendar__rolled_back_change__token_unchanged(target2):
    from django.db import transaction

    _, token = business_calendar(["TARGET2"])
    # PT012: the raise is what rolls the atomic block back.
    with pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012
        services.create_holiday(calendar=target2, data={"date": date(2026, 5, 1), "name": "x"})
        raise RuntimeError
    cal, token2 = business_calendar(["TARGET2"])
    assert token2 == token
    assert cal.is_business_day(date(2026, 5, 1))


def test_publication__after_rolled_back_savepoint__still_registered(target2):
    from django.db import transaction

    _, token = business_calendar(["TARGET2"])
    with transaction.atomic():
        # PT012: the raise is what rolls the savepoint back.
        with pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012
            services.create_holiday(calendar=target2, data={"date": date(2026, 5, 1), "name": "x"})
            raise RuntimeError
        services.create_holiday(calendar=target2, data={"date": date(2026, 5, 4), "name": "y"})
    # Committed (transactional test): the bump ran, though its first registration was in
    # the rolled-back savepoint.
    cal, token2 = business_calendar(["TARGET2"])
    assert token2 != token
    assert cal.is_business_day(date(2026, 5, 1))
    assert not cal.is_business_day(date(2026, 5, 4))
