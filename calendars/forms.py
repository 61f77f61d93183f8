"""The holiday import's form, one for both pages that import: the admin's import action
(:mod:`calendars.admin`) and the console's import page (:mod:`console.views`)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from calendars import services
from cbpconfig.admin import add_refusal


class HolidaySourceForm(forms.Form):
    """A country (optionally a subdivision) or a financial market, and the years; valid when
    the import service accepts them as a source, which is then ``cleaned_data["source"]``.
    Each page declares its own country, subdivision and market fields (choices, labels)."""

    years = forms.CharField(
        max_length=100, help_text="A year, a range such as 2026-2030, or 2026,2028."
    )
    field_order = ["country", "subdivision", "market", "years"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            cleaned["source"] = services.holiday_source_from(cleaned)
        except ValidationError as exc:
            add_refusal(self, exc)
        return cleaned
