"""Filter helpers: strict where django-filter is lenient (a bad value is a 400, not ignored).

django-filter drops a parameter that is present but empty (`?is_active=`) as if it were
absent; these filters refuse it with a 400 naming it, as every other query parameter does
(cbpconfig.api.params.query_value), and document the type the parameter really takes.
"""

from typing import Any

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

_BOOL = {"true": True, "1": True, "false": False, "0": False}


class _NotEmpty:
    """A form field mixin: a value that is present but blank is an error naming what a good
    value is (absent is None and stays optional)."""

    expected = "a value"

    def clean(self, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise forms.ValidationError(f"This parameter must not be empty ({self.expected}).")
        return super().clean(value)  # type: ignore[misc]


class _StrictBooleanField(_NotEmpty, forms.TypedChoiceField):
    expected = "true or false"


class _StrictChoiceField(_NotEmpty, django_filters.fields.ChoiceField):
    expected = "one of the documented values"


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """`true`/`false` (or 1/0); empty or anything else is a 400 naming the parameter.
    Documented as a boolean (`true`/`false`)."""

    field_class = _StrictBooleanField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")])
        kwargs.setdefault("coerce", lambda value: _BOOL[str(value).lower()])
        super().__init__(*args, **kwargs)


class StrictChoiceFilter(django_filters.ChoiceFilter):
    """One of `choices` (documented as an enum); empty or anything else is a 400 naming the
    parameter."""

    field_class = _StrictChoiceField


class _NotEmptyCharField(_NotEmpty, forms.CharField):
    pass


class NotEmptyCharFilter(django_filters.CharFilter):
    """A free-form (usually `method=`) filter whose value may be absent but not empty."""

    field_class = _NotEmptyCharField
