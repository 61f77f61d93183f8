from django.apps import AppConfig


class WindowsConfig(AppConfig):
    name = "windows"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Processing windows"

    def ready(self):
        from auditlog.registry import auditlog

        from windows.models import ProcessingWindow, WindowOverride, WindowRule

        auditlog.register(ProcessingWindow)
        auditlog.register(WindowRule)
        auditlog.register(WindowOverride)

        from windows import signals

        signals.connect()

    def integrity_problems(self):
        """Cross-object rules for `manage.py verify_integrity`: each window's rules and overrides
        still pass the overlap checks with the calendar as it is now (a removed holiday can
        bring back a session that collides with an override)."""
        from django.core.exceptions import ValidationError

        from cbpconfig.management.base import one_line
        from windows.mappers import override_from_row, rule_from_row
        from windows.models import ProcessingWindow
        from windows.services import validate_window_definition

        for window in ProcessingWindow.objects.select_related("calendar").prefetch_related(
            "rules", "overrides"
        ):
            rules = [rule_from_row(r) for r in window.rules.all()]
            overrides = [override_from_row(o) for o in window.overrides.all()]
            try:
                validate_window_definition(
                    timezone=window.timezone,
                    calendar=window.calendar,
                    rules=rules,
                    overrides=overrides,
                )
            except ValidationError as exc:
                yield f"windows.processingwindow {window.pk} ({window.code}): {one_line(exc)}"
