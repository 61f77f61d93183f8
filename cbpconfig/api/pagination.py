from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework.pagination import PageNumberPagination


class StrictPageNumberPagination(PageNumberPagination):
    """DRF page-number pagination (`page`, `page_size` ≤ 500) that refuses an unordered
    queryset: without a total order the pages could repeat or skip rows."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        if hasattr(queryset, "ordered") and not queryset.ordered:
            raise ImproperlyConfigured(
                f"{type(view).__name__ if view else 'view'} paginates an unordered queryset"
            )
        return super().paginate_queryset(queryset, request, view)
