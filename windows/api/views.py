"""Processing windows, their overrides, and the computed answers (sessions, status).

The computed endpoints are hot reads: they never touch the database when warm. The window's
compiled schedule comes from :func:`windows.selectors.compiled_window` (one cache round trip),
the ETag from the versions the answer was computed from, and a 304 costs no computation.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.views import APIView

from cbpconfig import ready
from cbpconfig.api.etag import conditional_response, digest_etag
from cbpconfig.api.exceptions import reject
from cbpconfig.api.params import path_date, query_date, query_datetime
from cbpconfig.api.permissions import institution_scope
from cbpconfig.api.renderers import FastJSONRenderer
from cbpconfig.api.views import IF_MATCH, IF_NONE_MATCH, VersionedModelViewSet, versioned_schema
from windows import metrics, services
from windows.api.filters import WindowFilter
from windows.api.serializers import (
    OverrideSerializer,
    SessionsAnswerSerializer,
    StatusAnswerSerializer,
    WindowSerializer,
)
from windows.models import ProcessingWindow, WindowOverride
from windows.scheduling import MAX_SESSION_SPAN_DAYS, ScheduleError
from windows.selectors import compiled_window, overrides_of, visible_windows

CODE = OpenApiParameter(
    "code", OpenApiTypes.STR, OpenApiParameter.PATH, description="The window's code."
)
DATE = OpenApiParameter(
    "date", OpenApiTypes.DATE, OpenApiParameter.PATH, description="The override's date."
)


@versioned_schema("window")
class WindowViewSet(VersionedModelViewSet):
    """Processing windows with their weekly rules (`sessions`). An institution key sees the
    platform-wide windows and its own."""

    serializer_class = WindowSerializer
    filterset_class = WindowFilter
    lookup_field = "code"

    def get_queryset(self):
        return visible_windows(institution_scope(self.request))

    service_object = "window"
    create_service = staticmethod(services.create_window)
    update_service = staticmethod(services.update_window)
    delete_service = staticmethod(services.delete_window)


def _override_schema():
    return extend_schema_view(
        list=extend_schema(summary="List a window's overrides", parameters=[CODE]),
        create=extend_schema(summary="Create an override of one date", parameters=[CODE]),
        retrieve=extend_schema(summary="Get one override", parameters=[CODE, DATE, IF_NONE_MATCH]),
        update=extend_schema(summary="Replace an override", parameters=[CODE, DATE, IF_MATCH]),
        partial_update=extend_schema(
            summary="Change an override", parameters=[CODE, DATE, IF_MATCH]
        ),
        destroy=extend_schema(summary="Delete an override", parameters=[CODE, DATE, IF_MATCH]),
    )


@_override_schema()
class WindowOverrideViewSet(VersionedModelViewSet):
    """The overrides of one window, by date: each replaces the regular sessions of its date."""

    serializer_class = OverrideSerializer
    lookup_field = "date"
    queryset = WindowOverride.objects.none()  # the schema's model; get_queryset scopes

    def get_window(self) -> ProcessingWindow:
        window = getattr(self, "_window", None)
        if window is None:
            code = self.kwargs.get("code")
            window = (
                visible_windows(institution_scope(self.request))
                .prefetch_related(None)
                .filter(code=code)
                .first()
            )
            if window is None:
                raise NotFound(f"No window {code}.")
            self._window = window
        return window

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WindowOverride.objects.none()
        return overrides_of(self.get_window()).select_related("window")

    def get_object(self):
        raw = self.kwargs.get("date", "")
        day = path_date(raw)
        if day is None:
            raise NotFound(f"No override on {raw!r} (dates are YYYY-MM-DD).")
        obj = self.get_queryset().filter(date=day).first()
        if obj is None:
            raise NotFound(f"No override on {raw}.")
        self.check_object_permissions(self.request, obj)
        return obj

    service_object = "override"
    create_service = staticmethod(services.create_override)
    update_service = staticmethod(services.update_override)
    delete_service = staticmethod(services.delete_override)

    def service_create_kwargs(self):
        return {"window": self.get_window()}


def _compiled(request, code):
    try:
        return compiled_window(code, institution_id=institution_scope(request))
    except ProcessingWindow.DoesNotExist:
        raise NotFound(f"No window {code}.") from None


class WindowSessionsView(APIView):
    """Sessions of a window by business date."""

    # Up to 366 days of sessions: strings and ints only, so orjson renders them (same bytes).
    renderer_classes = [FastJSONRenderer, BrowsableAPIRenderer]

    @extend_schema(
        summary="Sessions of business dates in [start, end]",
        description=(
            "Every session whose business date lies in [start, end] (span at most 366 days), "
            "ordered by opens_at. ETag and If-None-Match (304) supported."
        ),
        parameters=[
            CODE,
            OpenApiParameter("start", OpenApiTypes.DATE, required=True),
            OpenApiParameter("end", OpenApiTypes.DATE, required=True),
            IF_NONE_MATCH,
        ],
        responses={200: SessionsAnswerSerializer, 304: None},
    )
    def get(self, request, code):
        compiled = _compiled(request, code)
        start = query_date(request, "start")
        end = query_date(request, "end")
        if end < start:
            raise reject("end", "end must not be before start.")
        if (end - start).days > MAX_SESSION_SPAN_DAYS:
            raise reject(
                "end", f"The span from start to end is at most {MAX_SESSION_SPAN_DAYS} days."
            )
        metrics.SESSIONS_REQUESTS.inc()
        etag = digest_etag(
            "sessions", code, compiled.state.token, compiled.calendar_token, start, end
        )
        ready.keep(metrics.SESSIONS_REQUESTS.inc)  # a function of the window, calendar, dates

        def answer():
            schedule = compiled.schedule
            try:
                sessions = schedule.sessions_between(start, end)
            except ScheduleError as exc:
                raise reject("start", str(exc)) from None
            return {
                "window": compiled.state.code,
                "timezone": schedule.spec.timezone,
                "sessions": [schedule.session_to_dict(s) for s in sessions],
            }

        return conditional_response(request, etag, answer)


class WindowStatusView(APIView):
    """Whether a window is open at an instant, and its current and next sessions."""

    @extend_schema(
        summary="Status of a window at an instant",
        description=(
            "`at` defaults to now and must carry Z or an offset. `processing_date` is the "
            "business date a payment submitted at `at` is processed on. ETag and "
            "If-None-Match (304) supported."
        ),
        parameters=[
            CODE,
            OpenApiParameter("at", OpenApiTypes.DATETIME, description="Default: now."),
            IF_NONE_MATCH,
        ],
        responses={200: StatusAnswerSerializer, 304: None},
    )
    def get(self, request, code):
        metrics.STATUS_REQUESTS.inc()
        compiled = _compiled(request, code)
        at = query_datetime(request, "at")
        if "at" not in request.query_params or not request.query_params["at"]:
            at = at.replace(microsecond=0)  # "now": one ETag per second
        else:
            ready.keep(metrics.STATUS_REQUESTS.inc)  # a fixed instant: kept (cbpconfig.ready)
        etag = digest_etag("status", code, compiled.state.token, compiled.calendar_token, at)

        def answer():
            schedule = compiled.schedule
            try:
                status = schedule.status(at)
            except ScheduleError as exc:
                raise reject("at", str(exc)) from None
            if status.decided_by_override:
                metrics.OVERRIDE_DECISIONS.inc()
                ready.replay(metrics.OVERRIDE_DECISIONS.inc)
            return schedule.status_to_dict(status)

        return conditional_response(request, etag, answer)
