"""Admin plumbing: every domain admin saves through its app's services, checks the version the
staff member started from (no silent overwrite of a colleague's edit), shows a service's
refusal on the form instead of an error page, and shows history."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from auditlog.mixins import AuditlogHistoryAdminMixin
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, ValidationError
from django.db import DataError, IntegrityError, router, transaction
from django.db.models import ProtectedError, QuerySet, RestrictedError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from rest_framework_api_key.models import APIKey as BaseAPIKey
from waffle.models import Sample as WaffleSample
from waffle.models import Switch as WaffleSwitch

from cbpconfig.console.apikeys import APIKeyAdmin
from cbpconfig.console.widgets import TimeZoneSelect
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


_FormT = TypeVar("_FormT", bound=forms.BaseForm)


def add_refusal(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's refusal on the form: on the field it names, else above the form."""
    for name, errors in exc.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


def _refusing(form_class: type[_FormT], errors: dict[str | None, list[str]]) -> type[_FormT]:
    """``form_class`` that is invalid with ``errors`` (shown where the field is on the form,
    else above it), so the admin shows the posted form again instead of saving it."""

    base: Any = form_class  # Django's BaseForm._post_clean is not in the stubs

    def _post_clean(self: Any) -> None:
        base._post_clean(self)
        for field, msgs in errors.items():
            name = field if field in self.fields else None
            already = self.errors.get(name or NON_FIELD_ERRORS, [])
            new = [m for m in msgs if m not in already]
            if new:
                self.add_error(name, new)

    return cast(
        "type[_FormT]", type(form_class.__name__, (form_class,), {"_post_clean": _post_clean})
    )


#: A change form refused as stale offers this checkbox: "save my input over version N".
REAPPLY_FIELD = "_reapply_over_version"


@dataclass
class StaleChanges:
    """Why a form's save was refused: the object moved from ``expected`` to ``current``
    through ``changes`` (audit entries described by ``cbpconfig.console.history``)."""

    expected: int
    current: int
    changes: list[Any]
    reapply_field: str
    taken: list[str] = dataclasses.field(default_factory=list)  # their values, now in the form


class VersionedAdminForm(forms.ModelForm[Any]):
    """Carries the version the form was opened at and refuses a save over a newer one,
    saying what changed since (old → new, by whom); the user's input stays in the form and is
    saved over the newer version once they tick the box that says so."""

    stale: StaleChanges | None = None

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned is None:  # Django's ModelForm.clean returns cleaned_data
            cleaned = self.cleaned_data
        expected = cleaned.get("expected_version")
        if self.instance.pk and expected is not None:
            current = (
                type(self.instance)
                ._default_manager.filter(pk=self.instance.pk)
                .values_list("version", flat=True)
                .first()
            )
            if current is not None and current != expected:
                if not self.prefix and self.data.get(REAPPLY_FIELD) == str(current):
                    # The user has seen what changed (below) and saves their input over it.
                    cleaned["expected_version"] = current
                    return cleaned
                from cbpconfig.console.history import changes_since

                taken = self._take_their_changes(expected)
                # Shown above the form (templates/admin/change_form.html), the input kept.
                self.stale = StaleChanges(
                    expected=expected,
                    current=current,
                    changes=changes_since(self.instance, expected),
                    reapply_field=REAPPLY_FIELD,
                    taken=taken,
                )
                raise ValidationError(STALE_MESSAGE.format(current=current, expected=expected))
        return cleaned

    def _take_their_changes(self, expected: int) -> list[str]:
        """For the form shown again after a stale save: a text field the other person changed
        and this user did not (it was posted as it was) shows their new value; a field both
        changed keeps this user's input. (Other kinds of fields keep what was posted.)"""
        from cbpconfig.console.history import fields_changed_since

        theirs = fields_changed_since(self.instance, expected)
        if not isinstance(self.data, QueryDict):
            return []
        data = self.data.copy()
        taken: list[str] = []
        for name, (before, _after) in theirs.items():
            field = self.fields.get(name)
            if field is None or type(field) is not forms.CharField or field.disabled:
                continue
            key = self.add_prefix(name)
            if data.get(key, "") == ("" if before is None else str(before)):
                data[key] = getattr(self.instance, name)
                taken.append(name)
        if taken:
            self.data = data
        return taken


def _with_expected_version(fieldsets: Any, form_class: type[forms.BaseForm]) -> list[Any]:
    """``fieldsets`` with the form's hidden ``expected_version`` in the last one, if the form
    has it and no fieldset names it (a form that does not render it cannot check it)."""
    if not issubclass(form_class, VersionedAdminForm) or "expected_version" in (
        flatten_fieldsets(fieldsets)
    ):
        return list(fieldsets)
    copied: list[tuple[Any, dict[str, Any]]] = [
        (name, dict(options)) for name, options in fieldsets
    ]
    if not copied:
        return [(None, {"fields": ["expected_version"]})]
    options = copied[-1][1]
    options["fields"] = [*options.get("fields", ()), "expected_version"]
    return copied


if TYPE_CHECKING:  # the mixin goes in front of an InlineModelAdmin
    _InlineBase = admin.options.InlineModelAdmin[Any, Any]
else:
    _InlineBase = object


class VersionedInlineMixin(_InlineBase):
    """For inlines of versioned objects: each row carries the version it was opened at (the
    inline's form is a :class:`VersionedAdminForm`; its save passes the version on)."""

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return _with_expected_version(super().get_fieldsets(request, obj), self.form)


def save_inline_through_services(
    formset: Any,
    *,
    delete: Callable[[Any, int | None], object],
    update: Callable[[Any, int | None], Any],
    create: Callable[[Any], Any],
) -> None:
    """Save an inline formset through the services, as ``formset.save()`` would but never by
    ``obj.save()``: deletions first (``delete(instance, expected_version)``), then changed rows
    (``update(form, expected_version)``), then new rows (``create(form)``); ``update`` and
    ``create`` return the saved object, or None when the row has nothing to save. Each row
    passes the version it was opened at; the formset's ``*_objects`` lists feed the admin's
    change message."""
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for form in formset.deleted_forms:
        if form.instance.pk:
            delete(form.instance, form.cleaned_data.get("expected_version"))
            formset.deleted_objects.append(form.instance)
    deleted = set(formset.deleted_forms)
    changed = [
        form
        for form in formset.forms
        if form not in deleted and form.has_changed() and getattr(form, "cleaned_data", None)
    ]
    for form in changed:
        if form.instance.pk:
            saved = update(form, form.cleaned_data.get("expected_version"))
            if saved is not None:
                formset.changed_objects.append((saved, form.changed_data))
    for form in changed:
        if not form.instance.pk:
            saved = create(form)
            if saved is not None:
                formset.new_objects.append(saved)


class ServiceModelAdmin(AuditlogHistoryAdminMixin, admin.ModelAdmin[Any]):  # type: ignore[misc]  # django-auditlog ships no types
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
    # One history per object, children included, from the audit log (cbpconfig.console.history):
    # Django's "history/" and auditlog's "auditlog/" pages both show it.
    show_auditlog_history_link = False
    auditlog_history_per_page = 50

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        from cbpconfig.console.history_views import object_history

        response: HttpResponse = object_history(self, request, object_id)
        return response

    def auditlog_history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return self.history_view(request, object_id, extra_context)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # Every time zone of the console is picked from the zones the validators accept.
        if db_field.name == "timezone" and "widget" not in kwargs:
            kwargs["widget"] = TimeZoneSelect(
                blank_label="— the calendar's zone —" if db_field.blank else None
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        for name in ("version", "created_at", "updated_at"):
            if hasattr(self.model, name) and name not in fields:
                fields.append(name)
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return _with_expected_version(super().get_fieldsets(request, obj), self.form)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Any]]:
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "_cbp_refusal", None)
        return _refusing(form, refusal) if refusal else form

    def changed_data_of(self, obj: Any, form: forms.BaseForm) -> dict[str, Any]:
        names = {f.name for f in obj._meta.concrete_fields}
        return {name: getattr(obj, name) for name in form.changed_data if name in names}

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: Any) -> None:
        if change:
            saved = self.service_update(obj, form, form.cleaned_data.get("expected_version"))
            obj.pk = saved.pk
            obj.version = saved.version
        else:
            saved = self.service_create(obj, form)
            obj.pk = saved.pk
            obj.version = saved.version
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.service_delete(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # The bulk "delete selected" action goes through the services too (audit, cache).
        for obj in queryset:
            self.service_delete(obj)

    #: The inline model whose rows are saved through the services, by ``inline_delete``,
    #: ``inline_update`` and ``inline_create`` (:func:`save_inline_through_services`: deletions,
    #: then changes, then new rows); other inlines are saved as Django saves them.
    service_inline: type[Any] | None = None

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: Any) -> None:
        if formset.model is not self.service_inline:
            super().save_formset(request, form, formset, change)
            return
        parent = form.instance
        save_inline_through_services(
            formset,
            delete=self.inline_delete,
            update=self.inline_update,
            create=lambda row: self.inline_create(parent, row),
        )

    def inline_delete(self, obj: Any, expected_version: int | None) -> None:
        raise NotImplementedError

    def inline_update(self, row: Any, expected_version: int | None) -> Any:
        """The saved object, or None when the row has nothing to save."""
        raise NotImplementedError

    def inline_create(self, parent: Any, row: Any) -> Any:
        """The saved object, or None when the row has nothing to save."""
        raise NotImplementedError

    # -- a service's refusal, on every path that writes ---------------------------------------

    def message_refusal(self, request: HttpRequest, exc: Exception) -> None:
        for msgs in refusal_messages(exc).values():
            for message in msgs:
                self.message_user(request, message, level=messages.ERROR)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SERVICE_ERRORS as exc:
            if request.method != "POST":
                raise
            # The save ran in one transaction that is now rolled back. Show the posted form
            # again; this time its validation carries the refusal, so nothing is saved.
            request._cbp_refusal = refusal_messages(exc)  # type: ignore[attr-defined]  # ours
            try:
                return super().changeform_view(request, object_id, form_url, extra_context)
            finally:
                del request._cbp_refusal  # type: ignore[attr-defined]  # ours

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except SERVICE_ERRORS as exc:
            if request.method != "POST":
                raise
            self.message_refusal(request, exc)
            return HttpResponseRedirect(request.path)

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):
                return super().response_action(request, queryset, *args, **kwargs)
        except SERVICE_ERRORS as exc:
            self.message_refusal(request, exc)
            return HttpResponseRedirect(request.get_full_path())

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
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
class AuditEntryAdmin(admin.ModelAdmin[Any]):
    list_display = ["timestamp", "action", "content_type", "object_repr", "actor_label", "cid"]
    list_filter = ["action", "content_type"]
    search_fields = ["object_repr", "object_pk", "actor_name", "cid"]
    date_hierarchy = "timestamp"
    # An API key's primary key embeds its stored hash: its entries name the key's prefix only.
    fields = readonly_fields = tuple(
        "object_key" if f.name == "object_pk" else f.name
        for f in AuditEntry._meta.fields
        if f.name != "object_id"
    )

    @admin.display(description="object pk")
    def object_key(self, obj: Any) -> str:
        if obj.content_type.app_label == "cbpconfig" and obj.content_type.model == "apikey":
            return str(obj.object_pk).split(".", 1)[0] + "…"
        return str(obj.object_pk)

    @admin.display(description="actor")
    def actor_label(self, obj: Any) -> str | None:
        actor: str | None = obj.actor_display
        return actor

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _unregister(model: type[Any]) -> None:
    if admin.site.is_registered(model):
        admin.site.unregister(model)


# API keys: issued, looked at and revoked in the console, by prefix (cbpconfig.console.apikeys).
# The package's own admin (its concrete model, which no request authenticates with: a key
# issued there would get 401) and waffle's switches and samples (unused: flags are ours) are
# taken off the menu.
_unregister(BaseAPIKey)
_unregister(WaffleSample)
_unregister(WaffleSwitch)
admin.site.register(APIKey, APIKeyAdmin)
admin.site.site_header = "CBP operations console"
admin.site.site_title = "CBP console"
admin.site.index_title = "What needs attention"
