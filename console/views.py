"""The console's own pages: home, an institution whole, the change log, an object's history,
the holiday import and the year view's clicks, and the as-you-type check of a value.

Each is wrapped by ``admin.site.admin_view`` in :mod:`console.urls` (staff log-in,
CSRF, never cached) and checks the model permission of what it shows or changes.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from calendars import holiday_catalog
from calendars import services as calendar_services
from calendars.forms import HolidaySourceForm
from calendars.models import Calendar, Holiday
from cbpconfig.console import history
from cbpconfig.dates import SUPPORTED_YEARS
from configuration.models import Configuration, Institution
from configuration.resolution import VALUE_TYPES, ConfigError, validate_schema, validate_value
from console.home import attention
from console.institution import BadInstant, overview, parse_at


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, **extra}


def _require(request: HttpRequest, *perms: str) -> None:
    if not request.user.has_perms(perms):
        raise PermissionDenied


def _choices(form: forms.Form, name: str, choices: list[tuple[str, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)  # noqa: S101 - declared so on the form
    field.choices = choices


# -- home -----------------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    """What needs attention, then the apps the user may open (Django's index below)."""
    context = _context(
        request,
        "What needs attention",
        app_list=admin.site.get_app_list(request),
        **attention(request.user),
    )
    request.current_app = admin.site.name
    return TemplateResponse(request, "admin/console/home.html", context)


# -- an institution whole -------------------------------------------------------------------


def institution_page(request: HttpRequest, code: str) -> HttpResponse:
    _require(request, "configuration.view_institution")
    institution = get_object_or_404(Institution.objects.select_related("calendar"), code=code)
    tz = ZoneInfo(institution.timezone)
    error = None
    try:
        at = parse_at(request.GET.get("at"), tz)
    except BadInstant as exc:
        at, error = None, str(exc)
    data = overview(institution, request.user, at)
    return TemplateResponse(
        request,
        "admin/console/institution.html",
        _context(
            request,
            f"{institution.code} — {institution.name}",
            at_error=error,
            at_input=data["at_local"].strftime("%Y-%m-%dT%H:%M"),
            # Formatted here: the template's date filter would show it in UTC again.
            at_local_text=data["at_local"].strftime("%Y-%m-%d %H:%M %Z"),
            change_url=reverse("admin:configuration_institution_change", args=[institution.pk]),
            history_url=reverse("admin:configuration_institution_history", args=[institution.pk]),
            changes_url=reverse("console:changes") + f"?institution={institution.code}",
            may_see_keys=request.user.has_perm("cbpconfig.view_apikey"),
            may_issue_keys=request.user.has_perm("cbpconfig.add_apikey"),
            **data,
        ),
    )


# -- history --------------------------------------------------------------------------------


class ChangeLogFilter(forms.Form):
    actor = forms.CharField(
        required=False, label="Actor", help_text="a user, api-key:NAME or system:COMMAND"
    )
    model = forms.ChoiceField(required=False, label="Object type")
    institution = forms.CharField(required=False, label="Institution (BIC)")
    action = forms.ChoiceField(
        required=False,
        choices=[
            ("", "any"),
            ("created", "created"),
            ("changed", "changed"),
            ("deleted", "deleted"),
        ],
    )
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "model", [("", "any"), *history.model_choices()])


def change_log(request: HttpRequest) -> HttpResponse:
    """Every change by anyone (API, console, commands, restore), filterable."""
    _require(request, "cbpconfig.view_auditentry")
    form = ChangeLogFilter(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v}
        if "institution" in filters:
            filters["institution"] = filters["institution"].strip().upper()
    page, entries = history.page_of(history.filtered_entries(**filters), request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return TemplateResponse(
        request,
        "admin/console/change_log.html",
        _context(
            request,
            "Change log",
            form=form,
            page=page,
            entries=entries,
            query=query.urlencode(),
        ),
    )


# -- calendars: the holiday import and the year view's clicks --------------------------------


class CalendarImportForm(HolidaySourceForm):
    """A country (by name, once each) and one of its subdivisions, or a financial market, and
    the years. Validated by the import service's own rules."""

    country = forms.ChoiceField(required=False)
    subdivision = forms.ChoiceField(required=False)
    market = forms.ChoiceField(required=False, label="or a financial market")

    def __init__(self, *args: Any, country: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "country", [("", "— choose a country —"), *holiday_catalog.countries()])
        self.fields["country"].widget.attrs["data-reload-on-change"] = "country"
        subdivisions = holiday_catalog.subdivisions(country) if country else ()
        _choices(
            self,
            "subdivision",
            [
                ("", "— the whole country —" if subdivisions else "— choose a country first —"),
                *subdivisions,
            ],
        )
        _choices(self, "market", [("", "— none —"), *holiday_catalog.markets()])


def calendar_import(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = get_object_or_404(Calendar, pk=pk)
    _require(request, "calendars.add_holiday")
    this_year = timezone.now().year
    if request.method == "POST":
        form = CalendarImportForm(request.POST, country=request.POST.get("country", ""))
        if form.is_valid():
            source = form.cleaned_data["source"]
            result = calendar_services.import_holidays(calendar=calendar, source=source)
            messages.success(
                request,
                f"{calendar.code}: {result.created} holidays created, {result.skipped} skipped "
                f"(already there) from {source.label}.",
            )
            year = min(source.years) if this_year not in source.years else this_year
            return HttpResponseRedirect(
                reverse("admin:calendars_calendar_year", args=[calendar.pk, year])
            )
    else:
        country = request.GET.get("country", "")
        form = CalendarImportForm(
            initial={
                "country": country,
                "years": request.GET.get("years") or f"{this_year}-{this_year + 2}",
            },
            country=country,
        )
    return TemplateResponse(
        request,
        "admin/console/calendar_import.html",
        _context(
            request,
            f"Import holidays into {calendar.code}",
            calendar=calendar,
            opts=Calendar._meta,
            form=form,
            change_url=reverse("admin:calendars_calendar_change", args=[calendar.pk]),
        ),
    )


def year_toggle(request: HttpRequest, pk: int, year: int) -> HttpResponse:
    """A click on a day of the year view: add a holiday there, or remove the one it has."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if year not in SUPPORTED_YEARS:
        raise Http404("No such year.")
    calendar = get_object_or_404(Calendar, pk=pk)
    back = reverse("admin:calendars_calendar_year", args=[calendar.pk, year])
    try:
        day = date.fromisoformat(request.POST.get("date", ""))
    except ValueError:
        messages.error(request, "Choose a day of the calendar.")
        return HttpResponseRedirect(back)
    existing = Holiday.objects.filter(calendar=calendar, date=day).first()
    try:
        if existing is not None:
            _require(request, "calendars.delete_holiday")
            calendar_services.delete_holiday(holiday=existing)
            messages.success(
                request, f"{day}: holiday {existing.name!r} removed from {calendar.code}."
            )
        else:
            _require(request, "calendars.add_holiday")
            name = (request.POST.get("name") or "").strip() or "Holiday"
            calendar_services.create_holiday(calendar=calendar, data={"date": day, "name": name})
            messages.success(request, f"{day}: holiday {name!r} added to {calendar.code}.")
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return HttpResponseRedirect(back)


# -- configuration values: checked as they are typed ----------------------------------------


def _check(raw: str, value_type: str, schema: dict[str, Any] | None) -> JsonResponse:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return JsonResponse({"ok": False, "error": "Not valid JSON yet."})
    try:
        validate_value(value_type, schema, value)
    except ConfigError as exc:
        return JsonResponse({"ok": False, "error": str(exc)})
    return JsonResponse({"ok": True, "error": None})


def check_value(request: HttpRequest, pk: int) -> HttpResponse:
    """POST ``{"value": "<JSON text>"}``: is it a valid value of configuration ``pk``? The
    answer of the same function the API and every save use."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    _require(request, "configuration.view_configuration")
    configuration = get_object_or_404(Configuration, pk=pk)
    return _check(request.POST.get("value", ""), configuration.value_type, configuration.schema)


def check_typed_value(request: HttpRequest) -> HttpResponse:
    """POST ``value``, ``value_type`` and ``schema`` (JSON text, may be empty) as a
    configuration's page holds them before it is saved: is the value valid for that type and
    schema? The schema is checked first, with the rules a save applies to it."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    _require(request, "configuration.view_configuration")
    value_type = request.POST.get("value_type", "")
    if value_type not in VALUE_TYPES:
        return JsonResponse({"ok": False, "error": "Choose the value type first."})
    schema_text = request.POST.get("schema", "").strip()
    try:
        parsed = json.loads(schema_text) if schema_text else None
    except (ValueError, RecursionError):
        return JsonResponse({"ok": False, "error": "The schema is not valid JSON yet."})
    try:
        schema = validate_schema(parsed)
    except (ConfigError, RecursionError) as exc:
        return JsonResponse({"ok": False, "error": f"The schema is refused: {exc}"})
    return _check(request.POST.get("value", ""), value_type, schema)
