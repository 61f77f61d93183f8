"""History as people read it, from the audit log: every path that writes (API, console,
commands, imports, restore) writes one audit entry per change, so this is the one source.

An entry is shown with the object's natural key (codes, keys, dates) rather than database ids,
each changed field as ``old → new`` (foreign keys as the code of the object they point to),
and who did it. An object's history includes its children's entries (a calendar's holidays, a
window's rules and overrides, a configuration's values; an institution's values, windows and
API keys), found through the audit log too, so a child deleted long ago is still there.

Values are shown as the audit log stores them: sensitive configuration values were masked
before the entry was written (``configuration.signals``), and an API key's stored hash is
never stored (``cbpconfig.apps``) nor shown (its primary key embeds it: only the prefix is).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Page, Paginator
from django.db.models import Model, Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from cbpconfig.models import AuditEntry

ACTIONS = {0: "created", 1: "changed", 2: "deleted", 3: "accessed"}

#: Children whose entries belong to a parent's history: parent -> [(child, foreign key)].
CHILDREN: dict[str, list[tuple[str, str]]] = {
    "calendars.calendar": [("calendars.holiday", "calendar")],
    "windows.processingwindow": [
        ("windows.windowrule", "window"),
        ("windows.windowoverride", "window"),
    ],
    "configuration.configuration": [("configuration.configurationvalue", "configuration")],
    "configuration.institution": [
        ("configuration.configurationvalue", "institution"),
        ("windows.processingwindow", "institution"),
        ("cbpconfig.apikey", "institution"),
    ],
}

#: Bookkeeping fields that say nothing a reader needs (the version is the number of changes).
HIDDEN_FIELDS = frozenset(
    {"id", "created_at", "updated_at", "created", "modified", "version", "hashed_key"}
)
WEEKDAY_FIELDS = frozenset({"weekdays", "weekend_days"})
WEEKDAY_NAMES = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}
MAX_VALUE_CHARS = 160


@dataclass
class FieldChange:
    field: str
    old: str
    new: str


@dataclass
class EntryView:
    """One audit entry, ready for a template."""

    id: int
    timestamp: datetime
    action: str
    model: str  # "holiday", "processing window", ...
    model_label: str  # "calendars.holiday"
    object_label: str
    object_url: str | None
    actor: str
    actor_kind: str  # "user", "api", "command"
    request_id: str | None
    changes: list[FieldChange] = field(default_factory=list)
    version: int | None = None  # the version this change made, when the entry records it


def model_label_of(model: type[Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def actor_kind(actor: str) -> str:
    if actor.startswith("api-key:"):
        return "api"
    if actor.startswith("system:"):
        return "command"
    return "user"


def _model_of(label: str) -> type[Model] | None:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def _shown_fields(model: type[Model] | None) -> dict[str, Any]:
    """The fields of ``model`` a history shows: concrete and many-to-many, not bookkeeping."""
    if model is None:
        return {}
    fields: dict[str, Any] = {}
    for f in model._meta.get_fields():
        if f.auto_created and not f.concrete:
            continue  # reverse relations: auditlog writes "app.Model.None" for them
        if (f.concrete or f.many_to_many) and f.name not in HIDDEN_FIELDS:
            fields[f.name] = f
    return fields


def format_value(name: str, value: Any, labels: dict[str, str] | None = None) -> str:
    """A stored audit value as a person reads it."""
    if value is None or value == "None":
        return "—"
    if labels is not None:
        return labels.get(str(value), f"#{value} (gone)")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name in WEEKDAY_FIELDS and isinstance(value, list):
        if not value:
            return "none"
        if all(isinstance(v, int) and v in WEEKDAY_NAMES for v in value):
            return ", ".join(WEEKDAY_NAMES[v] for v in value)
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _object_url(label: str, pk: str) -> str | None:
    model = _model_of(label)
    if model is None:
        return None
    try:
        if label == "cbpconfig.apikey":
            prefix = str(pk).split(".", 1)[0]
            return reverse("admin:cbpconfig_apikey_detail", args=[prefix])
        if label == "windows.windowrule":
            window = (
                model._default_manager.filter(pk=pk).values_list("window_id", flat=True).first()
            )
            if window is None:
                return None
            return reverse("admin:windows_processingwindow_change", args=[window])
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])
    except NoReverseMatch:
        return None


class _Labels:
    """Codes for foreign-key values, looked up in bulk: the object's ``str()`` while it
    exists (a code or key), else its name in its last audit entry."""

    def __init__(self) -> None:
        self.wanted: dict[type[Model], set[str]] = defaultdict(set)
        self.found: dict[type[Model], dict[str, str]] = {}

    def want(self, model: type[Model], value: object) -> None:
        if value is not None and value != "None":
            self.wanted[model].add(str(value))

    def resolve(self) -> None:
        for model, pks in self.wanted.items():
            found = {str(obj.pk): str(obj) for obj in model._default_manager.filter(pk__in=pks)}
            missing = pks - set(found)
            if missing:
                content_type = ContentType.objects.get_for_model(model)
                for pk, text in (
                    AuditEntry.objects.filter(content_type=content_type, object_pk__in=missing)
                    .order_by("timestamp", "id")
                    .values_list("object_pk", "object_repr")
                ):
                    found[pk] = f"{text} (deleted)"
            self.found[model] = found

    def of(self, model: type[Model]) -> dict[str, str]:
        return self.found.get(model, {})


def describe_entries(entries: Iterable[AuditEntry]) -> list[EntryView]:
    """Audit entries as :class:`EntryView`, with foreign keys named by code."""
    entries = list(entries)
    labels = _Labels()
    plans = []
    for entry in entries:
        content_type = ContentType.objects.get_for_id(entry.content_type_id)
        label = f"{content_type.app_label}.{content_type.model}"
        model = _model_of(label)
        fields = _shown_fields(model)
        changes = entry.changes if isinstance(entry.changes, dict) else {}
        for name, pair in changes.items():
            f = fields.get(name)
            if f is not None and f.many_to_one and isinstance(pair, list | tuple):
                for side in pair:
                    labels.want(f.related_model, side)
        plans.append((entry, label, model, fields, changes))
    labels.resolve()
    views = []
    for entry, label, model, fields, changes in plans:
        rows = []
        for name in sorted(changes, key=lambda n: list(fields).index(n) if n in fields else 999):
            f = fields.get(name)
            pair = changes[name]
            if f is None or not isinstance(pair, list | tuple) or len(pair) != 2:
                continue
            old, new = pair
            if old == new:
                continue
            names = labels.of(f.related_model) if f.many_to_one else None
            rows.append(
                FieldChange(
                    field=str(getattr(f, "verbose_name", name)),
                    old=format_value(name, old, names),
                    new=format_value(name, new, names),
                )
            )
        version_pair = changes.get("version")
        version = None
        if isinstance(version_pair, list | tuple) and len(version_pair) == 2:
            try:
                version = int(version_pair[1])
            except (TypeError, ValueError):
                version = None
        actor = entry.actor_display or "unknown"
        views.append(
            EntryView(
                id=entry.pk,
                timestamp=entry.timestamp,
                action=ACTIONS.get(entry.action, str(entry.action)),
                model=str(model._meta.verbose_name) if model else label,
                model_label=label,
                object_label=entry.object_repr,
                object_url=_object_url(label, entry.object_pk) if entry.action != 2 else None,
                actor=actor,
                actor_kind=actor_kind(actor),
                request_id=entry.cid,
                changes=rows,
                version=version,
            )
        )
    return views


# -- which entries belong to an object ------------------------------------------------------


def _fk_mentions(fk: str, pks: Iterable[str]) -> Q:
    """Entries whose ``changes`` name one of ``pks`` as ``fk`` (old or new side): the creation
    and deletion of a child record its parent."""
    q = Q()
    for pk in pks:
        value: int | str
        try:
            value = int(pk)
        except (TypeError, ValueError):
            value = pk
        q |= Q(**{f"changes__{fk}__0": value}) | Q(**{f"changes__{fk}__1": value})
    return q


def _children(label: str, pks: set[str], depth: int) -> list[tuple[ContentType, set[str]]]:
    found: list[tuple[ContentType, set[str]]] = []
    if depth <= 0 or not pks:
        return found
    for child_label, fk in CHILDREN.get(label, ()):
        model = _model_of(child_label)
        if model is None:
            continue
        content_type = ContentType.objects.get_for_model(model)
        current = {
            str(pk)
            for pk in model._default_manager.filter(**{f"{fk}__in": list(pks)}).values_list(
                "pk", flat=True
            )
        }
        past = set(
            AuditEntry.objects.filter(content_type=content_type)
            .filter(_fk_mentions(fk, pks))
            .values_list("object_pk", flat=True)
        )
        child_pks = current | past
        if child_pks:
            found.append((content_type, child_pks))
            found += _children(child_label, child_pks, depth - 1)
    return found


def entries_for(obj: Model, *, children: bool = True, depth: int = 2) -> QuerySet[AuditEntry]:
    """The audit entries of ``obj`` and (with ``children``) of its children, newest first."""
    label = model_label_of(type(obj))
    content_type = ContentType.objects.get_for_model(type(obj))
    q = Q(content_type=content_type, object_pk=str(obj.pk))
    if children:
        for child_type, pks in _children(label, {str(obj.pk)}, depth):
            q |= Q(content_type=child_type, object_pk__in=list(pks))
    # AuditEntry's base class is untyped (django-auditlog): its manager is Any to mypy.
    return cast("QuerySet[AuditEntry]", AuditEntry.objects.filter(q).order_by("-timestamp", "-id"))


def changes_since(obj: Model, version: int) -> list[EntryView]:
    """What was done to ``obj`` itself after it was at ``version``, oldest first (for a form
    opened at ``version`` whose save is refused as stale)."""
    content_type = ContentType.objects.get_for_model(type(obj))
    recent = AuditEntry.objects.filter(content_type=content_type, object_pk=str(obj.pk)).order_by(
        "-timestamp", "-id"
    )[:100]
    views = [v for v in describe_entries(recent) if v.version is not None and v.version > version]
    return list(reversed(views))


def fields_changed_since(obj: Model, version: int) -> dict[str, tuple[Any, Any]]:
    """``{field: (value before the first change, value after the last)}`` of the changes made
    to ``obj`` itself after it was at ``version``, as the audit log stores them."""
    content_type = ContentType.objects.get_for_model(type(obj))
    entries = AuditEntry.objects.filter(
        content_type=content_type, object_pk=str(obj.pk), action=1
    ).order_by("timestamp", "id")
    fields: dict[str, tuple[Any, Any]] = {}
    for entry in entries:
        changes = entry.changes if isinstance(entry.changes, dict) else {}
        made = changes.get("version")
        try:
            if made is None or int(made[1]) <= version:
                continue
        except (TypeError, ValueError, IndexError):
            continue
        for name, pair in changes.items():
            if isinstance(pair, list | tuple) and len(pair) == 2 and name not in HIDDEN_FIELDS:
                first = fields.get(name, (pair[0], None))[0]
                fields[name] = (first, pair[1])
    return fields


# -- the change log's filters ---------------------------------------------------------------


def institution_filter(code: str) -> Q | None:
    """Entries about institution ``code``: its own, its values, windows (and theirs), keys."""
    institution_model = apps.get_model("configuration", "Institution")
    content_type = ContentType.objects.get_for_model(institution_model)
    pk = institution_model.objects.filter(code=code).values_list("pk", flat=True).first()
    if pk is None:
        # A deleted institution: find it by its code in the audit log.
        pk = (
            AuditEntry.objects.filter(content_type=content_type, object_repr=code)
            .values_list("object_pk", flat=True)
            .first()
        )
    if pk is None:
        return None
    q = Q(content_type=content_type, object_pk=str(pk))
    for child_type, pks in _children("configuration.institution", {str(pk)}, 2):
        q |= Q(content_type=child_type, object_pk__in=list(pks))
    return q


def model_choices() -> list[tuple[str, str]]:
    """The audited models, as (``app.model``, verbose name) for the change log's filter."""
    from auditlog.registry import auditlog

    choices = []
    for model in auditlog.get_models():
        choices.append((model_label_of(model), str(model._meta.verbose_name)))
    return sorted(choices, key=lambda c: c[1])


def filtered_entries(
    *,
    actor: str = "",
    model: str = "",
    institution: str = "",
    since: date | None = None,
    until: date | None = None,
    action: str = "",
) -> QuerySet[AuditEntry]:
    queryset = AuditEntry.objects.all()
    if actor:
        queryset = queryset.filter(
            Q(actor_name__icontains=actor)
            | Q(actor_name__isnull=True, actor__username__icontains=actor)
        )
    if model:
        app_label, _, model_name = model.partition(".")
        queryset = queryset.filter(
            content_type__app_label=app_label, content_type__model=model_name
        )
    if institution:
        q = institution_filter(institution)
        queryset = queryset.filter(q) if q is not None else queryset.none()
    tz = timezone.get_current_timezone()
    if since:
        queryset = queryset.filter(timestamp__gte=datetime.combine(since, time.min, tzinfo=tz))
    if until:
        end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=tz)
        queryset = queryset.filter(timestamp__lt=end)
    codes = {name: code for code, name in ACTIONS.items()}
    if action in codes:
        queryset = queryset.filter(action=codes[action])
    return cast(
        "QuerySet[AuditEntry]", queryset.select_related("actor").order_by("-timestamp", "-id")
    )


def page_of(
    queryset: QuerySet[AuditEntry], number: int | str | None, per_page: int = 50
) -> tuple[Page[AuditEntry], list[EntryView]]:
    """One page of entries, described: ``(page, [EntryView])``."""
    page = Paginator(queryset, per_page).get_page(number)
    return page, describe_entries(page.object_list)
