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

        # The OpenAPI schema states the key pattern from its one home (the plumbing imports
        # no domain module, so the app hands it over).
        from cbpconfig.api.schema import register_value_rule
        from configuration.resolution import KEY_PATTERN

        register_value_rule("Configuration", "key", {"pattern": KEY_PATTERN.pattern})
