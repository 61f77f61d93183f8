from django.apps import AppConfig


class FlagsConfig(AppConfig):
    name = "flags"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from auditlog.registry import auditlog
        from django.conf import settings
        from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

        from configuration.models import Institution
        from flags import cache, selectors
        from flags.models import Flag

        auditlog.register(Flag, m2m_fields={"institutions"}, exclude_fields=["modified"])

        # Settings fail fast: a malformed CBP_FLAG_OVERRIDES stops start-up with one line
        # (manage.py and wsgi.py print ImproperlyConfigured and exit non-zero).
        selectors.parse_static_overrides(getattr(settings, "CBP_FLAG_OVERRIDES", ""))

        # Cache invalidation on every write path (services, admin, waffle's command, shell),
        # now and after commit; see flags.cache.
        uid = "flags.cache."
        post_save.connect(cache.flag_saved_or_deleted, sender=Flag, dispatch_uid=uid + "save")
        post_delete.connect(cache.flag_saved_or_deleted, sender=Flag, dispatch_uid=uid + "del")
        m2m_changed.connect(
            cache.flag_institutions_changed,
            sender=Flag.institutions.through,
            dispatch_uid=uid + "m2m",
        )
        post_save.connect(
            cache.institution_saved, sender=Institution, dispatch_uid=uid + "institution_save"
        )
        post_delete.connect(
            cache.institution_deleted, sender=Institution, dispatch_uid=uid + "institution_del"
        )
        # A deleted institution leaves the flags that target it through the service (new
        # version, audit entry), not by a silent cascade of the m2m rows.
        pre_delete.connect(
            _detach_institution, sender=Institution, dispatch_uid="flags.detach_institution"
        )


def _detach_institution(sender, instance, **kwargs):
    from flags.services import detach_institution

    detach_institution(institution=instance)
