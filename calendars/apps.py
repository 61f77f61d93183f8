from django.apps import AppConfig


class CalendarsConfig(AppConfig):
    name = "calendars"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from auditlog.registry import auditlog

        from calendars.models import Calendar, Holiday

        # data_version is an internal cache counter bumped with every holiday change; it is not
        # calendar data, so it stays out of the audit log.
        auditlog.register(Calendar, exclude_fields=["data_version"])
        auditlog.register(Holiday)

        from calendars import signals

        signals.connect()
