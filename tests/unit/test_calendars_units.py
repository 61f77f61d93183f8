"""Pure parts of the calendars app: the iCalendar builder, import argument parsing, the admin
year grid and the version tokens (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core.exceptions import ValidationError
from icalendar import Calendar as ICalendar

from calendars.admin import year_months
from calendars.businessdays import BusinessCalendar, CalendarData
from calendars.cache import joint_token, member_token
from calendars.ical import FeedHoliday, holiday_uid, holidays_feed
from calendars.services import holiday_source, parse_year_range, parse_years
from cbpconfig.lru import LRU

STAMP = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def test_holidays_feed__parses_one_all_day_event_each():
    body = holidays_feed(
        code="TARGET2",
        name="TARGET2",
        timezone="Europe/Berlin",
        holidays=[
            FeedHoliday(date(2026, 4, 3), "Good Friday", "holidays:ECB", 1, STAMP),
            FeedHoliday(date(2026, 4, 6), "Easter Monday", "manual", 3, STAMP),
        ],
    )
    assert b"\r\n" in body
    events = ICalendar.from_ical(body).walk("VEVENT")
    assert [e.decoded("dtstart") for e in events] == [date(2026, 4, 3), date(2026, 4, 6)]
    assert [e.decoded("dtend") for e in events] == [date(2026, 4, 4), date(2026, 4, 7)]
    assert [int(e["sequence"]) for e in events] == [0, 2]
    assert str(events[0]["uid"]) == holiday_uid("TARGET2", date(2026, 4, 3))


def test_holiday_uid__depends_on_code_and_date_only():
    assert holiday_uid("TARGET2", date(2026, 4, 3)) == holiday_uid("TARGET2", date(2026, 4, 3))
    assert holiday_uid("TARGET2", date(2026, 4, 3)) != holiday_uid("USFED", date(2026, 4, 3))


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("2026", (2026,)),
        ("2026-2028", (2026, 2027, 2028)),
        ("2026,2028", (2026, 2028)),
        (" 2026 - 2027 , 2030", (2026, 2027, 2030)),
    ],
)
def test_parse_year_range__forms(text, years):
    assert parse_year_range(text) == years


@pytest.mark.parametrize("text", ["", "soon", "2030-2026", "2026-2080", "1850", "2026-", "20x6"])
def test_parse_year_range__bad__validation_error_names_years(text):
    with pytest.raises(ValidationError) as info:
        parse_year_range(text)
    assert "years" in info.value.message_dict


def test_parse_years__span_50_ok_51_refused():
    assert len(parse_years(list(range(2000, 2050)))) == 50
    with pytest.raises(ValidationError):
        parse_years([2000, 2050])
    with pytest.raises(ValidationError):
        parse_years([True])


def test_holiday_source__labels():
    assert holiday_source(market="ecb", years=[2026]).label == "holidays:ECB"
    assert holiday_source(country="US", years=[2026]).label == "holidays:US"
    assert holiday_source(country="us", subdivision="ca", years=[2026]).label == "holidays:US-CA"


def test_year_months__weekends_holidays_and_business_day_counts__as_the_engine_answers():
    holidays = ((date(2026, 12, 25), "Christmas Day"), (date(2026, 12, 26), "St Stephen's Day"))
    cal = BusinessCalendar(CalendarData("X", (6, 7), holidays))
    months = year_months(2026, cal)
    december = months[11]
    assert december["business_days"] == 22
    assert december["holidays"] == list(holidays)
    cells = {c["day"]: c for week in december["weeks"] for c in week}
    assert cells[date(2026, 12, 25)]["kind"] == "holiday"
    assert cells[date(2026, 12, 25)]["title"] == "Christmas Day"
    assert cells[date(2026, 12, 26)]["kind"] == "weekend"  # a Saturday, also a holiday
    assert cells[date(2026, 12, 26)]["title"] == "Sat; St Stephen's Day"
    assert cells[date(2026, 12, 24)]["kind"] == "business"
    business = [
        c["day"] for m in months for week in m["weeks"] for c in week if c["kind"] == "business"
    ]
    assert all(cal.is_business_day(d) for d in business)
    assert sum(m["business_days"] for m in months) == cal.count(date(2026, 1, 1), date(2027, 1, 1))
    assert cells[date(2026, 11, 30)]["kind"] == "outside"
    assert all(len(week) == 7 for m in months for week in m["weeks"])


def test_tokens_and_lru():
    assert member_token("TARGET2", "ab12") == "TARGET2:ab12"
    assert joint_token(["A:x", "B:y"]) == "A:x+B:y"
    lru = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1
    lru.put("c", 3)
    assert lru.get("b") is None
    assert lru.get("a") == 1
    assert lru.get("c") == 3
