"""An object's history page (Django's "History" and auditlog's page of every console model):
its entries and its children's, from the audit log. No domain import: ``cbpconfig.admin``
(plumbing) serves it for every model admin."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from cbpconfig.console import history


def object_history(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, object_id: str
) -> HttpResponse:
    """An object's history with its children's (replaces Django's and auditlog's pages)."""
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        # Django's own redirect (a private helper the stubs do not declare).
        redirect: HttpResponse = model_admin._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]
            request, model_admin.opts, object_id
        )
        return redirect
    if not model_admin.has_view_or_change_permission(request, obj):
        raise PermissionDenied
    opts = model_admin.opts
    page, entries = history.page_of(history.entries_for(obj), request.GET.get("page"))
    return TemplateResponse(
        request,
        "admin/console/object_history.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": f"History: {obj}",
            "opts": opts,
            "object": obj,
            "original": obj,
            "page": page,
            "entries": entries,
            "change_url": reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)]
            ),
            "children": [
                str(model._meta.verbose_name_plural)
                for label, _ in history.CHILDREN.get(history.model_label_of(type(obj)), ())
                if (model := history._model_of(label)) is not None
            ],
        },
    )
