"""Feature flags: django-waffle's flag plus what institution evaluation needs."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy
from waffle.models import AbstractUserFlag

from flags import rollout

FLAG_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,99}$"


def default_overrides() -> dict:
    return {}


class Flag(AbstractUserFlag):
    """A waffle flag (waffle's own evaluation for Django users keeps working) with the fields
    for institutions: rollout percentage, always-on institutions, per-environment overrides.

    `name` is immutable once created: API clients, OFREP providers, CBP_FLAG_OVERRIDES and
    waffle's cache keys all address a flag by its name, so a rename would silently break them.
    `created` and `modified` (waffle's timestamps) are served as `created_at`/`updated_at`.
    """

    # Overrides waffle's field to add the contract's pattern (lower-case, URL- and env-safe).
    name = models.CharField(
        max_length=100,
        unique=True,
        validators=[
            RegexValidator(
                FLAG_NAME_PATTERN,
                message=(
                    "Use 1-100 characters: lower-case letters, digits, '_' and '-', "
                    "starting with a letter or digit."
                ),
            )
        ],
        help_text="Lower-case letters, digits, '_' and '-' (1-100 characters); immutable.",
        verbose_name="Name",
    )
    rollout_percent = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=(
            "Gradual rollout to institutions, 0-100 with one decimal place. An institution is "
            "on when its deterministic bucket for this flag is below this number, so raising "
            "it only ever adds institutions."
        ),
    )
    institutions = models.ManyToManyField(
        "configuration.Institution",
        blank=True,
        related_name="flags",
        help_text="Always on for these institutions (unless overridden).",
    )
    environment_overrides = models.JSONField(
        default=default_overrides,
        blank=True,
        help_text=(
            'Forced state per deployment environment, e.g. {"staging": true, '
            '"production": false}; keys among development, staging, production.'
        ),
    )
    version = models.PositiveIntegerField(default=1, editable=False)

    if TYPE_CHECKING:
        # waffle's FlagManager is typed for its abstract flag; the same manager, typed for Flag.
        objects: ClassVar[models.Manager[Flag]]  # type: ignore[assignment]

    class Meta(AbstractUserFlag.Meta):
        ordering = ["name"]
        # Lazy like waffle's own (the base Meta's type); no translations are shipped.
        verbose_name = gettext_lazy("flag")
        verbose_name_plural = gettext_lazy("flags")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rollout_percent__gte=0) & models.Q(rollout_percent__lte=100),
                name="flag_rollout_percent_0_100",
            )
        ]

    def clean(self) -> None:
        super().clean()
        try:
            self.environment_overrides = rollout.validate_environment_overrides(
                self.environment_overrides
            )
        except rollout.FlagConfigError as exc:
            raise ValidationError({"environment_overrides": [str(exc)]}) from None
