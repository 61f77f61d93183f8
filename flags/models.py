"""Feature flags: django-waffle's flag plus what institution evaluation needs."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from waffle.models import AbstractUserFlag

FLAG_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,99}$"


def default_overrides() -> dict:
    return {}


class Flag(AbstractUserFlag):
    """A waffle flag (waffle's own evaluation for Django users keeps working) with the fields
    for institutions: rollout percentage, always-on institutions, per-environment overrides."""

    rollout_percent = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    institutions = models.ManyToManyField(
        "configuration.Institution", blank=True, related_name="flags"
    )
    environment_overrides = models.JSONField(default=default_overrides, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta(AbstractUserFlag.Meta):
        ordering = ["name"]
        verbose_name = "flag"
        verbose_name_plural = "flags"
