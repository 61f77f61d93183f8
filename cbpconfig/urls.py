"""The entry point: knows every app's API urls and the operations endpoints."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from cbpconfig import health
from cbpconfig.api.schema import SwaggerUIView
from cbpconfig.metrics import metrics_view
from cbpconfig.views import landing, static_file

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
    path("", landing, name="landing"),
    re_path(r"^static/(?P<path>.+)$", static_file, name="static"),
    # The operations console's own pages (home, institution, change log...) before the admin's.
    path("admin/", include("console.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("ofrep/v1/", include("flags.api.ofrep_urls")),
    path("live", health.live, name="live"),
    path("ready", health.ready, name="ready"),
    path("health", health.HealthView.as_view(), name="health"),
    path("health/", health.HealthView.as_view()),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), so the
    # Content-Security-Policy needs no inline scripts.
    path("api/docs/", SwaggerUIView.as_view(url_name="schema"), name="api-docs"),
]

# Errors that never reach a DRF view answer JSON under /api/ and /ofrep/ (each family's own
# shape) and Django's pages elsewhere; CSRF_FAILURE_VIEW does the same for CSRF refusals.
handler400 = "cbpconfig.api.exceptions.bad_request"
handler403 = "cbpconfig.api.exceptions.permission_denied"
handler404 = "cbpconfig.api.exceptions.page_not_found"
handler500 = "cbpconfig.api.exceptions.server_error"

if settings.CBP_BENCH_ENDPOINTS:  # development only (refused elsewhere by the settings check)
    from cbpconfig.api.baseline import RedisGetView

    urlpatterns.append(path("bench/redis-get", RedisGetView.as_view(), name="bench-redis-get"))
