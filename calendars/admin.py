"""Admin for calendars and holidays: every save goes through the services (inline holidays
too), with history per object, an import action and a year view of weekends and holidays."""

from __future__ import annotations

import calendar as pycalendar
from datetime import date

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.forms.models import BaseInlineFormSet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from calendars import holiday_catalog, selectors, services
from calendars.businessdays import BusinessCalendar
from calendars.forms import HolidaySourceForm
from calendars.models import Calendar, Holiday
from cbpconfig.admin import ServiceModelAdmin, VersionedAdminForm
from cbpconfig.console.widgets import WeekdayCheckboxes
from cbpconfig.dates import SUPPORTED_YEARS, WEEKDAY_ABBREVIATIONS

# --- holidays inline -------------------------------------------------------------------------


class HolidayInlineForm(VersionedAdminForm):
    class Meta:
        model = Holiday
        fields = ["date", "name"]

    def clean_date(self):
        day = self.cleaned_data.get("date")
        if self.instance.pk and day is not None and day != self.instance.date:
            raise ValidationError(
                "A holiday's date is immutable: delete this row and add the new date."
            )
        return day


class HolidayInlineFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        # Refuse a date the calendar already has here, with a message, rather than let the
        # database refuse it later.
        seen: set[date] = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            day = form.cleaned_data.get("date")
            if day is None:
                continue
            if day in seen:
                form.add_error("date", f"{day} is listed twice.")
            seen.add(day)
            if (
                not form.instance.pk
                and self.instance.pk
                and Holiday.objects.filter(calendar=self.instance, date=day).exists()
            ):
                form.add_error("date", f"The calendar already has a holiday on {day}.")


class HolidayInline(admin.TabularInline):
    model = Holiday
    form = HolidayInlineForm
    formset = HolidayInlineFormSet
    fields = ["date", "name", "source", "version", "expected_version"]
    readonly_fields = ["source", "version"]
    ordering = ["date"]
    extra = 1


# --- import action ---------------------------------------------------------------------------


def _choices(codes) -> list[tuple[str, str]]:
    return [("", "---------")] + [(c, c) for c in sorted(codes)]


class HolidayImportForm(HolidaySourceForm):
    """Either a country (optionally a subdivision) or a financial market, and years."""

    country = forms.ChoiceField(required=False, help_text="ISO country code, e.g. US or DE.")
    subdivision = forms.CharField(
        required=False, max_length=64, help_text="Optional, e.g. CA for California."
    )
    market = forms.ChoiceField(
        required=False, help_text="Financial market: ECB is TARGET2, NYSE, ..."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Countries by name, once each (the package also lists GBR and UK for GB).
        self.fields["country"].choices = [("", "---------"), *holiday_catalog.countries()]
        self.fields["market"].choices = [("", "---------"), *holiday_catalog.markets()]


# --- calendars -------------------------------------------------------------------------------


class CalendarAdminForm(VersionedAdminForm):
    class Meta:
        model = Calendar
        fields = ["code", "name", "timezone", "weekend_days", "description"]
        help_texts = {
            "weekend_days": "The days that are never business days; none ticked for a "
            "calendar open every day (TIPS, FedNow)."
        }
        widgets = {"weekend_days": WeekdayCheckboxes()}

    def clean_weekend_days(self):
        value = self.cleaned_data.get("weekend_days")
        if value is None:
            # An empty box parses as null: say what "no weekend" is spelt as.
            raise ValidationError(
                "Enter the weekend as a JSON list, e.g. [6, 7]; [] for a calendar open every day."
            )
        return value


@admin.register(Calendar)
class CalendarAdmin(ServiceModelAdmin):
    form = CalendarAdminForm
    list_display = ["code", "name", "timezone", "weekend_days", "holidays_until", "version"]
    list_filter = ["timezone"]
    search_fields = ["code", "name", "description"]
    ordering = ["code"]
    inlines = [HolidayInline]
    actions = ["import_holidays"]
    change_form_template = "admin/calendars/calendar/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        fields = [*super().get_readonly_fields(request, obj), "year_view"]
        return [*fields, "code"] if obj is not None else fields

    def get_fields(self, request, obj=None):
        fields = ["code", "name", "timezone", "weekend_days", "description"]
        if obj is not None:
            fields += ["year_view", "version", "created_at", "updated_at"]
        # The hidden version the form was opened at (VersionedAdminForm's stale-save check).
        return [*fields, "expected_version"]

    def get_queryset(self, request):
        return selectors.calendars_with_holidays_until()

    @admin.display(description="holidays until", ordering="last_holiday")
    def holidays_until(self, obj):
        return selectors.holidays_until(obj)

    @admin.display(description="year view")
    def year_view(self, obj):
        if obj is None or not obj.pk:
            return "-"
        year = timezone.now().year
        url = reverse("admin:calendars_calendar_year", args=[obj.pk, year])
        return format_html('<a href="{}">Weekends and holidays of {}</a>', url, year)

    # Saving: the calendar and its inline holidays through the services.

    def service_create(self, obj, form):
        return services.create_calendar(
            data={f: form.cleaned_data.get(f) for f in form._meta.fields if f in form.cleaned_data}
        )

    def service_update(self, obj, form, expected_version):
        changed = self.changed_data_of(obj, form)
        if not changed:
            # Only inline holidays changed: the calendar object itself is unchanged, so its
            # version must not move (no empty audit entry either).
            return obj
        return services.update_calendar(
            calendar=obj, data=changed, expected_version=expected_version
        )

    def service_delete(self, obj):
        services.delete_calendar(calendar=obj)

    # The inline holidays, through the services (ServiceModelAdmin.save_formset).
    service_inline = Holiday

    def inline_delete(self, obj, expected_version):
        services.delete_holiday(holiday=obj, expected_version=expected_version)

    def inline_update(self, row, expected_version):
        # The date is immutable (the form refuses a change): only the name can change.
        if "name" not in row.changed_data:
            return None
        return services.update_holiday(
            holiday=row.instance,
            data={"name": row.cleaned_data["name"]},
            expected_version=expected_version,
        )

    def inline_create(self, parent, row):
        if not row.cleaned_data.get("date"):
            return None
        return services.create_holiday(
            calendar=parent,
            data={"date": row.cleaned_data["date"], "name": row.cleaned_data["name"]},
        )

    # The import action, with an intermediate form page.

    def has_import_permission(self, request) -> bool:
        return request.user.has_perm("calendars.add_holiday")

    @admin.action(
        description="Import holidays (holidays package) into the selected calendars",
        permissions=["import"],
    )
    def import_holidays(self, request, queryset):
        if "apply" in request.POST:
            form = HolidayImportForm(request.POST)
            if form.is_valid():
                source = form.cleaned_data["source"]
                with transaction.atomic():
                    results = [
                        (calendar, services.import_holidays(calendar=calendar, source=source))
                        for calendar in queryset
                    ]
                for calendar, result in results:
                    self.message_user(
                        request,
                        f"{calendar.code}: {result.created} holidays created, "
                        f"{result.skipped} skipped (already there) from {source.label}.",
                        messages.SUCCESS,
                    )
                return None
        else:
            form = HolidayImportForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Import holidays",
            "opts": self.model._meta,
            "form": form,
            "calendars": queryset,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "action_name": "import_holidays",
        }
        return TemplateResponse(request, "admin/calendars/import_holidays.html", context)

    # The year view: weekends and holidays month by month.

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/year/<int:year>/",
                self.admin_site.admin_view(self.year_view_page),
                name="calendars_calendar_year",
            )
        ]
        return urls + super().get_urls()

    def year_view_page(self, request, object_id, year):
        if not object_id.isdigit() or year not in SUPPORTED_YEARS:
            raise Http404("No such calendar or year.")
        calendar = get_object_or_404(Calendar, pk=object_id)
        if not self.has_view_permission(request, calendar):
            raise PermissionDenied
        # The business-day engine answers for every day, as it does for the API.
        cal, _ = selectors.business_calendar([calendar.code])
        months = year_months(year, cal)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{calendar.code}: {year}",
            "opts": self.model._meta,
            "original": calendar,
            "calendar": calendar,
            "year": year,
            "months": months,
            "weekday_names": WEEKDAY_ABBREVIATIONS,
            "holiday_count": sum(len(m["holidays"]) for m in months),
            "business_day_count": sum(m["business_days"] for m in months),
            "holidays_until": selectors.holidays_until(calendar),
            # A click on a day adds or removes a holiday (console.views.year_toggle).
            "may_toggle": request.user.has_perm("calendars.add_holiday")
            or request.user.has_perm("calendars.delete_holiday"),
            "holiday_dates": {day.isoformat() for m in months for day, _ in m["holidays"]},
            "previous_url": reverse("admin:calendars_calendar_year", args=[calendar.pk, year - 1])
            if year - 1 in SUPPORTED_YEARS
            else None,
            "next_url": reverse("admin:calendars_calendar_year", args=[calendar.pk, year + 1])
            if year + 1 in SUPPORTED_YEARS
            else None,
            "change_url": reverse("admin:calendars_calendar_change", args=[calendar.pk]),
        }
        return TemplateResponse(request, "admin/calendars/calendar_year.html", context)


def year_months(year: int, cal: BusinessCalendar) -> list:
    """Twelve months of week rows (Monday first); each day is a dict with its kind as the
    business-day engine (:meth:`BusinessCalendar.check`) answers it — `business`, `weekend`
    (even when also a holiday) or `holiday` — or `outside` for padding days of other months.
    Each month lists its holidays, weekend ones included."""
    names = {day: name for member in cal.members for day, name in member.holidays}
    grid = pycalendar.Calendar(firstweekday=0)
    months = []
    for month in range(1, 13):
        weeks = []
        business_days = 0
        month_holidays = []
        for week in grid.monthdatescalendar(year, month):
            row = []
            for day in week:
                if day.month != month:
                    row.append({"day": day, "kind": "outside", "title": ""})
                    continue
                is_business_day, reasons = cal.check(day)
                name = names.get(day)
                if is_business_day:
                    kind, title = "business", ""
                    business_days += 1
                elif any(reason["kind"] == "weekend" for reason in reasons):
                    kind = "weekend"
                    title = WEEKDAY_ABBREVIATIONS[day.weekday()]
                    if name:
                        title = f"{title}; {name}"
                else:
                    kind, title = "holiday", reasons[0]["name"]
                if name:
                    month_holidays.append((day, name))
                row.append({"day": day, "kind": kind, "title": title})
            weeks.append(row)
        months.append(
            {
                "name": pycalendar.month_name[month],
                "weeks": weeks,
                "business_days": business_days,
                "holidays": month_holidays,
            }
        )
    return months


# --- holidays (their own pages, for search and per-holiday history) -------------------------


class HolidayAdminForm(VersionedAdminForm):
    class Meta:
        model = Holiday
        fields = ["calendar", "date", "name"]


@admin.register(Holiday)
class HolidayAdmin(ServiceModelAdmin):
    form = HolidayAdminForm
    list_display = ["date", "calendar", "name", "source", "version"]
    list_filter = ["calendar", "source"]
    search_fields = ["name", "calendar__code"]
    date_hierarchy = "date"
    ordering = ["calendar__code", "date"]
    list_select_related = ["calendar"]

    def get_readonly_fields(self, request, obj=None):
        fields = [*super().get_readonly_fields(request, obj), "source"]
        return [*fields, "calendar", "date"] if obj is not None else fields

    def service_create(self, obj, form):
        return services.create_holiday(
            calendar=form.cleaned_data["calendar"],
            data={"date": form.cleaned_data["date"], "name": form.cleaned_data["name"]},
        )

    def service_update(self, obj, form, expected_version):
        changed = self.changed_data_of(obj, form)
        if not changed:
            return obj
        return services.update_holiday(holiday=obj, data=changed, expected_version=expected_version)

    def service_delete(self, obj):
        services.delete_holiday(holiday=obj)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset.select_related("calendar"))
