"""The landing page at ``/``: where a person who has just started the service goes next."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe


@require_safe
def landing(request: HttpRequest) -> TemplateResponse:
    """Links to the console, the API documentation and health; no data, no log-in."""
    return TemplateResponse(
        request,
        "landing.html",
        {"environment": settings.CBP_ENVIRONMENT, "release": settings.CBP_RELEASE},
    )


@require_safe
def static_file(request: HttpRequest, path: str) -> HttpResponseBase:
    """The console's and the API documentation's static files, served by the application
    itself (gunicorn serves nothing else; no proxy or CDN is required). Files come from the
    installed apps' static folders through Django's finders (never outside them), with
    Last-Modified and an hour of caching."""
    from django.contrib.staticfiles.views import serve

    response = serve(request, path, insecure=True)
    response["Cache-Control"] = "public, max-age=3600"
    return response
