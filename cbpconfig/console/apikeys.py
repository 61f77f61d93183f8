"""API keys in the console: issued (the key shown once, on the answer to the POST that made
it), listed, looked at and revoked — every URL names a key by its public prefix, never by its
primary key (which embeds the stored hash).

A key's scope (platform or one institution, read-only or writing) is chosen when it is issued
and cannot be changed afterwards: there is no change form. Writes go through
:mod:`cbpconfig.keys`.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from cbpconfig import keys
from cbpconfig.models import APIKey, AuditEntry

SCOPE_PLATFORM_READ = "platform-read"
SCOPE_PLATFORM_WRITE = "platform-write"
SCOPE_INSTITUTION = "institution"
SCOPES = [
    (SCOPE_PLATFORM_READ, "Platform key, read-only: reads everything"),
    (SCOPE_PLATFORM_WRITE, "Platform key, read and write: may create, change and delete"),
    (SCOPE_INSTITUTION, "Institution key: shared reference data and one institution's objects"),
]


def scope_label(key: APIKey) -> str:
    if key.institution_id and key.institution is not None:
        return f"institution {key.institution.code} (read-only)"
    return "platform, read and write" if key.can_write else "platform, read-only"


def status_label(key: APIKey) -> str:
    if key.revoked:
        return "revoked"
    if key.has_expired:
        return "expired"
    return "active"


class InstitutionChoiceField(forms.ModelChoiceField[Any]):
    """Institutions by code and name (the model is named by label: no domain import)."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.code} — {obj.name}"


class IssueKeyForm(forms.Form):
    name = forms.CharField(
        max_length=keys.NAME_MAX_LENGTH,
        help_text="Who holds the key, e.g. the system's name; the audit log shows "
        "api-key:NAME for its changes.",
    )
    scope = forms.ChoiceField(choices=SCOPES, widget=forms.RadioSelect, initial=SCOPE_PLATFORM_READ)
    institution = InstitutionChoiceField(
        queryset=None,
        required=False,
        help_text="For an institution key only.",
    )
    expiry_date = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        help_text="Optional, in UTC; empty for a key that does not expire.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        institution = apps.get_model("configuration", "Institution")
        field = self.fields["institution"]
        assert isinstance(field, forms.ModelChoiceField)  # noqa: S101 - declared above
        field.queryset = institution._default_manager.order_by("code")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        scope = cleaned.get("scope")
        if scope == SCOPE_INSTITUTION and not cleaned.get("institution"):
            self.add_error("institution", "Choose the institution of an institution key.")
        if scope != SCOPE_INSTITUTION and cleaned.get("institution"):
            self.add_error("institution", "A platform key belongs to no institution.")
        expiry = cleaned.get("expiry_date")
        if expiry is not None and timezone.is_naive(expiry):
            cleaned["expiry_date"] = expiry = timezone.make_aware(expiry, UTC)
        if expiry is not None and expiry <= timezone.now():
            self.add_error("expiry_date", "The expiry must be in the future.")
        return cleaned


class APIKeyAdmin(admin.ModelAdmin[APIKey]):
    """The list, the issue form, one key's page and its revocation; no change form."""

    list_display = ["name", "prefix", "scope", "status", "created", "expiry_date", "manage"]
    list_display_links = None
    list_filter = ["revoked", "can_write", ("institution", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["institution"]
    search_fields = ["name", "prefix", "institution__code"]
    ordering = ["-created"]
    # No bulk actions: their checkboxes would carry each key's primary key, which embeds the
    # stored hash. A key is revoked on its own page.
    actions = None

    @admin.display(description="scope")
    def scope(self, obj: APIKey) -> str:
        return scope_label(obj)

    @admin.display(description="status")
    def status(self, obj: APIKey) -> str:
        return status_label(obj)

    @admin.display(description="")
    def manage(self, obj: APIKey) -> SafeString:
        url = reverse("admin:cbpconfig_apikey_detail", args=[obj.prefix])
        return format_html('<a href="{}">Details{}</a>', url, "" if obj.revoked else " / revoke")

    def has_delete_permission(self, request: HttpRequest, obj: APIKey | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.changelist_view), name="cbpconfig_apikey_changelist"),
            path("add/", wrap(self.issue_view), name="cbpconfig_apikey_add"),
            path("key/<str:prefix>/", wrap(self.detail_view), name="cbpconfig_apikey_detail"),
            path(
                "key/<str:prefix>/revoke/", wrap(self.revoke_view), name="cbpconfig_apikey_revoke"
            ),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            **extra,
        }

    def issue_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = IssueKeyForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    key, raw = keys.issue_key(
                        name=data["name"],
                        institution=data["institution"]
                        if data["scope"] == SCOPE_INSTITUTION
                        else None,
                        can_write=data["scope"] == SCOPE_PLATFORM_WRITE,
                        expiry_date=data["expiry_date"],
                    )
                except ValidationError as exc:
                    for field, errors in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    # The key is in this answer only: never in a URL, a message or a log.
                    response = TemplateResponse(
                        request,
                        "admin/console/apikey_issued.html",
                        self._context(
                            request,
                            "API key issued",
                            key=key,
                            raw_key=raw,
                            scope=scope_label(key),
                            api_base=request.build_absolute_uri("/api/v1/"),
                            detail_url=reverse("admin:cbpconfig_apikey_detail", args=[key.prefix]),
                        ),
                    )
                    response["Cache-Control"] = "no-store"
                    return response
        else:
            form = IssueKeyForm()
        return TemplateResponse(
            request,
            "admin/console/apikey_issue.html",
            self._context(request, "Issue an API key", form=form),
        )

    def _key(self, prefix: str) -> APIKey:
        if not prefix.isalnum():
            raise Http404("No such key.")
        return get_object_or_404(APIKey.objects.select_related("institution"), prefix=prefix)

    def detail_view(self, request: HttpRequest, prefix: str) -> HttpResponse:
        key = self._key(prefix)
        if not self.has_view_or_change_permission(request, key):
            raise PermissionDenied
        from cbpconfig.console.history import describe_entries

        entries = AuditEntry.objects.filter(
            content_type__app_label="cbpconfig",
            content_type__model="apikey",
            object_pk=key.pk,
        ).order_by("-timestamp", "-id")
        return TemplateResponse(
            request,
            "admin/console/apikey_detail.html",
            self._context(
                request,
                f"API key {key.name}",
                key=key,
                scope=scope_label(key),
                status=status_label(key),
                can_revoke=self.has_change_permission(request, key) and not key.revoked,
                history=describe_entries(entries),
            ),
        )

    def revoke_view(self, request: HttpRequest, prefix: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        key = self._key(prefix)
        if not self.has_change_permission(request, key):
            raise PermissionDenied
        keys.revoke_key(key=key)
        self.message_user(
            request,
            f"The key {key.name} ({key.prefix}…) is revoked: it is refused from now on.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:cbpconfig_apikey_detail", args=[prefix]))
