import django_filters
from django.db.models import Q

from cbpconfig.api.filters import StrictBooleanFilter
from configuration.models import Institution


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
