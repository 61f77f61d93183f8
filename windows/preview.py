"""What a window's page shows besides its form: whether it is open now (also on the console's
home and institution pages), and the preview.

The preview is on the change form itself: "Preview" validates the posted form and its
inline overrides exactly as a save would, saves nothing, and shows the form again — every
unsaved row kept, Save beside it — with the next 14 days of sessions as a difference:
before (as stored, what the API answers now) and after (what this form would give).

Both sides come from the code that serves the API (``windows.selectors``), so the preview is
what the API will answer once saved.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote

from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.forms.formsets import all_valid
from django.urls import reverse

from windows import selectors
from windows.mappers import override_from_row
from windows.models import ProcessingWindow, WindowOverride
from windows.scheduling import WindowSpec

CLOSING_SOON = timedelta(hours=1)


@dataclass
class WindowNow:
    """A window, open or closed at an instant, as its page and the console show it."""

    code: str
    name: str
    url: str
    institution: str | None
    timezone: str
    is_open: bool
    closes_at: datetime | None  # the cut-off of the session open now
    next_opens_at: datetime | None
    next_closes_at: datetime | None
    seconds_until_close: int | None

    @property
    def closing_soon(self) -> bool:
        return self.is_open and (self.seconds_until_close or 0) <= CLOSING_SOON.total_seconds()


def window_status(window: ProcessingWindow, now: datetime) -> WindowNow:
    """The window's status at ``now`` as the status endpoint computes it."""
    compiled = selectors.compiled_window(window.code)
    status = compiled.schedule.status(now)
    current, upcoming = status.current_session, status.next_session
    return WindowNow(
        code=window.code,
        name=window.name,
        url=reverse("admin:windows_processingwindow_change", args=[window.pk]),
        institution=window.institution.code if window.institution is not None else None,
        timezone=compiled.state.spec.timezone,
        is_open=status.is_open,
        closes_at=current.closes_at if current else None,
        next_opens_at=upcoming.opens_at if upcoming else None,
        next_closes_at=upcoming.closes_at if upcoming else None,
        seconds_until_close=status.seconds_until_close,
    )


def _short(local_iso: str) -> str:
    moment = datetime.fromisoformat(local_iso)
    return moment.strftime("%a %d %b %H:%M")


def _span(session: dict) -> str:
    return f"{_short(session['opens_at_local'])} – {_short(session['closes_at_local'])}"


def session_diff(before: list[dict], after: list[dict]) -> list[dict]:
    """Sessions of each business date, before and after, paired in order: ``same``,
    ``changed``, ``added`` or ``removed`` (the API's session dicts in, rows for a table out)."""
    by_date: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for session in before:
        by_date[session["business_date"]][0].append(session)
    for session in after:
        by_date[session["business_date"]][1].append(session)
    rows = []
    for business_date in sorted(by_date):
        old, new = by_date[business_date]
        for i in range(max(len(old), len(new))):
            was = old[i] if i < len(old) else None
            now = new[i] if i < len(new) else None
            if was and now:
                same = (was["opens_at"], was["closes_at"], was["label"]) == (
                    now["opens_at"],
                    now["closes_at"],
                    now["label"],
                )
                status = "same" if same else "changed"
            else:
                status = "added" if now else "removed"
            shown = now if now is not None else was
            assert shown is not None  # noqa: S101 - one side at least, by the loop's bound
            rows.append(
                {
                    "business_date": business_date,
                    "status": status,
                    "label": shown["label"],
                    "source": shown["source"],
                    "before": _span(was) if was else "",
                    "after": _span(now) if now else "",
                    "after_utc": f"{now['opens_at']} – {now['closes_at']}" if now else "",
                }
            )
    return rows


def _pending_spec(new_object, formsets, obj) -> WindowSpec:
    """The window as the posted form and override rows would make it (the form's clean and
    the overrides formset have validated them with the services' checks)."""
    pending = None
    for formset in formsets:
        overrides = getattr(formset, "pending_overrides", None)
        if overrides is not None:
            pending = overrides
    if pending is None:
        pending = (
            [override_from_row(o) for o in WindowOverride.objects.filter(window=obj)]
            if obj is not None
            else []
        )
    return WindowSpec(
        code=new_object.code or "(new)",
        timezone=new_object._pending_timezone,
        is_active=new_object.is_active,
        rules=tuple(new_object._pending_rules),
        overrides=tuple(pending),
    )


def window_preview_context(new_object, formsets, obj) -> dict:
    spec = _pending_spec(new_object, formsets, obj)
    after = selectors.preview_spec(spec, new_object.calendar.code)
    before = selectors.preview_saved(obj) if obj is not None else []
    diff = session_diff(before, after)
    counts: defaultdict[str, int] = defaultdict(int)
    for row in diff:
        counts[row["status"]] += 1
    return {
        "window_diff": diff,
        "window_diff_counts": dict(counts),
        "window_diff_timezone": spec.timezone,
        "window_diff_active": new_object.is_active,
    }


def render_window_preview(model_admin, request, object_id, form_url="", extra_context=None):
    """The change (or add) form of a window, bound to the POST, with the preview — as
    Django's ``_changeform_view`` renders a form, but never saving."""
    add = object_id is None
    to_field = request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR))
    if add:
        if not model_admin.has_add_permission(request):
            raise PermissionDenied
        obj = None
    else:
        obj = model_admin.get_object(request, unquote(object_id), to_field)
        if obj is None:
            return model_admin._get_obj_does_not_exist_redirect(
                request, model_admin.opts, object_id
            )
        if not model_admin.has_change_permission(request, obj):
            raise PermissionDenied

    fieldsets = model_admin.get_fieldsets(request, obj)
    form_class = model_admin.get_form(
        request, obj, change=not add, fields=flatten_fieldsets(fieldsets)
    )
    form = form_class(request.POST, request.FILES, instance=obj)
    formsets, inline_instances = model_admin._create_formsets(
        request, form.instance, change=not add
    )
    form_ok = form.is_valid()
    new_object = model_admin.save_form(request, form, change=not add) if form_ok else form.instance
    formsets_ok = all_valid(formsets)

    context = dict(extra_context or {})
    context["window_preview_asked"] = True
    if form_ok and formsets_ok:
        context.update(window_preview_context(new_object, formsets, obj))

    admin_form = helpers.AdminForm(
        form,
        list(fieldsets),
        model_admin.get_prepopulated_fields(request, obj),
        model_admin.get_readonly_fields(request, obj),
        model_admin=model_admin,
    )
    media = model_admin.media + admin_form.media
    inline_formsets = model_admin.get_inline_formsets(request, formsets, inline_instances, obj)
    for inline_formset in inline_formsets:
        media += inline_formset.media
    title = "Add %s" if add else "Change %s"
    base = {
        **model_admin.admin_site.each_context(request),
        "title": title % model_admin.opts.verbose_name,
        "subtitle": str(obj) if obj else None,
        "adminform": admin_form,
        "object_id": object_id,
        "original": obj,
        "is_popup": IS_POPUP_VAR in request.POST or IS_POPUP_VAR in request.GET,
        "to_field": to_field,
        "media": media,
        "inline_admin_formsets": inline_formsets,
        "errors": helpers.AdminErrorList(form, formsets),
        "preserved_filters": model_admin.get_preserved_filters(request),
    }
    base.update(context)
    return model_admin.render_change_form(
        request, base, add=add, change=not add, obj=obj, form_url=form_url
    )
