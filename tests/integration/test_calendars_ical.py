"""The iCalendar feed: parses with `icalendar`, one all-day event per holiday, stable UIDs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from icalendar import Calendar as ICalendar

from calendars import services
from calendars.models import Holiday
from tests.factories import make_calendar

# Committed writes: warm caches are only kept for committed data (cbpconfig.cache).
pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/calendars/TARGET2/holidays.ics"


@pytest.fixture
def target2(db):
    return make_calendar(
        "TARGET2", timezone="Europe/Berlin", holidays={"market": "ECB", "years": [2026, 2027]}
    )


def events(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/calendar")
    return ICalendar.from_ical(response.content).walk("VEVENT")


def test_feed__one_all_day_event_per_holiday(reader, target2):
    found = events(reader.get(URL))
    holidays = list(Holiday.objects.filter(calendar=target2).order_by("date"))
    assert len(found) == len(holidays) > 0
    by_date = {e.decoded("dtstart"): e for e in found}
    for holiday in holidays:
        event = by_date[holiday.date]
        # All-day: DTSTART is a date (VALUE=DATE), DTEND the next day.
        assert type(event.decoded("dtstart")) is date
        assert event.decoded("dtend") == holiday.date + timedelta(days=1)
        assert str(event["summary"]) == holiday.name
        assert event.get("dtstamp") is not None


def test_feed__uids_stable_across_fetches_and_unique(reader, target2):
    first = events(reader.get(URL))
    second = events(reader.get(URL))
    uids = [str(e["uid"]) for e in first]
    assert uids == [str(e["uid"]) for e in second]
    assert len(set(uids)) == len(uids)
    assert reader.get(URL).content == reader.get(URL).content


def test_feed__uid_survives_rename_and_recreate(writer, target2):
    def uid_of(day):
        for event in events(writer.get(URL)):
            if event.decoded("dtstart") == day:
                return str(event["uid"]), int(event.get("sequence", 0))
        return None

    good_friday = date(2026, 4, 3)
    uid, sequence = uid_of(good_friday)
    writer.patch(
        "/api/v1/calendars/TARGET2/holidays/2026-04-03/", {"name": "Karfreitag"}, format="json"
    )
    renamed_uid, renamed_sequence = uid_of(good_friday)
    assert renamed_uid == uid
    assert renamed_sequence > sequence
    writer.delete("/api/v1/calendars/TARGET2/holidays/2026-04-03/")
    assert uid_of(good_friday) is None
    writer.post(
        "/api/v1/calendars/TARGET2/holidays/",
        {"date": "2026-04-03", "name": "Good Friday"},
        format="json",
    )
    assert uid_of(good_friday)[0] == uid


def test_feed__etag_304_and_changes_after_a_holiday_change(writer, target2):
    first = writer.get(URL)
    etag = first["ETag"]
    assert writer.get(URL, HTTP_IF_NONE_MATCH=etag).status_code == 304
    writer.post(
        "/api/v1/calendars/TARGET2/holidays/",
        {"date": "2026-08-14", "name": "Closure"},
        format="json",
    )
    after = writer.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert after.status_code == 200
    assert len(events(after)) == len(events(first)) + 1


def test_feed__accept_text_calendar(reader, target2):
    response = reader.get(URL, HTTP_ACCEPT="text/calendar")
    assert len(events(response)) > 0


def test_feed__year_filter(reader, target2):
    found = events(reader.get(URL, {"year": 2027}))
    assert found
    assert all(e.decoded("dtstart").year == 2027 for e in found)
    assert reader.get(URL, {"year": "next"}).status_code == 400


def test_feed__unknown_calendar__404(reader):
    assert reader.get("/api/v1/calendars/NOPE/holidays.ics").status_code == 404


def test_feed__empty_calendar__valid_document(reader, db):
    services.create_calendar(data={"code": "EMPTY", "name": "Empty"})
    response = reader.get("/api/v1/calendars/EMPTY/holidays.ics")
    assert events(response) == []
    assert b"BEGIN:VCALENDAR" in response.content
