from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from rest_framework.pagination import PageNumberPagination

from cbpconfig.api.params import parse_int_value, query_value

if TYPE_CHECKING:  # DRF's settings import this module (DEFAULT_PAGINATION_CLASS)
    from django.core.paginator import Paginator
    from django.db.models import QuerySet
    from rest_framework.request import Request
    from rest_framework.views import APIView

_Row = TypeVar("_Row")


class StrictPageNumberPagination(PageNumberPagination):
    """DRF page-number pagination (`page`, `page_size` ≤ 500) that refuses an unordered
    queryset: without a total order the pages could repeat or skip rows.

    Both parameters are parsed strictly, like every query parameter: a `page` or
    `page_size` that is empty, not an integer, zero or negative is a 400 naming it (DRF
    would silently use the default page size, or answer 404 "Invalid page"). A `page_size`
    above 500 is served as 500 (README "Decisions"), and a page past the last one is a 404,
    as in DRF. `page=last` is the last page, as in DRF.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(
        self,
        queryset: QuerySet[Any, _Row] | Sequence[_Row],
        request: Request,
        view: APIView | None = None,
    ) -> list[_Row] | None:
        if hasattr(queryset, "ordered") and not queryset.ordered:
            raise ImproperlyConfigured(
                f"{type(view).__name__ if view else 'view'} paginates an unordered queryset"
            )
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request: Request) -> int:
        name = self.page_size_query_param
        raw = query_value(request, name, f"an integer from 1 to {self.max_page_size}")
        if raw is None:
            return self.page_size
        return min(parse_int_value(name, raw, low=1), self.max_page_size)

    def get_page_number(self, request: Request, paginator: Paginator[Any]) -> int:
        name = self.page_query_param
        raw = query_value(request, name, "an integer from 1")
        if raw is None:
            return 1
        if raw.strip() in self.last_page_strings:
            return paginator.num_pages
        return parse_int_value(name, raw, low=1)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = (
                    "A page number, from 1 (a page past the last one is a 404)."
                )
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = (
                    f"Results per page, default {self.page_size}; a value above "
                    f"{self.max_page_size} is served as {self.max_page_size}."
                )
        return parameters
