import django_filters
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from cbpconfig.api.filters import StrictBooleanFilter, StrictChoiceFilter
from configuration.models import Configuration, ConfigurationValue, Institution


class InstitutionFilter(django_filters.FilterSet):
    country = django_filters.CharFilter()
    is_active = StrictBooleanFilter()
    calendar = django_filters.CharFilter(field_name="calendar__code")
    search = django_filters.CharFilter(method="filter_search", help_text="code or name contains")

    class Meta:
        model = Institution
        fields = ["country", "is_active", "calendar"]

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value))


class ConfigurationFilter(django_filters.FilterSet):
    value_type = StrictChoiceFilter(choices=Configuration.ValueType.choices)
    is_sensitive = StrictBooleanFilter()
    search = django_filters.CharFilter(
        method="filter_search", help_text="key or description contains"
    )

    class Meta:
        model = Configuration
        fields = ["value_type", "is_sensitive"]

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(key__icontains=value) | Q(description__icontains=value))


class ConfigurationValueFilter(django_filters.FilterSet):
    institution = django_filters.CharFilter(
        field_name="institution__code", help_text="Values of this institution (code)."
    )

    class Meta:
        model = ConfigurationValue
        fields = ["institution"]

    @extend_schema_field(OpenApiTypes.BOOL)
    def filter_global(self, queryset, name, value):
        return queryset.filter(institution__isnull=value)


# `global` is a Python keyword, so the filter is added after the class is built.
ConfigurationValueFilter.base_filters["global"] = StrictBooleanFilter(
    method="filter_global",
    help_text="true: only global values; false: only institution values.",
)
