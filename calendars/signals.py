"""Cache invalidation and metrics on every change of a calendar or a holiday.

Connected in ``CalendarsConfig.ready``. Signals (not only the services) so that no path can
leave a stale answer behind: services, admin, the import, a cascade from a calendar delete,
``loaddata`` or a restore all save rows one by one. The handlers do cache and metrics work
only — the business rules stay in the services:

- move the calendar's internal ``data_version`` on (one ``UPDATE`` in the writer's
  transaction), so the calendar's version token changes;
- drop the token from the shared cache at once, and publish the new one after commit
  (:func:`calendars.cache.invalidate`);
- count holiday changes (``cbp_calendar_holiday_changes_total``) after commit.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.db.models.signals import post_delete, post_save

from calendars import metrics
from calendars.cache import invalidate
from calendars.models import Calendar, Holiday, new_data_version


def _bump(calendar_pk: int) -> None:
    # Always up, and past any value used before (see Calendar.data_version). `update()`
    # skips the audit log on purpose: data_version is a cache stamp, not calendar data.
    Calendar.objects.filter(pk=calendar_pk).update(
        data_version=Greatest(F("data_version") + 1, Value(new_data_version()))
    )


def _calendar_code(holiday: Holiday) -> str | None:
    if Holiday.calendar.is_cached(holiday):
        return holiday.calendar.code
    return Calendar.objects.filter(pk=holiday.calendar_id).values_list("code", flat=True).first()


def holiday_saved(sender, instance: Holiday, created: bool, **kwargs) -> None:
    code = _calendar_code(instance)
    _bump(instance.calendar_id)
    if code:
        invalidate(code)
        action = "create" if created else "update"
        transaction.on_commit(lambda: metrics.holiday_changed(code, action))


def holiday_deleted(sender, instance: Holiday, **kwargs) -> None:
    code = _calendar_code(instance)
    _bump(instance.calendar_id)  # no row left when the calendar itself is being deleted: no-op
    if code:
        invalidate(code)
        transaction.on_commit(lambda: metrics.holiday_changed(code, "delete"))


def calendar_saved(sender, instance: Calendar, created: bool, **kwargs) -> None:
    if not created:
        _bump(instance.pk)
    invalidate(instance.code)


def calendar_deleted(sender, instance: Calendar, **kwargs) -> None:
    invalidate(instance.code)


def connect() -> None:
    post_save.connect(holiday_saved, sender=Holiday, dispatch_uid="calendars.holiday_saved")
    post_delete.connect(holiday_deleted, sender=Holiday, dispatch_uid="calendars.holiday_deleted")
    post_save.connect(calendar_saved, sender=Calendar, dispatch_uid="calendars.calendar_saved")
    post_delete.connect(
        calendar_deleted, sender=Calendar, dispatch_uid="calendars.calendar_deleted"
    )
