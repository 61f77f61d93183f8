"""Shared view behaviour: versioned objects (ETag, If-Match, If-None-Match), the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import django_filters
from auditlog import get_logentry_model
from django.db.models import Q, QuerySet
from django.http import HttpResponseBase
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from cbpconfig.api.etag import conditional_response, expected_version, version_etag
from cbpconfig.api.params import parse_datetime_value, query_value
from cbpconfig.api.schema import IF_MATCH, IF_NONE_MATCH, VersionedAutoSchema
from cbpconfig.api.serializers import AuditEntrySerializer

AuditEntry = get_logentry_model()

_UPDATES = ("update", "partial_update")

_F = TypeVar("_F", bound=Callable[..., Any])


class VersionedModelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Any],
):
    """CRUD over a versioned model where every write goes through a service.

    Subclasses name their services (`create_service`, `update_service`, `delete_service`
    and the keyword of the object, `service_object`) and the view does the rest.

    Conditional requests: reads of one object send `ETag: "<version>"` and answer 304 to
    `If-None-Match`; PUT, PATCH and DELETE honour `If-Match` (412 when stale, or not a
    version). As HTTP orders them (RFC 9110, 13.2.1-2), the normal checks come first: an
    object that does not exist is a 404 and a bad body a 400 before `If-Match` is looked at
    (the version itself is compared under the service's row lock).

    The serializer's `immutable_fields` are not required on update (the object is addressed
    by the URL; sent, they must equal the current value). `VersionedAutoSchema` documents all
    of this; the common error responses come from `cbpconfig.api.schema`.
    """

    lookup_field = "code"
    schema = VersionedAutoSchema()

    def get_serializer(self, *args: Any, **kwargs: Any) -> BaseSerializer[Any]:
        serializer = super().get_serializer(*args, **kwargs)
        if self.action in _UPDATES and isinstance(serializer, serializers.Serializer):
            for name in getattr(serializer, "immutable_fields", ()):
                if name in serializer.fields:
                    serializer.fields[name].required = False
        return serializer

    def retrieve(  # type: ignore[override]  # a 304 is no DRF Response; DRF accepts any
        self, request: Request, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        instance = self.get_object()
        return conditional_response(
            request, version_etag(instance.version), lambda: self.get_serializer(instance).data
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance = self.perform_create(serializer)
        response = Response(self.get_serializer(instance).data, status=status.HTTP_201_CREATED)
        response["ETag"] = version_etag(instance.version)
        return response

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        instance = self.perform_versioned_update(serializer, expected_version(request))
        response = Response(self.get_serializer(instance).data)
        response["ETag"] = version_etag(instance.version)
        return response

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        self.perform_versioned_destroy(instance, expected_version(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    # The writes, declared by each viewset: `create_service(data=..., **service_create_kwargs())`,
    # `update_service(<service_object>=obj, data=..., expected_version=...)` and
    # `delete_service(<service_object>=obj, expected_version=...)`, wrapped in staticmethod.
    # Declared, not defined: a viewset without one fails on the write it cannot do.
    service_object: str = ""
    create_service: Callable[..., Any]
    update_service: Callable[..., Any]
    delete_service: Callable[..., None]

    def service_data(self, serializer: BaseSerializer[Any]) -> dict[str, Any]:
        """The validated data in the service's shape: the serializer's ``to_service_data()``
        where its fields differ from the service's keywords, else its ``validated_data``."""
        to_service_data = getattr(serializer, "to_service_data", None)
        if to_service_data is not None:
            shaped: dict[str, Any] = to_service_data()
            return shaped
        data: dict[str, Any] = serializer.validated_data
        return data

    def service_create_kwargs(self) -> dict[str, Any]:
        return {}

    def perform_create(self, serializer: BaseSerializer[Any]) -> Any:
        return self.create_service(
            data=self.service_data(serializer), **self.service_create_kwargs()
        )

    def perform_versioned_update(
        self, serializer: BaseSerializer[Any], expected_version: int | None
    ) -> Any:
        return self.update_service(
            **{self.service_object: serializer.instance},
            data=self.service_data(serializer),
            expected_version=expected_version,
        )

    def perform_versioned_destroy(self, instance: Any, expected_version: int | None) -> None:
        self.delete_service(**{self.service_object: instance}, expected_version=expected_version)


def versioned_schema(name: str) -> Callable[[_F], _F]:
    """The summaries of a versioned viewset's operations (the conditional headers and common
    responses are documented by `VersionedAutoSchema` and the schema hook)."""
    return extend_schema_view(
        list=extend_schema(summary=f"List {name}s"),
        retrieve=extend_schema(summary=f"Get one {name}"),
        create=extend_schema(summary=f"Create a {name}"),
        update=extend_schema(summary=f"Replace a {name}"),
        partial_update=extend_schema(summary=f"Change a {name}"),
        destroy=extend_schema(summary=f"Delete a {name}"),
    )


_ACTION_CODES = {"create": 0, "update": 1, "delete": 2}
_TYPED_FILTERS = {
    "model": "app_label.model, e.g. calendars.holiday",
    "action": "create, update or delete",
    "since": "a date-time such as 2026-12-24T13:00:00Z",
    "until": "a date-time such as 2026-12-24T13:00:00Z",
}
_DATETIME_FILTER = {
    "type": "string",
    "format": "date-time",
    "description": "RFC 3339 date-time with Z or offset",
}


class AuditLogFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(
        method="filter_model", help_text="app_label.model, e.g. calendars.holiday"
    )
    object_pk = django_filters.CharFilter()
    actor = django_filters.CharFilter(
        method="filter_actor", help_text="user name, api-key:<name> or system:<command>"
    )
    action = django_filters.ChoiceFilter(
        method="filter_action", choices=[(a, a) for a in _ACTION_CODES]
    )
    since = django_filters.CharFilter(
        method="filter_since", help_text="RFC 3339 date-time with Z or offset"
    )
    until = django_filters.CharFilter(
        method="filter_until", help_text="RFC 3339 date-time with Z or offset"
    )
    request_id = django_filters.CharFilter(field_name="cid")

    class Meta:
        model = AuditEntry
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # django-filter skips an empty value; an empty typed parameter is a 400 like any other.
        if self.request is not None:
            for name, expected in _TYPED_FILTERS.items():
                # django-filter is handed DRF's request (typed as Django's).
                query_value(cast("Request", self.request), name, expected)
        return super().filter_queryset(queryset)

    @extend_schema_field(
        {
            "type": "string",
            "pattern": r"^[^.]*\..+$",
            "description": "app_label.model, e.g. calendars.holiday",
        }
    )
    def filter_model(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        app_label, _, model = value.lower().partition(".")
        if not model:
            from cbpconfig.api.exceptions import reject

            raise reject("model", "Use app_label.model, e.g. calendars.holiday.")
        return queryset.filter(content_type__app_label=app_label, content_type__model=model)

    def filter_actor(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(
            Q(actor_name=value) | Q(actor_name__isnull=True, actor__username=value)
        )

    @extend_schema_field({"type": "string", "enum": list(_ACTION_CODES)})
    def filter_action(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(action=_ACTION_CODES[value])

    @extend_schema_field(_DATETIME_FILTER)
    def filter_since(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(timestamp__gte=parse_datetime_value("since", value))

    @extend_schema_field(_DATETIME_FILTER)
    def filter_until(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(timestamp__lt=parse_datetime_value("until", value))


@extend_schema_view(
    list=extend_schema(summary="List audit entries (platform keys and staff)"),
    retrieve=extend_schema(summary="Get one audit entry"),
)
class AuditLogViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    """Every create, change and delete, newest first."""

    queryset = AuditEntry.objects.select_related("content_type", "actor").order_by(
        "-timestamp", "-id"
    )
    serializer_class = AuditEntrySerializer
    filterset_class = AuditLogFilter
    platform_only = True


__all__ = [
    "IF_MATCH",
    "IF_NONE_MATCH",
    "AuditLogViewSet",
    "VersionedModelViewSet",
    "versioned_schema",
]
