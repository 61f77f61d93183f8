from django.apps import AppConfig


class CalendarsConfig(AppConfig):
    name = "calendars"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from auditlog.registry import auditlog

        from calendars.models import Calendar, Holiday

        auditlog.register(Calendar)
        auditlog.register(Holiday)

        from calendars import signals

        signals.connect()
