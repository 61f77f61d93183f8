"""A calendar's holidays as an RFC 5545 iCalendar feed (the `icalendar` package).

One all-day VEVENT per holiday. The UID is derived from the calendar code and the date
(``<date>.<code>@calendars.cbp-config``) — not from a database id — so a client that subscribed
to the feed updates the event when a holiday is renamed, and a holiday deleted and created
again on the same date stays the same event instead of a duplicate. SEQUENCE follows the
holiday's version, DTSTAMP/LAST-MODIFIED its last change, so two fetches of unchanged data
are byte-identical.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar as ICalendar
from icalendar import Event

PRODID = "-//CBP Configuration API//Business calendars//EN"
UID_DOMAIN = "calendars.cbp-config"


@dataclass(frozen=True)
class FeedHoliday:
    date: date
    name: str
    source: str
    version: int
    updated_at: datetime


def holiday_uid(calendar_code: str, day: date) -> str:
    return f"{day.isoformat()}.{calendar_code.lower()}@{UID_DOMAIN}"


def holidays_feed(*, code: str, name: str, timezone: str, holidays: Iterable[FeedHoliday]) -> bytes:
    """The VCALENDAR document (bytes, CRLF line endings as RFC 5545 requires)."""
    feed = ICalendar()
    feed.add("prodid", PRODID)
    feed.add("version", "2.0")
    feed.add("calscale", "GREGORIAN")
    feed.add("method", "PUBLISH")
    feed.add("x-wr-calname", f"{code} holidays" if not name else f"{name} ({code}) holidays")
    feed.add("x-wr-timezone", timezone)
    for holiday in holidays:
        stamp = holiday.updated_at.astimezone(UTC).replace(microsecond=0)
        event = Event()
        event.add("uid", holiday_uid(code, holiday.date))
        event.add("dtstamp", stamp)
        event.add("last-modified", stamp)
        event.add("dtstart", holiday.date)
        event.add("dtend", holiday.date + timedelta(days=1))
        event.add("summary", holiday.name)
        event.add("description", f"{code}: non-business day ({holiday.source})")
        event.add("categories", ["Holiday"])
        event.add("sequence", max(holiday.version - 1, 0))
        event.add("transp", "TRANSPARENT")
        feed.add_component(event)
    return feed.to_ical()
