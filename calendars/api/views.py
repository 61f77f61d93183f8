"""Calendars API: calendars, holidays (by date), holiday import, the iCalendar feed and the
business-day answers. Views wire serializers, selectors, services and permissions only."""

from __future__ import annotations

import json
import re

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from calendars import metrics, selectors, services
from calendars.api.filters import HolidayFilter, parse_year
from calendars.api.serializers import (
    AddAnswerSerializer,
    AdjustAnswerSerializer,
    CalendarSerializer,
    CheckAnswerSerializer,
    CountAnswerSerializer,
    HolidayImportResultSerializer,
    HolidayImportSerializer,
    HolidaySerializer,
    ListAnswerSerializer,
    StepAnswerSerializer,
)
from calendars.businessdays import (
    CONVENTIONS,
    MAX_DAYS,
    MAX_LIST_SPAN_DAYS,
    ROLL_CONVENTIONS,
    BusinessDayError,
)
from calendars.ical import FeedHoliday, holidays_feed
from calendars.models import CALENDAR_CODE_PATTERN, Calendar, Holiday
from cbpconfig import ready
from cbpconfig.api.etag import conditional_response, digest_etag
from cbpconfig.api.exceptions import reject
from cbpconfig.api.params import (
    path_date,
    query_date,
    query_int,
    query_value,
)
from cbpconfig.api.renderers import dumps_plain
from cbpconfig.api.views import IF_MATCH, IF_NONE_MATCH, VersionedModelViewSet
from cbpconfig.dates import SUPPORTED_RANGE, SUPPORTED_YEARS

MAX_JOINT_CALENDARS = 10
_CODE = re.compile(CALENDAR_CODE_PATTERN)

CODE_PATH = OpenApiParameter(
    "code", OpenApiTypes.STR, OpenApiParameter.PATH, description="Calendar code, e.g. TARGET2."
)
DATE_PATH = OpenApiParameter(
    "date",
    OpenApiTypes.DATE,
    OpenApiParameter.PATH,
    description="The holiday's date (YYYY-MM-DD); immutable.",
)
CODES_PATH = OpenApiParameter(
    "codes",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description=(
        "One calendar code, or several joined with `+` (`TARGET2+USFED`) for the joint "
        f"calendar (a business day in every one); at most {MAX_JOINT_CALENDARS}."
    ),
)
FEED_FILTERS = [
    OpenApiParameter(
        "year",
        {"type": "integer", "minimum": SUPPORTED_YEARS.start, "maximum": SUPPORTED_YEARS[-1]},
        description=f"Only this year's holidays ({SUPPORTED_YEARS.start}..{SUPPORTED_YEARS[-1]}).",
    ),
    OpenApiParameter(
        "start",
        OpenApiTypes.DATE,
        description=f"Holidays on or after this date (within {SUPPORTED_RANGE}).",
    ),
    OpenApiParameter(
        "end",
        OpenApiTypes.DATE,
        description=f"Holidays on or before this date (within {SUPPORTED_RANGE}).",
    ),
]
ERRORS = {
    400: OpenApiResponse(description="Bad parameter (the body names it)"),
    404: OpenApiResponse(description="Unknown calendar code"),
}


# --- calendars -------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List calendars"),
    retrieve=extend_schema(summary="Get one calendar", parameters=[IF_NONE_MATCH]),
    create=extend_schema(summary="Create a calendar"),
    update=extend_schema(summary="Replace a calendar (code immutable)", parameters=[IF_MATCH]),
    partial_update=extend_schema(summary="Change a calendar", parameters=[IF_MATCH]),
    destroy=extend_schema(
        summary="Delete a calendar and its holidays (409 while windows or institutions use it)",
        parameters=[IF_MATCH],
    ),
)
class CalendarViewSet(VersionedModelViewSet):
    """Business calendars by code: shared reference data (institution keys may read)."""

    serializer_class = CalendarSerializer
    lookup_field = "code"

    def get_queryset(self):
        return selectors.calendars_with_holidays_until()

    service_object = "calendar"
    create_service = staticmethod(services.create_calendar)
    update_service = staticmethod(services.update_calendar)
    delete_service = staticmethod(services.delete_calendar)


# --- holidays --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List a calendar's holidays", parameters=[CODE_PATH]),
    retrieve=extend_schema(
        summary="Get one holiday", parameters=[CODE_PATH, DATE_PATH, IF_NONE_MATCH]
    ),
    create=extend_schema(summary="Add a holiday", parameters=[CODE_PATH]),
    update=extend_schema(
        summary="Replace a holiday (date immutable)", parameters=[CODE_PATH, DATE_PATH, IF_MATCH]
    ),
    partial_update=extend_schema(
        summary="Change a holiday", parameters=[CODE_PATH, DATE_PATH, IF_MATCH]
    ),
    destroy=extend_schema(summary="Delete a holiday", parameters=[CODE_PATH, DATE_PATH, IF_MATCH]),
)
class HolidayViewSet(VersionedModelViewSet):
    """A calendar's holidays, addressed by date. Filters: `year`, `start`, `end`."""

    serializer_class = HolidaySerializer
    filterset_class = HolidayFilter
    lookup_field = "date"
    write_permission = ("calendars", "holiday")

    def get_calendar(self) -> Calendar:
        if not hasattr(self, "_calendar"):
            self._calendar = get_object_or_404(Calendar, code=self.kwargs.get("code"))
        return self._calendar

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Holiday.objects.none()
        return (
            Holiday.objects.filter(calendar=self.get_calendar())
            .select_related("calendar")
            .order_by("date")
        )

    def get_object(self):
        raw = self.kwargs.get("date", "")
        day = path_date(raw)
        if day is None:
            raise Http404
        holiday = get_object_or_404(self.get_queryset(), date=day)
        self.check_object_permissions(self.request, holiday)
        return holiday

    service_object = "holiday"
    create_service = staticmethod(services.create_holiday)
    update_service = staticmethod(services.update_holiday)
    delete_service = staticmethod(services.delete_holiday)

    def service_create_kwargs(self):
        return {"calendar": self.get_calendar()}


class HolidayImportView(APIView):
    """Import holidays from the `holidays` package, by country (and subdivision) or by
    financial market. Idempotent: dates the calendar already has are kept."""

    write_permission = ("calendars", "holiday")

    @extend_schema(
        summary="Import holidays from the holidays package",
        description=(
            '`{"country": "US", "subdivision": null, "years": [2026, 2027]}` or '
            '`{"market": "ECB", "years": [2026]}` (ECB is TARGET2). Years span at most 50. '
            "Each created holiday has `source` `holidays:<COUNTRY>`, "
            "`holidays:<COUNTRY>-<SUBDIVISION>` or `holidays:<MARKET>`; several names on one "
            'date are joined with "; ". Needs write permission (a platform write key, or '
            "staff with calendars.add_holiday)."
        ),
        parameters=[CODE_PATH],
        request=HolidayImportSerializer,
        responses={200: HolidayImportResultSerializer, **ERRORS},
    )
    def post(self, request, code):
        calendar = get_object_or_404(Calendar, code=code)
        serializer = HolidayImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        source = services.holiday_source(**serializer.validated_data)
        result = services.import_holidays(calendar=calendar, source=source)
        return Response({"created": result.created, "skipped": result.skipped})


class ICalendarRenderer(BaseRenderer):
    """`text/calendar`: the feed view returns the document itself; errors render as JSON."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | str):
            return data
        return json.dumps(data).encode()


class HolidayFeedView(APIView):
    """The holidays as an RFC 5545 feed: one all-day VEVENT per holiday, stable UIDs. Errors
    are JSON (application/json), whatever format was asked for."""

    renderer_classes = [JSONRenderer, ICalendarRenderer]

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        summary="The holidays as an iCalendar feed (text/calendar)",
        operation_id="api_v1_calendars_holidays_ics",
        parameters=[CODE_PATH, IF_NONE_MATCH, *FEED_FILTERS],
        responses={
            (200, "text/calendar"): OpenApiResponse(
                OpenApiTypes.STR, description="VCALENDAR with one all-day VEVENT per holiday"
            ),
            304: OpenApiResponse(description="Not modified"),
            **ERRORS,
        },
    )
    def get(self, request, code):
        calendar = get_object_or_404(Calendar, code=code)
        query_value(request, "format", "ics or json")  # negotiation ignores an empty one
        raw_year = query_value(request, "year", "a year such as 2026")
        year = parse_year(raw_year) if raw_year is not None else None
        start = query_date(request, "start", required=False)
        end = query_date(request, "end", required=False)
        # Name and timezone changes bump data_version too, so the token covers the document.
        etag = digest_etag("ics", selectors.calendar_data_version(calendar), year, start, end)

        def feed():
            rows = selectors.holidays_of(calendar, year=year, start=start, end=end).values_list(
                "date", "name", "source", "version", "updated_at"
            )
            body = holidays_feed(
                code=calendar.code,
                name=calendar.name,
                timezone=calendar.timezone,
                holidays=(FeedHoliday(*row) for row in rows),
            )
            response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
            response["Content-Disposition"] = f'inline; filename="{calendar.code}-holidays.ics"'
            return response

        return conditional_response(request, etag, feed)


# --- business days ---------------------------------------------------------------------------


def resolve_calendar(codes: str):
    """`TARGET2` or `TARGET2+USFED` → (BusinessCalendar, version token); 404 if unknown."""
    parts = codes.split("+")
    if len(parts) > MAX_JOINT_CALENDARS:
        raise reject("codes", f"At most {MAX_JOINT_CALENDARS} calendars may be joined.")
    for part in parts:
        if not _CODE.match(part):
            raise NotFound(f"Unknown calendar: {part or '(empty)'}.")
    try:
        return selectors.business_calendar(parts)
    except selectors.CalendarNotFound as exc:
        raise NotFound(f"Unknown calendar: {', '.join(exc.codes)}.") from None


def query_convention(request, allowed) -> str:
    # Absent: `following`. Present but empty is a 400 like every other parameter's (the schema's
    # enum has no ""), never a silent default.
    raw = query_value(request, "convention", f"one of: {', '.join(allowed)}")
    if raw is None:
        return "following"
    if raw not in allowed:
        raise reject("convention", f"{raw!r} is not one of: {', '.join(allowed)}.")
    return raw


class BusinessDayView(APIView):
    """Shared flow: count the request, resolve the calendar (one cache round trip when warm),
    parse the parameters (400 naming a bad one), answer 304 when If-None-Match holds the ETag
    (derived from the version token and the parameters), else compute in process."""

    operation = ""
    # The answers are JSON only: skipping the browsable renderer keeps negotiation cheap.
    renderer_classes = [JSONRenderer]
    # Which parameter a failure of the computation (e.g. a result outside the supported
    # range) is reported under.
    error_field = "date"

    def params(self, request) -> tuple:  # pragma: no cover - subclasses implement
        raise NotImplementedError

    def answer(self, cal, *params) -> dict:  # pragma: no cover - subclasses implement
        raise NotImplementedError

    def get(self, request, codes):
        metrics.businessday_request(self.operation)
        cal, token = resolve_calendar(codes)
        params = self.params(request)
        etag = digest_etag(token, self.operation, *params)
        # A function of the calendars' tokens and the parameters: kept (cbpconfig.ready).
        ready.keep(lambda: metrics.businessday_request(self.operation))

        def answer():
            try:
                data = self.answer(cal, *params)
            except BusinessDayError as exc:
                # A joint calendar whose weekends cover the whole week has no business day at
                # all: the calendars named are the problem, not a parameter.
                field = "codes" if cal.busdaycal is None else self.error_field
                raise reject(field, str(exc)) from None
            # The answer holds strings, ints, bools and lists of them (never a float): encode it
            # directly rather than through DRF's renderer machinery (measurably cheaper on the
            # hot path, most of all for long lists; the bytes are what JSONRenderer produces).
            body = dumps_plain(data)
            return HttpResponse(
                body if body is not None else _encode(data), content_type="application/json"
            )

        return conditional_response(request, etag, answer)


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _bd_schema(summary, parameters, answer, description=""):
    return extend_schema(
        summary=summary,
        description=description,
        parameters=[CODES_PATH, *parameters, IF_NONE_MATCH],
        responses={200: answer, 304: OpenApiResponse(description="Not modified"), **ERRORS},
    )


DATE_Q = OpenApiParameter("date", OpenApiTypes.DATE, required=True, description="YYYY-MM-DD")
START_Q = OpenApiParameter("start", OpenApiTypes.DATE, required=True, description="YYYY-MM-DD")
END_Q = OpenApiParameter("end", OpenApiTypes.DATE, required=True, description="YYYY-MM-DD")
DAYS_Q = OpenApiParameter(
    "days",
    {"type": "integer", "minimum": -MAX_DAYS, "maximum": MAX_DAYS},
    required=True,
    description=f"Business days to move, {-MAX_DAYS}..{MAX_DAYS}.",
)
ROLL_Q = OpenApiParameter(
    "convention",
    OpenApiTypes.STR,
    enum=list(ROLL_CONVENTIONS),
    description="Roll applied to `date` first (numpy roll); default `following`.",
)
ADJUST_Q = OpenApiParameter(
    "convention",
    OpenApiTypes.STR,
    enum=list(CONVENTIONS),
    description="ISDA convention; default `following`; `unadjusted` returns the date itself.",
)


class CheckView(BusinessDayView):
    operation = "check"

    @_bd_schema("Is the date a business day (and if not, why)?", [DATE_Q], CheckAnswerSerializer)
    def get(self, request, codes):
        return super().get(request, codes)

    def params(self, request):
        return (query_date(request, "date"),)

    def answer(self, cal, day):
        is_business_day, reasons = cal.check(day)
        return {"date": day.isoformat(), "is_business_day": is_business_day, "reasons": reasons}


class AddView(BusinessDayView):
    operation = "add"
    error_field = "days"

    @_bd_schema(
        "Move a date by business days",
        [DATE_Q, DAYS_Q, ROLL_Q],
        AddAnswerSerializer,
        "`numpy.busday_offset(date, days, roll=R)`: the date is first rolled by the "
        f"convention, then moved. A result outside {SUPPORTED_RANGE} is a 400.",
    )
    def get(self, request, codes):
        return super().get(request, codes)

    def params(self, request):
        return (
            query_date(request, "date"),
            query_int(request, "days", low=-MAX_DAYS, high=MAX_DAYS),
            query_convention(request, tuple(ROLL_CONVENTIONS)),
        )

    def answer(self, cal, day, days, convention):
        result = cal.add(day, days, convention)
        return {
            "date": day.isoformat(),
            "days": days,
            "convention": convention,
            "result": result.isoformat(),
        }


class AdjustView(BusinessDayView):
    operation = "adjust"

    @_bd_schema(
        "Roll a date to a business day by a convention",
        [DATE_Q, ADJUST_Q],
        AdjustAnswerSerializer,
    )
    def get(self, request, codes):
        return super().get(request, codes)

    def params(self, request):
        return (query_date(request, "date"), query_convention(request, CONVENTIONS))

    def answer(self, cal, day, convention):
        result = cal.adjust(day, convention)
        return {"date": day.isoformat(), "convention": convention, "result": result.isoformat()}


class StepView(BusinessDayView):
    """One step to the neighbouring business day: `operation` names the calendar's method
    (`next` or `previous`)."""

    def params(self, request):
        return (query_date(request, "date"),)

    def answer(self, cal, day):
        return {"date": day.isoformat(), "result": getattr(cal, self.operation)(day).isoformat()}


class NextView(StepView):
    operation = "next"

    @_bd_schema("The first business day strictly after the date", [DATE_Q], StepAnswerSerializer)
    def get(self, request, codes):
        return super().get(request, codes)


class PreviousView(StepView):
    operation = "previous"

    @_bd_schema("The last business day strictly before the date", [DATE_Q], StepAnswerSerializer)
    def get(self, request, codes):
        return super().get(request, codes)


class CountView(BusinessDayView):
    operation = "count"
    error_field = "end"

    @_bd_schema(
        "Count business days in [start, end)",
        [START_Q, END_Q],
        CountAnswerSerializer,
        "`numpy.busday_count(start, end)`: negative when end < start.",
    )
    def get(self, request, codes):
        return super().get(request, codes)

    def params(self, request):
        return (query_date(request, "start"), query_date(request, "end"))

    def answer(self, cal, start, end):
        return {"start": start.isoformat(), "end": end.isoformat(), "count": cal.count(start, end)}


class ListView(BusinessDayView):
    operation = "list"
    error_field = "end"

    @_bd_schema(
        "List the business days in [start, end]",
        [START_Q, END_Q],
        ListAnswerSerializer,
        f"Inclusive of both ends; the span may be at most {MAX_LIST_SPAN_DAYS} days.",
    )
    def get(self, request, codes):
        return super().get(request, codes)

    def params(self, request):
        start = query_date(request, "start")
        end = query_date(request, "end")
        if end < start:
            raise reject("end", f"end {end} is before start {start}.")
        if (end - start).days > MAX_LIST_SPAN_DAYS:
            raise reject(
                "end",
                f"The span from {start} to {end} is {(end - start).days} days; "
                f"at most {MAX_LIST_SPAN_DAYS} are allowed.",
            )
        return start, end

    def answer(self, cal, start, end):
        return {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "business_days": [d.isoformat() for d in cal.list(start, end)],
        }


def alias(view_class):
    """The same view under a second spelling (trailing slash), kept out of the schema."""
    return extend_schema(exclude=True)(type(f"{view_class.__name__}Alias", (view_class,), {}))
