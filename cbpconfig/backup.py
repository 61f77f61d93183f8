"""Domain-data archives: write, read, verify and restore.

An archive is gzip-compressed JSON:

    {"manifest": {"format": 2, "kind": "full"|"incremental", "parent": name|null,
                  "parent_sha256": ...|null, "created_at": RFC 3339, "environment": ...,
                  "migrations": ["app.0001_x", ...],
                  "not_archived": {"app.model": ["field", ...]},
                  "objects": {"app.model": {"count", "sha256"}}},
     "objects": {"app.model": [row, ...]},      # full: every row; incremental: new or changed
     "deleted": {"app.model": [pk, ...]}}       # incremental only: rows gone since the parent

A row has the shape of Django's "python" serialization, ``{"model", "pk", "fields"}`` (m2m as
the sorted list of related pks), so a restore keeps primary keys and references, and Django's
deserializer (``field.to_python``) reads it back. Values are encoded losslessly, by field type,
in one place (:func:`encode_value`):

- date-times: ISO 8601 with every microsecond (``…23.684335Z``; UTC written as ``Z``), times
  and dates ISO 8601 — never DjangoJSONEncoder, which cuts microseconds to milliseconds;
- decimals: ``str(Decimal)``, the exact digits and scale (``"25.0"`` stays ``"25.0"``);
- JSON fields: the stored value itself, keys in the order the database returns them, floats
  and ints as they are (``1.0`` is not ``1``); anything that is not plain JSON is refused;
- other values (int, float, str, bool, None) as they are; an unknown type is refused, never
  approximated.

Rows are compared by their exact encoding (:func:`same`: key order and types count), so a
restore, an incremental archive and ``verify_backup`` see every difference.

Fields listed in :data:`NOT_ARCHIVED` are left out of archives and of every comparison *by
design*; nothing else is. A checksum covers the rows exactly as written (format 2).

Formats: this module writes format 2 and reads 1 and 2. Format 1 (DjangoJSONEncoder: date-times
and times cut to milliseconds, JSON object keys sorted, checksums over sorted keys) is read and
restored as it is; it cannot give back what it did not keep. Its rows are compared without the
order of JSON object keys, which it did not keep either (see :data:`KEY_ORDER_UNKNOWN`).

An incremental archive is computed against the state its chain describes (not timestamps), so it
is exact. A restore computes the difference between the database and the target state and applies
it row by row through the ORM in one transaction, so every change is in the audit log
(`system:restore`) and a failure leaves nothing behind.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.management.color import no_style
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils.duration import duration_iso_string

from cbpconfig.dates import rfc3339

FORMAT = 2
READABLE_FORMATS = (1, 2)
SUFFIX = ".cbpbackup.json.gz"

# Fields left out of archives, restores and comparisons BY DESIGN — the only ones, by label
# ("app.model": frozenset of field names). Only for an internal stamp that must move forward on
# every write rather than be put back (restoring an old value would let one stamp name two
# different contents): a restore then gives such a row its field's default. Empty since
# Calendar.data_version (moved by every holiday write, so no restore of holidays could put it
# back) left the database; keep it empty if possible, and drop an entry when its field goes.
NOT_ARCHIVED: dict[str, frozenset[str]] = {}


class BackupError(Exception):
    """An archive or chain is unusable; the message is one line."""


def domain_models() -> list[type[models.Model]]:
    return [apps.get_model(label) for label in settings.CBP_DOMAIN_MODELS]


def label_of(model: type[models.Model]) -> str:
    return model._meta.label_lower


def not_archived(model: type[models.Model]) -> frozenset[str]:
    return NOT_ARCHIVED.get(label_of(model), frozenset())


def archived_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    """The fields a row carries, in the model's order (as Django's serializer names them):
    concrete non-pk fields, then many-to-many fields with an automatic through table."""
    concrete: Any = model._meta.concrete_model  # Field.serialize is not in the stubs
    opts = concrete._meta
    skip = not_archived(model)
    local = [f for f in opts.local_fields if f.serialize and f.name not in skip]
    m2m = [
        f
        for f in opts.local_many_to_many
        if f.serialize and f.remote_field.through._meta.auto_created and f.name not in skip
    ]
    return local + m2m


# --- the lossless encoding -------------------------------------------------------------------

_JSON_SCALARS = (str, int, float, bool, type(None))


def _check_json(value: object, where: str) -> None:
    """Refuse anything JSON cannot carry exactly (tuples, non-string keys, Decimals, ...)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise BackupError(f"{where}: JSON object key {key!r} is not a string")
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
        elif not isinstance(item, _JSON_SCALARS):
            raise BackupError(f"{where}: {type(item).__name__} inside a JSON value")


def _pk_order(value: Any) -> tuple[bool, Any]:
    return (isinstance(value, str), value)


def encode_value(model_field: models.Field[Any, Any], value: Any, where: str = "value") -> Any:  # noqa: C901 - one flat branch per archived type
    """The exact JSON form of one field value; Django's ``field.to_python`` reads it back."""
    if value is None:
        return None
    if isinstance(model_field, models.JSONField):
        _check_json(value, where)
        return value
    if isinstance(model_field, models.ManyToManyField):
        target = model_field.target_field
        return sorted((encode_value(target, v, where) for v in value), key=_pk_order)
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        text = value.isoformat()  # every microsecond; the offset as stored
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        if value.utcoffset() is not None:
            raise BackupError(f"{where}: a time of day with a UTC offset")
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # exact digits and scale: "25.0", "1E+2", "0.10"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, timedelta):
        return duration_iso_string(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise BackupError(f"{where}: cannot archive a {type(value).__name__} exactly")


def encode_object(obj: models.Model) -> dict[str, Any]:
    """One row: ``{"model", "pk", "fields"}``, fields in the model's order."""
    model = type(obj)
    label = label_of(model)
    fields = {}
    for f in archived_fields(model):
        where = f"{label} pk={obj.pk} {f.name}"
        if f.many_to_many:
            value = [related.pk for related in getattr(obj, f.name).all()]
            fields[f.name] = encode_value(f, value, where)
        elif f.is_relation:
            relation: Any = f  # a ForeignKey or OneToOneField: archived as its target's value
            fields[f.name] = encode_value(relation.target_field, f.value_from_object(obj), where)
        else:
            fields[f.name] = encode_value(f, f.value_from_object(obj), where)
    return {"model": label, "pk": encode_value(model._meta.pk, obj.pk, label), "fields": fields}


# Marks a row read from a format 1 archive (JSON object keys were written sorted): such a row
# is compared without the order of keys. Django's deserializer ignores the extra key.
KEY_ORDER_UNKNOWN = "json_key_order_unknown"


def canonical_row(
    model: type[models.Model], row: dict[str, Any], *, key_order_known: bool = True
) -> dict[str, Any]:
    """A row read from an archive in the form :func:`encode_object` gives: fields in the
    model's order, m2m sorted, fields left out by design dropped (format 1 archived them).
    Fields the model does not have are kept at the end, so they show up as a difference."""
    given = dict(row.get("fields") or {})
    for name in not_archived(model):
        given.pop(name, None)
    fields = {}
    for f in archived_fields(model):
        if f.name in given:
            value = given.pop(f.name)
            if f.many_to_many and isinstance(value, list):
                value = sorted(value, key=_pk_order)
            fields[f.name] = value
    fields.update(given)
    canonical = {"model": label_of(model), "pk": row.get("pk"), "fields": fields}
    if not key_order_known:
        canonical[KEY_ORDER_UNKNOWN] = True
    return canonical


def _encoded(value: Any, *, sort_keys: bool) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=sort_keys)


def _loose(*rows: dict[str, Any] | None) -> bool:
    return any(row is not None and row.get(KEY_ORDER_UNKNOWN) for row in rows)


def same(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two rows are identical: their exact encodings are equal (order of JSON keys and
    the type of every number count; key order not when a row comes from a format 1 archive)."""
    if a is None or b is None:
        return a is b
    loose = _loose(a, b)
    a, b = ({k: v for k, v in row.items() if k != KEY_ORDER_UNKNOWN} for row in (a, b))
    return _encoded(a, sort_keys=loose) == _encoded(b, sort_keys=loose)


def changed_fields(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The names of the fields whose values are not identical in two rows."""
    loose = _loose(a, b)
    fa, fb = a["fields"], b["fields"]
    names = [*fa, *(n for n in fb if n not in fa)]
    return [
        n
        for n in names
        if n not in fa
        or n not in fb
        or _encoded(fa[n], sort_keys=loose) != _encoded(fb[n], sort_keys=loose)
    ]


def _rows_sha256(rows: list[dict[str, Any]], archive_format: int) -> str:
    if archive_format == 1:
        data = json.dumps(rows, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))
    else:
        data = json.dumps(rows, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


# --- states ----------------------------------------------------------------------------------

State = dict[str, dict[str, dict[str, Any]]]  # {label: {str(pk): row}}


def current_state(using: str = "default") -> State:
    """{label: {str(pk): row}} for every domain model, rows in primary-key order."""
    state = {}
    for model in domain_models():
        m2m = [f.name for f in archived_fields(model) if f.many_to_many]
        queryset = model._default_manager.using(using).order_by("pk").prefetch_related(*m2m)
        rows = [encode_object(obj) for obj in queryset]
        state[label_of(model)] = {str(row["pk"]): row for row in rows}
    return state


def differences(expected: State, actual: State, limit: int = 10) -> list[str]:
    """``label pk=N (field, ...)`` for each row that is not identical, at most ``limit``."""
    found = []
    for label in sorted(set(expected) | set(actual)):
        want, have = expected.get(label, {}), actual.get(label, {})
        for pk in sorted(set(want) | set(have), key=lambda p: (len(p), p)):
            a, b = want.get(pk), have.get(pk)
            if same(a, b):
                continue
            if a is None or b is None:
                detail = "missing" if b is None else "unexpected"
            else:
                detail = ", ".join(changed_fields(a, b)) or "field order"
            found.append(f"{label} pk={pk} ({detail})")
            if len(found) >= limit:
                return found
    return found


def applied_migrations(using: str = "default") -> list[str]:
    recorder = MigrationRecorder(connections[using])
    return sorted(f"{app}.{name}" for app, name in recorder.applied_migrations())


# --- archives --------------------------------------------------------------------------------


@dataclass
class Archive:
    path: Path
    manifest: dict[str, Any]
    objects: dict[str, list[dict[str, Any]]]
    deleted: dict[str, list[str]] = field(default_factory=dict)
    sha256: str = ""

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def format(self) -> int:
        return int(self.manifest["format"])

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.manifest["created_at"].replace("Z", "+00:00"))


def read_archive(path: str | os.PathLike[str]) -> Archive:
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = json.loads(gzip.decompress(raw))
    except FileNotFoundError:
        raise BackupError(f"{path}: no such archive") from None
    except (OSError, ValueError, EOFError) as exc:
        raise BackupError(f"{path}: not a readable archive ({type(exc).__name__})") from None
    if not isinstance(data, dict) or "manifest" not in data or "objects" not in data:
        raise BackupError(f"{path}: not a CBP archive (no manifest)")
    manifest = data["manifest"]
    if not isinstance(manifest, dict) or manifest.get("format") not in READABLE_FORMATS:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        readable = " or ".join(str(f) for f in READABLE_FORMATS)
        raise BackupError(f"{path}: archive format {found!r} is not {readable}")
    return Archive(
        path, manifest, data["objects"], data.get("deleted") or {}, hashlib.sha256(raw).hexdigest()
    )


def verify_checksums(archive: Archive) -> None:
    listed = archive.manifest.get("objects", {})
    for label, rows in archive.objects.items():
        meta = listed.get(label)
        if meta is None:
            raise BackupError(f"{archive.path.name}: {label} is not in the manifest")
        if len(rows) != meta["count"]:
            raise BackupError(
                f"{archive.path.name}: {label} has {len(rows)} rows, manifest says {meta['count']}"
            )
        if _rows_sha256(rows, archive.format) != meta["sha256"]:
            raise BackupError(f"{archive.path.name}: checksum mismatch for {label}")
    missing = set(listed) - set(archive.objects)
    if missing:
        raise BackupError(f"{archive.path.name}: rows missing for {', '.join(sorted(missing))}")


def load_chain(path: str | os.PathLike[str]) -> list[Archive]:
    """The archives from the full one to `path`, checksums and parent links verified."""
    chain = [read_archive(path)]
    while chain[0].kind == "incremental":
        child = chain[0]
        parent_name = child.manifest.get("parent")
        if not parent_name:
            raise BackupError(f"{child.path.name}: incremental archive without a parent")
        parent = read_archive(child.path.parent / parent_name)
        if parent.sha256 != child.manifest.get("parent_sha256"):
            raise BackupError(
                f"{child.path.name}: parent {parent_name} has changed since (sha256 differs)"
            )
        chain.insert(0, parent)
        if len(chain) > 1000:
            raise BackupError("archive chain longer than 1000: refusing")
    for archive in chain:
        verify_checksums(archive)
    return chain


def _model_of(label: str, archive: Archive) -> type[models.Model]:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        raise BackupError(f"{archive.path.name}: unknown object type {label}") from None


def state_of_chain(chain: Iterable[Archive]) -> State:
    """The state the chain describes, rows in the form :func:`current_state` gives."""
    state: State = {}
    for archive in chain:
        if archive.kind == "full":
            state = {}
        for label, rows in archive.objects.items():
            model = _model_of(label, archive)
            state.setdefault(label, {}).update(
                {
                    str(r["pk"]): canonical_row(model, r, key_order_known=archive.format >= 2)
                    for r in rows
                }
            )
        for label, pks in archive.deleted.items():
            for pk in pks:
                state.get(label, {}).pop(str(pk), None)
    return state


def _consistent_snapshot(using: str = "default") -> tuple[State, list[str]]:
    """The state of every domain table and the applied migrations as of one instant: on
    PostgreSQL one REPEATABLE READ transaction, so a write committed while the tables are read
    cannot leave a child row without its parent in the archive."""
    connection = connections[using]
    outermost = not connection.in_atomic_block
    with transaction.atomic(using=using):
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return current_state(using), applied_migrations(using)


def write_archive(
    *, output_dir: str | os.PathLike[str], incremental: bool, environment: str
) -> Path:
    """Write one archive and return its path. An incremental one needs a parent in
    `output_dir`; when the parent's chain was made with other migrations (it could not be
    restored here), a full archive is written instead."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    state, migrations = _consistent_snapshot()
    parent = None
    objects: dict[str, list[dict[str, Any]]]
    deleted: dict[str, list[str]] = {}
    if incremental:
        parent = latest_archive(output)
        if parent is None:
            raise BackupError(f"no archive in {output} to be the parent of an incremental backup")
        chain = load_chain(parent.path)
        if any(set(a.manifest.get("migrations", [])) != set(migrations) for a in chain):
            # A chain across a migration could never be restored (check_migrations): start a
            # new one. The caller sees it in the name (`-full`).
            incremental, parent = False, None
    if incremental:
        base = state_of_chain(chain)
        objects = {
            label: [row for pk, row in rows.items() if not same(base.get(label, {}).get(pk), row)]
            for label, rows in state.items()
        }
        deleted = {
            label: sorted(set(base.get(label, {})) - set(rows), key=lambda p: (len(p), p))
            for label, rows in state.items()
        }
    else:
        objects = {label: list(rows.values()) for label, rows in state.items()}
    kind = "incremental" if incremental else "full"
    manifest = {
        "format": FORMAT,
        "kind": kind,
        "parent": parent.path.name if parent else None,
        "parent_sha256": parent.sha256 if parent else None,
        "created_at": rfc3339(now),
        "environment": environment,
        "migrations": migrations,
        "not_archived": {
            label: sorted(names)
            for label, names in sorted(NOT_ARCHIVED.items())
            if label in state and names
        },
        "objects": {
            label: {"count": len(rows), "sha256": _rows_sha256(rows, FORMAT)}
            for label, rows in objects.items()
        },
    }
    payload = {"manifest": manifest, "objects": objects, "deleted": deleted}
    path = output / f"cbp-{now.strftime('%Y%m%dT%H%M%S%fZ')}-{kind}{SUFFIX}"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(json.dumps(payload, separators=(",", ":")).encode()))
    tmp.replace(path)  # atomic: a crash never leaves a half archive under the real name
    return path


def list_archives(directory: str | os.PathLike[str]) -> list[Archive]:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            found.append(read_archive(path))
        except BackupError:
            continue
    return sorted(found, key=lambda a: a.manifest["created_at"])


def latest_archive(directory: str | os.PathLike[str]) -> Archive | None:
    archives = list_archives(directory)
    return archives[-1] if archives else None


# --- restore ---------------------------------------------------------------------------------


@dataclass
class Plan:
    create: dict[str, list[dict[str, Any]]]
    update: dict[str, list[dict[str, Any]]]
    delete: dict[str, list[str]]
    # Rows of `update` applied as delete + create (pks by label): rows of a model nothing
    # refers to whose unique fields change, so that two of them can swap values.
    recreate: dict[str, set[str]] = field(default_factory=dict)

    def summary(self) -> list[str]:
        lines = []
        for label in settings.CBP_DOMAIN_MODELS:
            label = label.lower()
            c, u, d = (
                len(self.create.get(label, [])),
                len(self.update.get(label, [])),
                len(self.delete.get(label, [])),
            )
            if c or u or d:
                line = f"{label}: create {c}, update {u}, delete {d}"
                r = len(self.recreate.get(label, ()))
                if r:
                    line += f" ({r} of the updates by delete and create: unique fields change)"
                lines.append(line)
        return lines or ["no changes"]

    @property
    def empty(self) -> bool:
        return not any([*self.create.values(), *self.update.values(), *self.delete.values()])


def _unique_field_sets(model: type[models.Model]) -> list[set[str]]:
    opts = model._meta
    sets = [{f.name} for f in opts.local_fields if f.unique and not f.primary_key]
    sets += [set(names) for names in opts.unique_together]
    sets += [
        set(c.fields)
        for c in opts.constraints
        if isinstance(c, models.UniqueConstraint) and c.fields
    ]
    return sets


def _is_leaf(model: type[models.Model]) -> bool:
    """Nothing (domain data or not) refers to its rows: deleting one deletes nothing else."""
    return not model._meta.related_objects


def plan_restore(target: State, using: str = "default") -> Plan:
    now = current_state(using)
    plan = Plan({}, {}, {})
    for model in domain_models():
        label = label_of(model)
        have, want = now.get(label, {}), target.get(label, {})
        plan.create[label] = [row for pk, row in want.items() if pk not in have]
        plan.update[label] = [
            row for pk, row in want.items() if pk in have and not same(have[pk], row)
        ]
        plan.delete[label] = [pk for pk in have if pk not in want]
        unique = set().union(*_unique_field_sets(model))
        if unique and _is_leaf(model):
            plan.recreate[label] = {
                str(row["pk"])
                for row in plan.update[label]
                if unique & set(changed_fields(have[str(row["pk"])], row))
            }
    return plan


def check_migrations(chain: list[Archive], using: str = "default") -> None:
    applied = set(applied_migrations(using))
    for archive in chain:
        recorded = set(archive.manifest.get("migrations", []))
        if recorded != applied:
            extra = sorted(recorded - applied)[:3]
            missing = sorted(applied - recorded)[:3]
            raise BackupError(
                f"{archive.path.name}: made with other migrations "
                f"(not applied here: {extra or '-'}; applied here only: {missing or '-'})"
            )


def _save_rows(rows: list[dict[str, Any]], *, existing: bool, using: str) -> None:
    for deserialized in serializers.deserialize("python", rows, using=using):
        # A raw save keeps the archived values as they are (no auto_now); marking an existing
        # row as not new makes auditlog record the update with its field changes.
        deserialized.object._state.adding = not existing
        deserialized.save(using=using)


def apply_plan(plan: Plan, using: str = "default") -> None:
    """Apply in one transaction: deletes children first (with the rows to re-create), then,
    parents first, updates in place and creates (new rows and re-created ones)."""
    models_in_order = domain_models()
    with transaction.atomic(using=using):
        for model in reversed(models_in_order):
            label = label_of(model)
            pks = [*plan.delete.get(label, []), *sorted(plan.recreate.get(label, ()))]
            if pks:
                pk_field = model._meta.pk
                for obj in model._default_manager.using(using).filter(
                    pk__in=[pk_field.to_python(p) for p in pks]
                ):
                    obj.delete()
        for model in models_in_order:
            label = label_of(model)
            recreate = plan.recreate.get(label, set())
            updates = plan.update.get(label, [])
            _save_rows(
                [row for row in updates if str(row["pk"]) not in recreate],
                existing=True,
                using=using,
            )
            _save_rows(
                [*plan.create.get(label, []), *(r for r in updates if str(r["pk"]) in recreate)],
                existing=False,
                using=using,
            )
        connection = connections[using]
        sql = connection.ops.sequence_reset_sql(no_style(), models_in_order)
        if sql:
            with connection.cursor() as cursor:
                for statement in sql:
                    cursor.execute(statement)
