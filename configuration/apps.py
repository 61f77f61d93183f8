from django.apps import AppConfig


class ConfigurationConfig(AppConfig):
    name = "configuration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from auditlog.registry import auditlog

        from configuration.models import Institution

        auditlog.register(Institution)
