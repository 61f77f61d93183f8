"""Admin plumbing: every domain admin saves through its app's services, checks the version the
staff member started from (no silent overwrite of a colleague's edit), and shows history."""

from __future__ import annotations

from auditlog.mixins import AuditlogHistoryAdminMixin
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect

from cbpconfig.models import APIKey, AuditEntry
from cbpconfig.versioning import StaleVersion

STALE_MESSAGE = (
    "Someone else changed this object (it is now at version {current}) since you opened it "
    "at version {expected}. Reload the page and apply your change again."
)


class VersionedAdminForm(forms.ModelForm):
    """Carries the version the form was opened at and refuses a save over a newer one."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        expected = cleaned.get("expected_version")
        if self.instance.pk and expected is not None:
            current = (
                type(self.instance)
                ._default_manager.filter(pk=self.instance.pk)
                .values_list("version", flat=True)
                .first()
            )
            if current is not None and current != expected:
                raise ValidationError(STALE_MESSAGE.format(current=current, expected=expected))
        return cleaned


class ServiceModelAdmin(AuditlogHistoryAdminMixin, admin.ModelAdmin):
    """Subclasses implement `service_create(obj, form)`, `service_update(obj, form, expected)`
    and `service_delete(obj)`; the admin never calls obj.save() itself."""

    form = VersionedAdminForm
    show_auditlog_history_link = True
    auditlog_history_per_page = 50

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        for name in ("version", "created_at", "updated_at"):
            if hasattr(self.model, name) and name not in fields:
                fields.append(name)
        return fields

    def changed_data_of(self, obj, form) -> dict:
        names = {f.name for f in obj._meta.concrete_fields}
        return {name: getattr(obj, name) for name in form.changed_data if name in names}

    def save_model(self, request, obj, form, change):
        if change:
            saved = self.service_update(obj, form, form.cleaned_data.get("expected_version"))
            obj.pk = saved.pk
            obj.version = saved.version
        else:
            saved = self.service_create(obj, form)
            obj.pk = saved.pk
            obj.version = saved.version
        obj._state.adding = False

    def delete_model(self, request, obj):
        self.service_delete(obj)

    def delete_queryset(self, request, queryset):
        # The bulk "delete selected" action goes through the services too (audit, cache).
        for obj in queryset:
            self.service_delete(obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except StaleVersion as exc:
            # Lost the race between the form's check and the locked save.
            self.message_user(
                request,
                STALE_MESSAGE.format(current=exc.current, expected=exc.expected),
                level=messages.ERROR,
            )
            return HttpResponseRedirect(request.path)


if admin.site.is_registered(AuditEntry):  # auditlog registers its own admin for the model
    admin.site.unregister(AuditEntry)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "action", "content_type", "object_repr", "actor_label", "cid"]
    list_filter = ["action", "content_type"]
    search_fields = ["object_repr", "object_pk", "actor_name", "cid"]
    date_hierarchy = "timestamp"
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    @admin.display(description="actor")
    def actor_label(self, obj):
        return obj.actor_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "institution",
        "can_write",
        "created",
        "expiry_date",
        "revoked",
    ]
    list_filter = ["revoked", "can_write"]
    search_fields = ["name", "prefix", "institution__code"]
    readonly_fields = ["prefix", "created"]
    fields = ["name", "institution", "can_write", "expiry_date", "revoked", "prefix", "created"]

    def has_add_permission(self, request):
        # Keys are created with `manage.py create_api_key`, which prints the key once.
        return False
