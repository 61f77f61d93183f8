import django_filters
from django.db.models import Q

from cbpconfig.api.filters import StrictBooleanFilter
from windows.models import ProcessingWindow


class WindowFilter(django_filters.FilterSet):
    institution = django_filters.CharFilter(
        method="filter_institution",
        help_text="Institution code, or `none` for platform-wide windows.",
    )
    calendar = django_filters.CharFilter(field_name="calendar__code")
    payment_type = django_filters.CharFilter()
    is_active = StrictBooleanFilter()
    search = django_filters.CharFilter(method="filter_search", help_text="code or name contains")

    class Meta:
        model = ProcessingWindow
        fields = ["institution", "calendar", "payment_type", "is_active"]

    def filter_institution(self, queryset, name, value):
        if value.lower() in ("none", "null"):
            return queryset.filter(institution__isnull=True)
        return queryset.filter(institution__code=value)

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value))
