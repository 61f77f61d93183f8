from django.apps import AppConfig


class FlagsConfig(AppConfig):
    name = "flags"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from auditlog.registry import auditlog

        from flags.models import Flag

        auditlog.register(Flag, m2m_fields={"institutions"}, exclude_fields=["modified"])
