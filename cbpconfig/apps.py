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
        _connect_key_token(APIKey)

        from cbpconfig import routers

        routers.connect()  # so that even a process's first request is routed


def _connect_key_token(model: type) -> None:
    """Every save or delete of an API key (issue, revocation, the admin) gives the keys a new
    generation token after commit: remembered verifications are re-checked (cbpconfig.ready)."""
    from django.db.models.signals import post_delete, post_save

    post_save.connect(_bump_keys, sender=model, dispatch_uid="cbpconfig.apikeys.saved")
    post_delete.connect(_bump_keys, sender=model, dispatch_uid="cbpconfig.apikeys.deleted")


def _bump_keys(sender: object, **kwargs: object) -> None:
    from cbpconfig import cache
    from cbpconfig.api.authentication import KEYS

    cache.bump(KEYS)
