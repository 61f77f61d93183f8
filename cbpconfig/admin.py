"""Admin plumbing: every domain admin saves through its app's services, checks the version the
staff member started from (no silent overwrite of a colleague's edit), shows a service's
refusal on the form instead of an error page, and shows history."""

from __future__ import annotations

from auditlog.mixins import AuditlogHistoryAdminMixin
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, ValidationError
from django.db import DataError, IntegrityError, router, transaction
from django.db.models import ProtectedError, RestrictedError
from django.http import HttpResponseRedirect

from cbpconfig.models import APIKey, AuditEntry
from cbpconfig.versioning import StaleVersion

STALE_MESSAGE = (
    "Someone else changed this object (it is now at version {current}) since you opened it "
    "at version {expected}. Reload the page and apply your change again."
)

#: What a service raises when it refuses a write. Every admin path that writes (change and add
#: forms with their inlines, deletes, bulk actions) turns these into a message on the page it
#: came from, with nothing saved — never an error page.
SERVICE_ERRORS = (
    ValidationError,
    StaleVersion,
    ProtectedError,
    RestrictedError,
    IntegrityError,
    DataError,
    ObjectDoesNotExist,
)


def refusal_messages(exc: Exception) -> dict[str | None, list[str]]:
    """A service's refusal as form errors: ``{field or None: [messages]}``."""
    if isinstance(exc, StaleVersion):
        return {None: [STALE_MESSAGE.format(current=exc.current, expected=exc.expected)]}
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return {
                (None if field == NON_FIELD_ERRORS else field): list(msgs)
                for field, msgs in exc.message_dict.items()
            }
        return {None: list(exc.messages)}
    if isinstance(exc, ProtectedError | RestrictedError):
        objs = [
            *getattr(exc, "protected_objects", ()),
            *getattr(exc, "restricted_objects", ()),
        ]
        names = sorted({f"{type(o)._meta.verbose_name} {o}" for o in objs})
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return {None: [f"Cannot delete: still referenced by {shown or 'other objects'}."]}
    if isinstance(exc, IntegrityError):
        return {
            None: [
                "This conflicts with an existing object (a uniqueness or reference rule); "
                "nothing was saved."
            ]
        }
    if isinstance(exc, DataError):
        return {None: ["A value is out of range for its field; nothing was saved."]}
    return {None: ["An object this form refers to no longer exists. Reload the page."]}


def _refusing(form_class: type[forms.BaseForm], errors: dict[str | None, list[str]]):
    """``form_class`` that is invalid with ``errors`` (shown where the field is on the form,
    else above it), so the admin shows the posted form again instead of saving it."""

    def _post_clean(self):
        form_class._post_clean(self)
        for field, msgs in errors.items():
            name = field if field in self.fields else None
            already = self.errors.get(name or NON_FIELD_ERRORS, [])
            new = [m for m in msgs if m not in already]
            if new:
                self.add_error(name, new)

    return type(form_class.__name__, (form_class,), {"_post_clean": _post_clean})


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


def _with_expected_version(fieldsets, form_class) -> list:
    """``fieldsets`` with the form's hidden ``expected_version`` in the last one, if the form
    has it and no fieldset names it (a form that does not render it cannot check it)."""
    if not issubclass(form_class, VersionedAdminForm) or "expected_version" in (
        flatten_fieldsets(fieldsets)
    ):
        return fieldsets
    fieldsets = [(name, dict(options)) for name, options in fieldsets]
    if not fieldsets:
        return [(None, {"fields": ["expected_version"]})]
    options = fieldsets[-1][1]
    options["fields"] = [*options.get("fields", ()), "expected_version"]
    return fieldsets


class VersionedInlineMixin:
    """For inlines of versioned objects: each row carries the version it was opened at (the
    inline's form is a :class:`VersionedAdminForm`; its save passes the version on)."""

    def get_fieldsets(self, request, obj=None):
        return _with_expected_version(super().get_fieldsets(request, obj), self.form)


class ServiceModelAdmin(AuditlogHistoryAdminMixin, admin.ModelAdmin):
    """Subclasses implement `service_create(obj, form)`, `service_update(obj, form, expected)`
    and `service_delete(obj)`; the admin never calls obj.save() itself.

    One place catches a service's refusal (``SERVICE_ERRORS``) for every path that writes:

    - the change and add forms, with their inlines (``save_model``, ``save_related``,
      ``save_formset``): Django runs the whole save in one transaction, so nothing of it
      stays; the posted form is shown again, refused with the service's message;
    - the delete page: the confirmation page again, with the message;
    - bulk actions (``delete_queryset`` and the apps' own): run in one transaction, so they
      apply to all selected objects or to none; the list again, with the message.

    Every change form, and every inline row of a versioned model, carries the version it was
    opened at (``expected_version``), so a save over someone else's change is refused.
    """

    form = VersionedAdminForm
    show_auditlog_history_link = True
    auditlog_history_per_page = 50

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        for name in ("version", "created_at", "updated_at"):
            if hasattr(self.model, name) and name not in fields:
                fields.append(name)
        return fields

    def get_fieldsets(self, request, obj=None):
        return _with_expected_version(super().get_fieldsets(request, obj), self.form)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "_cbp_refusal", None)
        return _refusing(form, refusal) if refusal else form

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

    # -- a service's refusal, on every path that writes ---------------------------------------

    def message_refusal(self, request, exc: Exception) -> None:
        for msgs in refusal_messages(exc).values():
            for message in msgs:
                self.message_user(request, message, level=messages.ERROR)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SERVICE_ERRORS as exc:
            if request.method != "POST":
                raise
            # The save ran in one transaction that is now rolled back. Show the posted form
            # again; this time its validation carries the refusal, so nothing is saved.
            request._cbp_refusal = refusal_messages(exc)
            try:
                return super().changeform_view(request, object_id, form_url, extra_context)
            finally:
                del request._cbp_refusal

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except SERVICE_ERRORS as exc:
            if request.method != "POST":
                raise
            self.message_refusal(request, exc)
            return HttpResponseRedirect(request.path)

    def response_action(self, request, queryset):
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):
                return super().response_action(request, queryset)
        except SERVICE_ERRORS as exc:
            self.message_refusal(request, exc)
            return HttpResponseRedirect(request.get_full_path())

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except SERVICE_ERRORS as exc:
            if request.method != "POST":
                raise
            # list_editable saves (Django runs them in one transaction).
            self.message_refusal(request, exc)
            return HttpResponseRedirect(request.get_full_path())


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
