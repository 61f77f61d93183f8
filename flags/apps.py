from django.apps import AppConfig


class FlagsConfig(AppConfig):
    name = "flags"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from auditlog.registry import auditlog
        from django.conf import settings
        from django.db.models.signals import pre_delete

        from configuration.models import Institution
        from flags import selectors, signals
        from flags.models import Flag

        auditlog.register(Flag, m2m_fields={"institutions"}, exclude_fields=["modified"])

        # Settings fail fast: a malformed CBP_FLAG_OVERRIDES stops start-up with one line
        # (manage.py and wsgi.py print ImproperlyConfigured and exit non-zero).
        selectors.parse_static_overrides(getattr(settings, "CBP_FLAG_OVERRIDES", ""))

        # Cache invalidation on every write path (services, admin, waffle's command, shell).
        signals.connect()
        # A deleted institution leaves the flags that target it through the service (new
        # version, audit entry), not by a silent cascade of the m2m rows.
        pre_delete.connect(
            _detach_institution, sender=Institution, dispatch_uid="flags.detach_institution"
        )


def _detach_institution(sender, instance, **kwargs):
    from flags.services import detach_institution

    detach_institution(institution=instance)
