"""Shared view behaviour: versioned objects (ETag, If-Match, If-None-Match), the audit log."""

from __future__ import annotations

import django_filters
from auditlog import get_logentry_model
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from cbpconfig.api.etag import conditional_response, expected_version, version_etag
from cbpconfig.api.params import parse_datetime_value
from cbpconfig.api.serializers import AuditEntrySerializer

AuditEntry = get_logentry_model()

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='The version the change is based on, e.g. "3"; 412 if it is stale.',
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="An ETag the caller holds; 304 when it is still current.",
)


class VersionedModelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """CRUD over a versioned model where every write goes through a service.

    Subclasses name their services (`create_service`, `update_service`, `delete_service`
    and the keyword of the object, `service_object`) and the view does the rest.
    """

    lookup_field = "code"

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        data = self.get_serializer(instance).data
        return conditional_response(request, data, version_etag(instance.version))

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance = self.perform_create(serializer)
        response = Response(self.get_serializer(instance).data, status=status.HTTP_201_CREATED)
        response["ETag"] = version_etag(instance.version)
        return response

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        expected = expected_version(request)
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        instance = self.perform_update(serializer, expected)
        response = Response(self.get_serializer(instance).data)
        response["ETag"] = version_etag(instance.version)
        return response

    def destroy(self, request, *args, **kwargs):
        expected = expected_version(request)
        instance = self.get_object()
        self.perform_destroy(instance, expected)
        return Response(status=status.HTTP_204_NO_CONTENT)

    # The writes, declared by each viewset: `create_service(data=..., **service_create_kwargs())`,
    # `update_service(<service_object>=obj, data=..., expected_version=...)` and
    # `delete_service(<service_object>=obj, expected_version=...)`, wrapped in staticmethod.
    service_object: str = ""
    create_service = None
    update_service = None
    delete_service = None

    def service_data(self, serializer) -> dict:
        return serializer.validated_data

    def service_create_kwargs(self) -> dict:
        return {}

    def perform_create(self, serializer):
        return self.create_service(
            data=self.service_data(serializer), **self.service_create_kwargs()
        )

    def perform_update(self, serializer, expected_version):
        return self.update_service(
            **{self.service_object: serializer.instance},
            data=self.service_data(serializer),
            expected_version=expected_version,
        )

    def perform_destroy(self, instance, expected_version):
        self.delete_service(**{self.service_object: instance}, expected_version=expected_version)


def versioned_schema(name: str):
    """drf-spectacular annotations shared by every versioned viewset."""
    return extend_schema_view(
        list=extend_schema(summary=f"List {name}s"),
        retrieve=extend_schema(summary=f"Get one {name}", parameters=[IF_NONE_MATCH]),
        create=extend_schema(summary=f"Create a {name}"),
        update=extend_schema(summary=f"Replace a {name}", parameters=[IF_MATCH]),
        partial_update=extend_schema(summary=f"Change a {name}", parameters=[IF_MATCH]),
        destroy=extend_schema(summary=f"Delete a {name}", parameters=[IF_MATCH]),
    )


_ACTION_CODES = {"create": 0, "update": 1, "delete": 2}


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
        fields = []

    def filter_model(self, queryset, name, value):
        app_label, _, model = value.lower().partition(".")
        if not model:
            from cbpconfig.api.exceptions import reject

            raise reject("model", "Use app_label.model, e.g. calendars.holiday.")
        return queryset.filter(content_type__app_label=app_label, content_type__model=model)

    def filter_actor(self, queryset, name, value):
        return queryset.filter(
            Q(actor_name=value) | Q(actor_name__isnull=True, actor__username=value)
        )

    def filter_action(self, queryset, name, value):
        return queryset.filter(action=_ACTION_CODES[value])

    def filter_since(self, queryset, name, value):
        return queryset.filter(timestamp__gte=parse_datetime_value("since", value))

    def filter_until(self, queryset, name, value):
        return queryset.filter(timestamp__lt=parse_datetime_value("until", value))


@extend_schema_view(
    list=extend_schema(summary="List audit entries (platform keys and staff)"),
    retrieve=extend_schema(summary="Get one audit entry"),
)
class AuditLogViewSet(viewsets.ReadOnlyModelViewSet):
    """Every create, change and delete, newest first."""

    queryset = AuditEntry.objects.select_related("content_type", "actor").order_by(
        "-timestamp", "-id"
    )
    serializer_class = AuditEntrySerializer
    filterset_class = AuditLogFilter
    platform_only = True
