from django.apps import AppConfig


class CbpConfig(AppConfig):
    name = "cbpconfig"
    verbose_name = "Platform"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from cbpconfig import cache, checks  # noqa: F401 - checks registers system checks
        from cbpconfig.api import schema  # noqa: F401 - registers the OpenAPI auth scheme
        from cbpconfig.models import APIKey

        auditlog.register(APIKey, exclude_fields=["hashed_key", "id"])
        cache.connect()

        from cbpconfig import routers

        routers.connect()  # so that even a process's first request is routed
