"""Every change of a calendar or a holiday bumps the calendar's coherence name after commit.

Connected in ``CalendarsConfig.ready``. Signals (not the services) so that no path can leave a
stale answer behind: services, admin, the import, a cascade from a calendar delete,
``loaddata``, a shell or a restore all save rows one by one. The handlers do cache and metrics
work only — the business rules stay in the services.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from calendars import metrics
from calendars.cache import name
from calendars.models import Calendar, Holiday
from cbpconfig import cache as coherence


def _calendar_code(holiday: Holiday) -> str | None:
    if Holiday.calendar.is_cached(holiday):
        return holiday.calendar.code
    return Calendar.objects.filter(pk=holiday.calendar_id).values_list("code", flat=True).first()


def holiday_saved(sender, instance: Holiday, created: bool, **kwargs) -> None:
    code = _calendar_code(instance)
    if code:
        coherence.bump(name(code))
        action = "create" if created else "update"
        transaction.on_commit(lambda: metrics.holiday_changed(code, action))


def holiday_deleted(sender, instance: Holiday, **kwargs) -> None:
    code = _calendar_code(instance)
    if code:
        coherence.bump(name(code))
        transaction.on_commit(lambda: metrics.holiday_changed(code, "delete"))


def calendar_changed(sender, instance: Calendar, **kwargs) -> None:
    coherence.bump(name(instance.code))


def connect() -> None:
    post_save.connect(holiday_saved, sender=Holiday, dispatch_uid="calendars.holiday_saved")
    post_delete.connect(holiday_deleted, sender=Holiday, dispatch_uid="calendars.holiday_deleted")
    post_save.connect(calendar_changed, sender=Calendar, dispatch_uid="calendars.calendar_saved")
    post_delete.connect(
        calendar_changed, sender=Calendar, dispatch_uid="calendars.calendar_deleted"
    )
