from django.urls import path
from rest_framework.routers import SimpleRouter

from configuration.api.views import (
    ConfigurationResolveView,
    ConfigurationValueViewSet,
    ConfigurationViewSet,
    InstitutionConfigurationView,
    InstitutionViewSet,
)

router = SimpleRouter(trailing_slash=True)
router.register("institutions", InstitutionViewSet, basename="institution")
router.register("configurations", ConfigurationViewSet, basename="configuration")
router.register(
    r"configurations/(?P<configuration_key>[^/]+)/values",
    ConfigurationValueViewSet,
    basename="configuration-value",
)


class _InstitutionConfigurationSlash(InstitutionConfigurationView):
    schema = None  # same endpoint with a trailing slash: accepted, not documented twice


class _ConfigurationResolveSlash(ConfigurationResolveView):
    schema = None


# The computed answers are addressed without a trailing slash, as the contract spells them.
urlpatterns = [
    path(
        "institutions/<str:code>/configuration",
        InstitutionConfigurationView.as_view(),
        name="institution-configuration",
    ),
    path("institutions/<str:code>/configuration/", _InstitutionConfigurationSlash.as_view()),
    path(
        "configurations/<str:key>/resolve",
        ConfigurationResolveView.as_view(),
        name="configuration-resolve",
    ),
    path("configurations/<str:key>/resolve/", _ConfigurationResolveSlash.as_view()),
    *router.urls,
]
