"""Plumbing models: the audit entry, API keys, and the versioned base of every domain object."""

from __future__ import annotations

from auditlog.models import AbstractLogEntry
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class VersionedModel(models.Model):
    """Base of every mutable domain object: a version bumped on each change (served as the
    ETag and checked against If-Match) and creation/update timestamps."""

    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditEntry(AbstractLogEntry):  # type: ignore[misc]  # django-auditlog ships no types
    """django-auditlog's entry plus the textual actor: a user name, `api-key:<name>` or
    `system:<command>` (API keys and commands have no Django user to point at)."""

    actor_name = models.CharField(max_length=200, blank=True, null=True, db_index=True)

    class Meta(AbstractLogEntry.Meta):  # type: ignore[misc]  # django-auditlog ships no types
        swappable = "AUDITLOG_LOGENTRY_MODEL"
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["timestamp", "id"], name="auditentry_ts_id")]

    @property
    def actor_display(self) -> str | None:
        if self.actor_name:
            return self.actor_name
        if self.actor_id:
            username: str = self.actor.get_username()
            return username
        return None


class APIKey(AbstractAPIKey):
    """A hashed API key. Without an institution it is a platform key (reads everything; writes
    when `can_write`); with one it reads shared reference data and that institution's objects
    only, and never writes."""

    institution = models.ForeignKey(
        "configuration.Institution",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
    )
    can_write = models.BooleanField(default=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(institution__isnull=True) | models.Q(can_write=False),
                name="apikey_institution_keys_never_write",
            )
        ]

    @property
    def actor_name(self) -> str:
        return f"api-key:{self.name}"
