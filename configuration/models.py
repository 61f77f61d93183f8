"""Institutions (participants, by BIC) and, in the configuration issue, typed configurations."""

from __future__ import annotations

from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models

from cbpconfig.models import VersionedModel
from cbpconfig.validators import validate_country, validate_timezone

BIC_PATTERN = r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$"


class Institution(VersionedModel):
    """A participant of the platform, addressed by its BIC (8 or 11 characters)."""

    code = models.CharField(
        max_length=11,
        unique=True,
        validators=[
            RegexValidator(
                BIC_PATTERN,
                message="Enter a BIC of 8 or 11 characters (e.g. DEUTDEFF or DEUTDEFF500).",
            )
        ],
        help_text="BIC, 8 or 11 characters; immutable.",
    )
    name = models.CharField(max_length=200, validators=[MinLengthValidator(1)])
    country = models.CharField(
        max_length=2, validators=[validate_country], help_text="ISO 3166-1 alpha-2."
    )
    timezone = models.CharField(
        max_length=64, validators=[validate_timezone], help_text="IANA zone name."
    )
    calendar = models.ForeignKey(
        "calendars.Calendar",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="institutions",
        help_text="The institution's default business calendar.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code
