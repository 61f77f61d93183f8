"""The entry point: knows every app's API urls and the operations endpoints."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cbpconfig import health
from cbpconfig.metrics import metrics_view

# Django tries these in order; the apps with the hottest reads (window status, business
# days, flag evaluation) come first so resolving them walks fewer patterns.
api_v1 = [
    path("", include("windows.api.urls")),
    path("", include("calendars.api.urls")),
    path("", include("flags.api.urls")),
    path("", include("configuration.api.urls")),
    path("", include("cbpconfig.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("ofrep/v1/", include("flags.api.ofrep_urls")),
    path("live", health.live, name="live"),
    path("ready", health.ready, name="ready"),
    path("health", health.HealthView.as_view(), name="health"),
    path("health/", health.HealthView.as_view()),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

if settings.CBP_BENCH_ENDPOINTS:  # development only (refused elsewhere by the settings check)
    from cbpconfig.api.baseline import RedisGetView

    urlpatterns.append(path("bench/redis-get", RedisGetView.as_view(), name="bench-redis-get"))
