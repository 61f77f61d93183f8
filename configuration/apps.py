from django.apps import AppConfig


class ConfigurationConfig(AppConfig):
    name = "configuration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from auditlog.registry import auditlog

        from configuration import signals
        from configuration.models import Configuration, ConfigurationValue, Institution

        auditlog.register(Institution)
        auditlog.register(Configuration)
        auditlog.register(ConfigurationValue)
        signals.connect()
