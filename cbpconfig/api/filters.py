"""Filter helpers: strict where django-filter is lenient (a bad value is a 400, not ignored)."""

import django_filters

_BOOL = {"true": True, "1": True, "false": False, "0": False}


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """`true`/`false` (or 1/0); anything else is a 400 naming the parameter."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")])
        kwargs.setdefault("coerce", lambda value: _BOOL[str(value).lower()])
        super().__init__(*args, **kwargs)
