"""Windows API routes. The computed answers use the contract's spellings (no trailing slash,
the only ones in the schema) and also answer with one, since clients add it out of habit."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.routers import SimpleRouter

from windows.api.views import (
    WindowOverrideViewSet,
    WindowSessionsView,
    WindowStatusView,
    WindowViewSet,
)


def _alias(view_class):
    """The same view under a second spelling, kept out of the schema."""
    return extend_schema(exclude=True)(type(f"{view_class.__name__}Alias", (view_class,), {}))


router = SimpleRouter(trailing_slash=True)
router.register("windows", WindowViewSet, basename="window")

urlpatterns = [
    path("windows/<str:code>/sessions", WindowSessionsView.as_view(), name="window-sessions"),
    path("windows/<str:code>/sessions/", _alias(WindowSessionsView).as_view()),
    path("windows/<str:code>/status", WindowStatusView.as_view(), name="window-status"),
    path("windows/<str:code>/status/", _alias(WindowStatusView).as_view()),
    path(
        "windows/<str:code>/overrides/",
        WindowOverrideViewSet.as_view({"get": "list", "post": "create"}),
        name="window-override-list",
    ),
    path(
        "windows/<str:code>/overrides/<str:date>/",
        WindowOverrideViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
        ),
        name="window-override-detail",
    ),
    *router.urls,
]
