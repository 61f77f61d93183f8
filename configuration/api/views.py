from __future__ import annotations

from cbpconfig.api.permissions import institution_scope
from cbpconfig.api.views import VersionedModelViewSet, versioned_schema
from configuration import services
from configuration.api.filters import InstitutionFilter
from configuration.api.serializers import InstitutionSerializer
from configuration.models import Institution


@versioned_schema("institution")
class InstitutionViewSet(VersionedModelViewSet):
    """Participants by BIC. An institution key sees only its own record."""

    serializer_class = InstitutionSerializer
    filterset_class = InstitutionFilter

    def get_queryset(self):
        queryset = Institution.objects.select_related("calendar").order_by("code")
        scope = institution_scope(self.request)
        if scope is not None:
            queryset = queryset.filter(pk=scope)
        return queryset

    def perform_create(self, serializer):
        return services.create_institution(data=serializer.validated_data)

    def perform_update(self, serializer, expected_version):
        return services.update_institution(
            institution=serializer.instance,
            data=serializer.validated_data,
            expected_version=expected_version,
        )

    def perform_destroy(self, instance, expected_version):
        services.delete_institution(institution=instance, expected_version=expected_version)
