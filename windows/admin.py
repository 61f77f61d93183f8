"""Admin for processing windows: the weekly rules as validated JSON, the overrides inline, the
history, and a 14-day preview of the sessions (local time and UTC) computed by the same code as
the API — of the saved window on its change page, and of the unsaved form with "Preview".

Every save goes through :mod:`windows.services`; the forms validate with the services' own
functions, so a problem is shown on the form, not as an error page (and a refusal at save
time, after a concurrent change, is shown on the form by ``ServiceModelAdmin``). The window
form and each override row carry the version they were opened at.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils import timezone

from cbpconfig.admin import (
    ServiceModelAdmin,
    VersionedAdminForm,
    VersionedInlineMixin,
)
from cbpconfig.console.widgets import RulesEditor, rules_table
from windows import selectors, services
from windows.mappers import (
    override_from_row,
    parse_override_sessions,
    parse_rules,
    rule_from_row,
    rule_to_data,
)
from windows.models import WINDOW_FIELDS, ProcessingWindow, WindowOverride, WindowRule
from windows.preview import render_window_preview, window_status


class PrettyJSONField(forms.JSONField):
    """A JSON textarea that shows a list of sessions one per line."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            # One session per line reads best for these short objects.
            lines = ",\n  ".join(json.dumps(v, ensure_ascii=False) for v in value)
            return f"[\n  {lines}\n]"
        return json.dumps(value, ensure_ascii=False)


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [m for msgs in exc.message_dict.values() for m in msgs]
    return list(exc.messages)


class WindowAdminForm(VersionedAdminForm):
    sessions = PrettyJSONField(
        help_text="One row per session: the weekdays it runs on, when it opens and closes in "
        "the window's time zone (a Fedwire-style day opens at 21:00 the day before), and the "
        "business dates it is effective for (empty: always). Blank rows are ignored.",
        # One row per session rule: weekday boxes, time inputs with their day offsets.
        widget=RulesEditor(weekly=True),
    )

    class Meta:
        model = ProcessingWindow
        fields = list(WINDOW_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            rows = WindowRule.objects.filter(window=self.instance).order_by("position")
            self.initial["sessions"] = [rule_to_data(rule_from_row(r)) for r in rows]
        else:
            self.initial.setdefault(
                "sessions",
                [
                    {
                        "label": "day",
                        "weekdays": [1, 2, 3, 4, 5],
                        "opens": "07:00",
                        "opens_day_offset": 0,
                        "closes": "18:00",
                        "closes_day_offset": 0,
                    }
                ],
            )

    def clean(self):
        cleaned = super().clean()
        try:
            rules = parse_rules(cleaned.get("sessions"))
        except ValidationError as exc:
            if "sessions" not in self.errors:
                self.add_error("sessions", _messages(exc))
            return cleaned
        calendar = cleaned.get("calendar")
        if calendar is None:
            return cleaned
        tz = cleaned.get("timezone") or calendar.timezone
        overrides = []
        if self.instance.pk:
            overrides = [
                override_from_row(o) for o in WindowOverride.objects.filter(window=self.instance)
            ]
        try:
            # The services' own check: what the API would refuse, the form refuses.
            services.validate_window_definition(
                timezone=tz, calendar=calendar, rules=rules, overrides=overrides
            )
        except ValidationError as exc:
            self.add_error("sessions", _messages(exc))
            return cleaned
        # For the overrides inline (validated against these rules) and the preview.
        self.instance._pending_rules = rules
        self.instance._pending_timezone = tz
        return cleaned


class OverrideForm(VersionedAdminForm):
    """An override: its sessions as JSON (empty for none). A row of the window's page as it
    is (:class:`OverrideInlineFormSet` checks the rows together); its own page adds the
    window and the check against the stored window (:class:`OverrideAdminForm`)."""

    sessions = PrettyJSONField(
        required=False,
        initial=list,
        help_text="That date's sessions (none when closed); an early close is one session "
        "closing earlier.",
        # As many sessions as the day needs: "Add a session" adds a row (the weekly editor's).
        widget=RulesEditor(weekly=False, blank_rows=1),
    )

    class Meta:
        model = WindowOverride
        fields = ["date", "closed", "sessions", "reason"]

    def clean_sessions(self):
        value = self.cleaned_data.get("sessions")
        return [] if value in (None, "") else value


class OverrideAdminForm(OverrideForm):
    class Meta(OverrideForm.Meta):
        fields = ["window", "date", "closed", "sessions", "reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sessions"].widget.attrs.update(rows=8, cols=80)

    def _post_clean(self):
        super()._post_clean()  # the model's own rules (reason, sessions' shape, date range)
        if self.errors or not self.instance.window_id:
            return
        try:
            services.validate_override_definition(
                window=self.instance.window, override=self.instance
            )
        except ValidationError as exc:
            self.add_error("sessions", _messages(exc))


class OverrideInlineFormSet(BaseInlineFormSet):
    """Validates the overrides as they will be, together, against the window's rules as they
    will be (the services' check), and keeps them for the preview."""

    pending_overrides: list | None = None

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        window = self.instance
        rules = getattr(window, "_pending_rules", None)
        if rules is None or not window.calendar_id:
            return  # the window form has errors of its own; they are shown first
        pending = []
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data:
                continue
            if self.can_delete and self._should_delete_form(form):
                continue
            data = form.cleaned_data
            if not data.get("date"):
                continue
            closed = bool(data.get("closed"))
            try:
                rules_of_day, _ = parse_override_sessions(data.get("sessions") or [], closed=closed)
            except ValidationError:
                continue  # shown on the form by the model's clean
            row = WindowOverride(date=data["date"], closed=closed, reason=data.get("reason", ""))
            row.sessions = [rule_to_data(r, weekly=False) for r in rules_of_day]
            pending.append(override_from_row(row))
        try:
            services.validate_window_definition(
                timezone=window._pending_timezone,
                calendar=window.calendar,
                rules=rules,
                overrides=pending,
            )
        except ValidationError as exc:
            raise ValidationError(_messages(exc)) from None
        self.pending_overrides = pending


class WindowOverrideInline(VersionedInlineMixin, admin.TabularInline):
    model = WindowOverride
    form = OverrideForm
    formset = OverrideInlineFormSet
    fields = ["date", "closed", "sessions", "reason", "version", "expected_version"]
    readonly_fields = ["version"]
    extra = 0
    ordering = ["date"]


def _form_data(form, names) -> dict:
    return {name: form.cleaned_data[name] for name in names if name in form.cleaned_data}


@admin.register(ProcessingWindow)
class ProcessingWindowAdmin(ServiceModelAdmin):
    form = WindowAdminForm
    inlines = [WindowOverrideInline]
    change_form_template = "admin/windows/processingwindow/change_form.html"
    list_display = [
        "code",
        "name",
        "institution",
        "calendar",
        "timezone",
        "payment_type",
        "is_active",
        "version",
    ]
    list_filter = ["is_active", "calendar", "institution", "payment_type"]
    search_fields = ["code", "name", "payment_type"]
    ordering = ["code"]
    list_select_related = ["institution", "calendar"]
    fieldsets = [
        (
            None,
            {"fields": list(WINDOW_FIELDS)},
        ),
        ("Weekly session rules", {"fields": ["sessions"]}),
        ("Version", {"fields": ["version", "created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "code"] if obj is not None else fields

    @admin.display(description="Sessions")
    def sessions(self, obj):
        """The weekly rules as a table, for staff who may view but not change the window
        (the editable form shows them in the rules editor)."""
        if obj is None or obj.pk is None:
            return "—"
        rows = WindowRule.objects.filter(window=obj).order_by("position")
        return rules_table([rule_to_data(rule_from_row(r)) for r in rows])

    # -- saving through the services ---------------------------------------------------------

    def service_create(self, obj, form):
        data = _form_data(form, WINDOW_FIELDS)
        data["sessions"] = form.cleaned_data["sessions"]
        return services.create_window(data=data)

    def service_update(self, obj, form, expected_version):
        data = self.changed_data_of(obj, form)
        if "sessions" in form.changed_data:
            data["sessions"] = form.cleaned_data["sessions"]
        if not data:
            # Only overrides changed (or nothing): the window itself keeps its version (no
            # empty audit entry, no colleague's open form made stale).
            return obj
        return services.update_window(window=obj, data=data, expected_version=expected_version)

    def service_delete(self, obj):
        services.delete_window(window=obj)

    # The overrides inline, through the services (ServiceModelAdmin.save_formset): deletions
    # first, then changes, then new dates, each step checked by the service.
    service_inline = WindowOverride

    def inline_delete(self, obj, expected_version):
        services.delete_override(override=obj, expected_version=expected_version)

    def inline_update(self, row, expected_version):
        return services.update_override(
            override=WindowOverride.objects.get(pk=row.instance.pk),
            data=_form_data(row, ("closed", "sessions", "reason")),
            expected_version=expected_version,
        )

    def inline_create(self, parent, row):
        if not row.cleaned_data.get("date"):
            return None
        return services.create_override(
            window=parent, data=_form_data(row, services.OVERRIDE_FIELDS)
        )

    # -- status and preview ------------------------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["preview_days"] = selectors.PREVIEW_DAYS
        if object_id:
            obj = self.get_object(request, unquote(object_id))
            if obj is not None and request.method == "GET":
                extra_context["window_preview"] = selectors.preview_saved(obj)
                extra_context["window_timezone"] = obj.timezone
            if obj is not None and obj.is_active:
                extra_context["window_now"] = window_status(obj, timezone.now())
        if request.method == "POST" and "_preview" in request.POST:
            # The preview on the form itself: validated like a save, nothing saved, every
            # unsaved row kept (windows.preview).
            return render_window_preview(self, request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(WindowOverride)
class WindowOverrideAdmin(ServiceModelAdmin):
    form = OverrideAdminForm
    list_display = ["window", "date", "closed", "reason", "version"]
    list_filter = ["closed", "window"]
    search_fields = ["window__code", "reason"]
    ordering = ["window__code", "date"]
    list_select_related = ["window"]
    date_hierarchy = "date"

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "window", "date"] if obj is not None else fields

    def service_create(self, obj, form):
        return services.create_override(
            window=form.cleaned_data["window"], data=_form_data(form, services.OVERRIDE_FIELDS)
        )

    def service_update(self, obj, form, expected_version):
        data = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in ("closed", "sessions", "reason")
        }
        return services.update_override(
            override=WindowOverride.objects.get(pk=obj.pk),
            data=data,
            expected_version=expected_version,
        )

    def service_delete(self, obj):
        services.delete_override(override=obj)
