"""Admin of institutions, configurations (with their values inline) and values.

Every save goes through configuration.services (validation, audit, cache invalidation), each
form carries the version it was opened at (a stale save is refused with a message), and
sensitive values are shown as "********" to staff without
`configuration.view_sensitive_value` wherever the console would render them: list columns,
form fields (submitting the mask back keeps the stored value), the read-only page of view-only
staff and read-only inline rows (a display of the mask instead of the field). Such staff can
neither filter a list on a value (a lookup would tell which row holds a guessed secret) nor
change what would unmask a sensitive configuration: its sensitivity, type or schema (a refused
type or schema change quotes the stored values; an accepted one tells that they match).
History pages and audit entries never hold the values (configuration.signals masks them when
the entry is written).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count
from django.db.models.constants import LOOKUP_SEP
from django.forms.fields import InvalidJSONInput
from django.urls import reverse
from django.utils.html import format_html

from cbpconfig.admin import ServiceModelAdmin, VersionedAdminForm
from configuration import services
from configuration.models import Configuration, ConfigurationValue, Institution
from configuration.resolution import MASK
from configuration.widgets import JSONTextarea, typed_value_form

SENSITIVE_PERMISSION = "configuration.view_sensitive_value"
_JSON_HELP = 'JSON: "text" in quotes, 42, true, "1000.00" for decimals, {"a": 1}.'


def _may_see(request) -> bool:
    return request.user.has_perm(SENSITIVE_PERMISSION)


def _replace_field(fieldsets, old: str, new: str) -> list:
    """``fieldsets`` with the field ``old`` replaced by ``new`` (also within a row)."""

    def swap(item):
        if isinstance(item, list | tuple):
            return type(item)(swap(i) for i in item)
        return new if item == old else item

    return [
        (name, {**options, "fields": [swap(f) for f in options.get("fields", ())]})
        for name, options in fieldsets
    ]


class SensitiveValueAdminMixin:
    """For an admin (or inline) that renders a value which may be sensitive (``value_field``).

    Where the value would be rendered read-only, for staff who may not see it, the admin shows
    ``masked_field`` (a display of the mask) instead; and such staff cannot filter on the value
    (``value_lookups``: this model's value and a related one)."""

    value_field = "value"
    masked_field = "masked_value"
    value_lookups: tuple[str, ...] = ("value",)
    # Provided by the ModelAdmin or InlineModelAdmin this is mixed into.
    has_change_permission: Callable[..., bool]

    def value_is_sensitive(self, obj) -> bool:
        """Whether the value(s) shown on the page of ``obj`` are sensitive."""
        raise NotImplementedError

    def value_column(self, request):
        """The list column of the value: masked on sensitive rows for staff who may not see."""
        mask = not _may_see(request)

        @admin.display(description=self.value_field)
        def column(obj):
            value = getattr(obj, self.value_field)
            if value is None:
                return "—"
            return MASK if (mask and self.value_is_sensitive(obj)) else _short(value)

        return column

    def value_read_only(self, request, obj) -> bool:
        return not self.has_change_permission(request, obj)

    def hides_value(self, request, obj) -> bool:
        return obj is not None and not _may_see(request) and self.value_is_sensitive(obj)

    def shows_masked_field(self, request, obj) -> bool:
        return self.hides_value(request, obj) and self.value_read_only(request, obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self.shows_masked_field(request, obj):
            fieldsets = _replace_field(fieldsets, self.value_field, self.masked_field)
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if self.shows_masked_field(request, obj) and self.masked_field not in fields:
            fields.append(self.masked_field)
        return fields

    def lookup_allowed(self, lookup, value, request=None):
        if request is None or not _may_see(request):
            for path in self.value_lookups:
                if lookup == path or lookup.startswith(path + LOOKUP_SEP):
                    return False
        return super().lookup_allowed(lookup, value, request)

    def _mask_of(self, value):
        return self.get_empty_value_display() if value is None else MASK


def _short(value) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…"


class SafeJSONFormField(forms.JSONField):
    """A JSON form field that answers a document too deeply nested to parse with a form error
    (the stock field lets the parser's RecursionError through as a 500)."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except RecursionError:
            raise ValidationError("This JSON is nested too deeply.", code="invalid") from None

    def bound_data(self, data, initial):
        # Re-displaying the refused input parses it again.
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return InvalidJSONInput(data)


JSON_OVERRIDES: dict[type[models.Field[Any, Any]], dict[str, Any]] = {
    models.JSONField: {"form_class": SafeJSONFormField, "widget": JSONTextarea}
}


class MaskedValueForm(VersionedAdminForm):
    """Shows the value field of a sensitive configuration as the mask to staff who may not see
    it; the mask sent back means "unchanged"."""

    mask_sensitive = True  # set per request by the admin (fail closed)
    value_field = "value"

    def is_sensitive(self) -> bool:
        raise NotImplementedError

    def _masked(self) -> bool:
        return (
            self.mask_sensitive
            and self.instance.pk is not None
            and self.value_field in self.fields
            and self.is_sensitive()
            and getattr(self.instance, self.value_field) is not None
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.value_field in self.fields:
            self.fields[self.value_field].help_text = _JSON_HELP
        if self._masked():
            self.initial[self.value_field] = MASK

    def clean(self):
        cleaned = super().clean()
        if self._masked() and cleaned.get(self.value_field) == MASK:
            # The instance still holds the stored value here (construct_instance runs later).
            cleaned[self.value_field] = getattr(self.instance, self.value_field)
        return cleaned


class ConfigurationForm(MaskedValueForm):
    value_field = "default"

    def is_sensitive(self) -> bool:
        return bool(self.instance.is_sensitive)


class ConfigurationValueForm(MaskedValueForm):
    value_field = "value"

    def is_sensitive(self) -> bool:
        try:
            return bool(self.instance.configuration.is_sensitive)
        except Configuration.DoesNotExist:
            return False


def _chosen_configuration(request) -> Configuration | None:
    """The configuration chosen on the add page of a value (posted, or in the query)."""
    chosen = request.POST.get("configuration") or request.GET.get("configuration") or ""
    if not chosen.isdigit():
        return None
    return Configuration.objects.filter(pk=int(chosen)).first()


def _value_data(obj: ConfigurationValue) -> dict:
    return {
        "institution": obj.institution,
        "value": obj.value,
        "effective_from": obj.effective_from,
    }


class ConfigurationValueInline(SensitiveValueAdminMixin, admin.TabularInline):
    """The values of a configuration. Staff who may not see the values of a sensitive one and
    may not change them (or the configuration) get read-only rows showing the mask, and no
    empty row to add one (its value would be shown back in clear)."""

    model = ConfigurationValue
    form = ConfigurationValueForm
    formfield_overrides = JSON_OVERRIDES
    fields = ["institution", "value", "effective_from", "version", "expected_version"]
    readonly_fields = ["version"]
    autocomplete_fields = ["institution"]
    extra = 0
    ordering = ["institution__code", "effective_from"]

    def value_is_sensitive(self, obj) -> bool:
        return bool(obj.is_sensitive)  # obj: the configuration of the page

    def value_read_only(self, request, obj) -> bool:
        parent = self.admin_site.get_model_admin(self.parent_model)
        return not (
            parent.has_change_permission(request, obj) and self.has_change_permission(request, obj)
        )

    def has_add_permission(self, request, obj):
        if self.shows_masked_field(request, obj):
            return False
        return super().has_add_permission(request, obj)

    @admin.display(description="value")
    def masked_value(self, obj):
        return self._mask_of(obj.value)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.mask_sensitive = not _may_see(request)
        # Each value in an input of the configuration's type, following the type chosen on
        # the page where the user may change it (configuration.widgets).
        parent = self.admin_site.get_model_admin(self.parent_model)
        follow = "value_type" not in parent.get_readonly_fields(request, obj)
        formset.form = typed_value_form(formset.form, obj, follow_page=follow)
        return formset


class ValueInstitutionFilter(admin.SimpleListFilter):
    """Configurations that have a value for the chosen institution (or a global one)."""

    title = "values for institution"
    parameter_name = "value_institution"

    def lookups(self, request, model_admin):
        codes = (
            ConfigurationValue.objects.filter(institution__isnull=False)
            .values_list("institution__code", flat=True)
            .distinct()
            .order_by("institution__code")
        )
        return [("-", "global"), *((code, code) for code in codes)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == "-":
            return queryset.filter(values__institution__isnull=True).distinct()
        return queryset.filter(values__institution__code=value).distinct()


@admin.register(Institution)
class InstitutionAdmin(ServiceModelAdmin):
    list_display = [
        "code",
        "name",
        "country",
        "timezone",
        "calendar",
        "is_active",
        "version",
        "overview",
    ]

    @admin.display(description="")
    def overview(self, obj):
        """The institution whole (console.institution)."""
        url = reverse("console:institution", args=[obj.code])
        return format_html('<a href="{}">Overview</a>', url)

    list_filter = ["is_active", "country", "calendar"]
    search_fields = ["code", "name"]
    ordering = ["code"]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "code"] if obj is not None else fields

    def service_create(self, obj, form):
        data = {
            f.name: getattr(obj, f.name)
            for f in obj._meta.concrete_fields
            if f.name in form.cleaned_data
        }
        return services.create_institution(data=data)

    def service_update(self, obj, form, expected_version):
        return services.update_institution(
            institution=obj, data=self.changed_data_of(obj, form), expected_version=expected_version
        )

    def service_delete(self, obj):
        services.delete_institution(institution=obj)


@admin.register(Configuration)
class ConfigurationAdmin(SensitiveValueAdminMixin, ServiceModelAdmin):
    value_field = "default"
    masked_field = "masked_default"
    value_lookups = ("default", "values__value")
    #: What would unmask a sensitive configuration (see the module docstring).
    unmasking_fields = ("is_sensitive", "value_type", "schema")
    form = ConfigurationForm
    formfield_overrides = JSON_OVERRIDES
    inlines = [ConfigurationValueInline]
    list_filter = ["value_type", "is_sensitive", ValueInstitutionFilter]
    search_fields = ["key", "description"]
    ordering = ["key"]
    list_display = ["key", "value_type", "is_sensitive", "default", "value_count", "version"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_value_count=Count("values"))

    @admin.display(description="values", ordering="_value_count")
    def value_count(self, obj):
        return obj._value_count

    def value_is_sensitive(self, obj) -> bool:
        return bool(obj.is_sensitive)

    @admin.display(description="default")
    def masked_default(self, obj):
        return self._mask_of(obj.default)

    def get_list_display(self, request):
        default = self.value_column(request)
        return ["key", "value_type", "is_sensitive", default, "value_count", "version"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.mask_sensitive = not _may_see(request)
        # The default in an input of the type chosen on the page, where the user may change
        # the type; else of the stored type (configuration.widgets).
        follow = "value_type" not in self.get_readonly_fields(request, obj)
        return typed_value_form(form, obj, field="default", follow_page=follow)

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is None:
            return fields
        fields = [*fields, "key"]
        if self.hides_value(request, obj):
            fields += [name for name in self.unmasking_fields if name not in fields]
        return fields

    def service_create(self, obj, form):
        data = {name: getattr(obj, name) for name in services._DEFINITION_FIELDS}
        return services.create_configuration(data=data)

    def service_update(self, obj, form, expected_version):
        return services.update_configuration(
            configuration=obj,
            data=self.changed_data_of(obj, form),
            expected_version=expected_version,
        )

    def service_delete(self, obj):
        services.delete_configuration(configuration=obj)

    def save_model(self, request, obj, form, change):
        if change:
            # Written by save_related, after the inline values this same save deletes: a new
            # value_type or schema is checked against the values that remain, so "change the
            # type and delete the old values" is one save.
            form.save_definition = functools.partial(super().save_model, request, obj, form, change)
            return
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            if formset.model is ConfigurationValue:
                self._delete_values(formset)
        save_definition = getattr(form, "save_definition", None)
        if save_definition is not None:
            save_definition()
        super().save_related(request, form, formsets, change)

    def _delete_values(self, formset) -> None:
        formset.deleted_objects = []
        for inline in formset.deleted_forms:
            if inline.instance.pk is not None:
                services.delete_value(
                    value=inline.instance,
                    expected_version=inline.cleaned_data.get("expected_version"),
                )
                formset.deleted_objects.append(inline.instance)
        formset.values_deleted = True

    def save_formset(self, request, form, formset, change):
        """Inline values are written through the services too, each with its version check:
        deletions first (see save_model), then changes and new values."""
        if formset.model is not ConfigurationValue:
            super().save_formset(request, form, formset, change)
            return
        configuration = form.instance
        if not getattr(formset, "values_deleted", False):
            self._delete_values(formset)
        formset.new_objects, formset.changed_objects = [], []
        for inline in formset.forms:
            if inline in formset.deleted_forms or not inline.has_changed():
                continue
            obj = inline.instance
            if obj.pk is None:
                saved = services.create_value(configuration=configuration, data=_value_data(obj))
                formset.new_objects.append(saved)
            else:
                changed = [n for n in inline.changed_data if n in ("value", "effective_from")]
                if not changed:
                    continue
                saved = services.update_value(
                    value=obj,
                    data={name: getattr(obj, name) for name in changed},
                    expected_version=inline.cleaned_data.get("expected_version"),
                )
                formset.changed_objects.append((saved, changed))


class GlobalValueFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [("global", "global"), ("institution", "institution")]

    def queryset(self, request, queryset):
        if self.value() == "global":
            return queryset.filter(institution__isnull=True)
        if self.value() == "institution":
            return queryset.filter(institution__isnull=False)
        return queryset


@admin.register(ConfigurationValue)
class ConfigurationValueAdmin(SensitiveValueAdminMixin, ServiceModelAdmin):
    value_lookups = ("value", "configuration__default")
    form = ConfigurationValueForm
    formfield_overrides = JSON_OVERRIDES
    list_filter = [
        GlobalValueFilter,
        ("institution", admin.RelatedOnlyFieldListFilter),
        "configuration__value_type",
    ]
    list_select_related = ["configuration", "institution"]
    search_fields = ["configuration__key", "institution__code"]
    autocomplete_fields = ["configuration", "institution"]
    ordering = ["configuration__key", "institution__code", "effective_from"]
    list_display = ["configuration", "scope", "value", "effective_from", "version"]

    @admin.display(description="institution", ordering="institution__code")
    def scope(self, obj):
        return obj.institution.code if obj.institution_id else "global"

    def value_is_sensitive(self, obj) -> bool:
        return bool(obj.configuration.is_sensitive)

    @admin.display(description="value")
    def masked_value(self, obj):
        return self._mask_of(obj.value)

    def get_list_display(self, request):
        value = self.value_column(request)
        return ["configuration", "scope", value, "effective_from", "version"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.mask_sensitive = not _may_see(request)
        if obj is not None:
            return typed_value_form(form, obj.configuration)
        # A new value: its input is of the type of the configuration chosen. Choosing one
        # reloads the page with it (?configuration=PK, the admin's initial data), so the
        # choice is a plain select; posted, the choice types the input again.
        if "configuration" in form.base_fields:
            field = form.base_fields["configuration"]
            field.widget = forms.Select(
                choices=field.choices, attrs={"data-reload-on-change": "configuration"}
            )
        return typed_value_form(form, _chosen_configuration(request))

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "configuration", "institution"] if obj is not None else fields

    def service_create(self, obj, form):
        return services.create_value(configuration=obj.configuration, data=_value_data(obj))

    def service_update(self, obj, form, expected_version):
        data = {
            name: getattr(obj, name)
            for name in form.changed_data
            if name in ("value", "effective_from")
        }
        return services.update_value(value=obj, data=data, expected_version=expected_version)

    def service_delete(self, obj):
        services.delete_value(value=obj)
