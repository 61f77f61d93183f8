"""Domain-data archives: write, read, verify and restore.

An archive is gzip-compressed JSON:

    {"manifest": {"format": 1, "kind": "full"|"incremental", "parent": name|null,
                  "parent_sha256": ...|null, "created_at": RFC 3339, "environment": ...,
                  "migrations": ["app.0001_x", ...], "objects": {"app.model": {"count", "sha256"}}},
     "objects": {"app.model": [row, ...]},      # full: every row; incremental: new or changed
     "deleted": {"app.model": [pk, ...]}}       # incremental only: rows gone since the parent

Rows are Django's "python" serialization (pk, fields, m2m as lists of pks), so a restore keeps
primary keys and references. An incremental archive is computed against the state its chain
describes (not timestamps), so it is exact. A restore computes the difference between the
database and the target state and applies it row by row through the ORM in one transaction,
so every change is in the audit log (`system:restore`) and a failure leaves nothing behind.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.management.color import no_style
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, transaction
from django.db.migrations.recorder import MigrationRecorder

FORMAT = 1
SUFFIX = ".cbpbackup.json.gz"


class BackupError(Exception):
    """An archive or chain is unusable; the message is one line."""


def domain_models():
    return [apps.get_model(label) for label in settings.CBP_DOMAIN_MODELS]


def label_of(model) -> str:
    return model._meta.label_lower


def _canonical(rows) -> bytes:
    return json.dumps(rows, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":")).encode()


def _normalise(rows: list[dict]) -> list[dict]:
    """JSON round trip, so rows read from the database compare equal to rows read from disk."""
    return json.loads(_canonical(rows))


def current_state(using: str = "default") -> dict[str, dict[str, dict]]:
    """{label: {str(pk): row}} for every domain model."""
    state = {}
    for model in domain_models():
        queryset = model._default_manager.using(using).order_by("pk")
        rows = _normalise(serializers.serialize("python", queryset))
        for row in rows:
            for name, value in row["fields"].items():
                if isinstance(value, list) and name in {f.name for f in model._meta.many_to_many}:
                    row["fields"][name] = sorted(value)
        state[label_of(model)] = {str(row["pk"]): row for row in rows}
    return state


def applied_migrations(using: str = "default") -> list[str]:
    recorder = MigrationRecorder(connections[using])
    return sorted(f"{app}.{name}" for app, name in recorder.applied_migrations())


@dataclass
class Archive:
    path: Path
    manifest: dict
    objects: dict[str, list[dict]]
    deleted: dict[str, list[str]] = field(default_factory=dict)
    sha256: str = ""

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.manifest["created_at"].replace("Z", "+00:00"))


def read_archive(path: str | os.PathLike) -> Archive:
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
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: archive format {manifest.get('format')!r} is not {FORMAT}")
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
        if hashlib.sha256(_canonical(rows)).hexdigest() != meta["sha256"]:
            raise BackupError(f"{archive.path.name}: checksum mismatch for {label}")
    missing = set(listed) - set(archive.objects)
    if missing:
        raise BackupError(f"{archive.path.name}: rows missing for {', '.join(sorted(missing))}")


def load_chain(path: str | os.PathLike) -> list[Archive]:
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


def state_of_chain(chain: Iterable[Archive]) -> dict[str, dict[str, dict]]:
    state: dict[str, dict[str, dict]] = {}
    for archive in chain:
        if archive.kind == "full":
            state = {
                label: {str(r["pk"]): r for r in rows} for label, rows in archive.objects.items()
            }
            continue
        for label, rows in archive.objects.items():
            state.setdefault(label, {}).update({str(r["pk"]): r for r in rows})
        for label, pks in archive.deleted.items():
            for pk in pks:
                state.get(label, {}).pop(str(pk), None)
    return state


def write_archive(*, output_dir: str | os.PathLike, incremental: bool, environment: str) -> Path:
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    state = current_state()
    parent = None
    objects: dict[str, list[dict]]
    deleted: dict[str, list[str]] = {}
    if incremental:
        parent = latest_archive(output)
        if parent is None:
            raise BackupError(f"no archive in {output} to be the parent of an incremental backup")
        base = state_of_chain(load_chain(parent.path))
        objects = {
            label: [row for pk, row in rows.items() if base.get(label, {}).get(pk) != row]
            for label, rows in state.items()
        }
        deleted = {
            label: sorted(set(base.get(label, {})) - set(rows)) for label, rows in state.items()
        }
    else:
        objects = {label: list(rows.values()) for label, rows in state.items()}
    kind = "incremental" if incremental else "full"
    manifest = {
        "format": FORMAT,
        "kind": kind,
        "parent": parent.path.name if parent else None,
        "parent_sha256": parent.sha256 if parent else None,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "environment": environment,
        "migrations": applied_migrations(),
        "objects": {
            label: {"count": len(rows), "sha256": hashlib.sha256(_canonical(rows)).hexdigest()}
            for label, rows in objects.items()
        },
    }
    payload = {"manifest": manifest, "objects": objects, "deleted": deleted}
    path = output / f"cbp-{now.strftime('%Y%m%dT%H%M%S%fZ')}-{kind}{SUFFIX}"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(json.dumps(payload, cls=DjangoJSONEncoder).encode()))
    tmp.replace(path)  # atomic: a crash never leaves a half archive under the real name
    return path


def list_archives(directory: str | os.PathLike) -> list[Archive]:
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


def latest_archive(directory) -> Archive | None:
    archives = list_archives(directory)
    return archives[-1] if archives else None


@dataclass
class Plan:
    create: dict[str, list[dict]]
    update: dict[str, list[dict]]
    delete: dict[str, list[str]]

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
                lines.append(f"{label}: create {c}, update {u}, delete {d}")
        return lines or ["no changes"]

    @property
    def empty(self) -> bool:
        return not any([*self.create.values(), *self.update.values(), *self.delete.values()])


def plan_restore(target: dict[str, dict[str, dict]], using: str = "default") -> Plan:
    now = current_state(using)
    plan = Plan({}, {}, {})
    for model in domain_models():
        label = label_of(model)
        have, want = now.get(label, {}), target.get(label, {})
        plan.create[label] = [row for pk, row in want.items() if pk not in have]
        plan.update[label] = [row for pk, row in want.items() if pk in have and have[pk] != row]
        plan.delete[label] = [pk for pk in have if pk not in want]
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


def apply_plan(plan: Plan, using: str = "default") -> None:
    """Apply in one transaction: deletes children first, then creates and updates parents first."""
    models = domain_models()
    with transaction.atomic(using=using):
        for model in reversed(models):
            pks = plan.delete.get(label_of(model), [])
            if pks:
                pk_field = model._meta.pk
                for obj in model._default_manager.using(using).filter(
                    pk__in=[pk_field.to_python(p) for p in pks]
                ):
                    obj.delete()
        for model in models:
            label = label_of(model)
            creates, updates = plan.create.get(label, []), plan.update.get(label, [])
            for rows, existing in ((creates, False), (updates, True)):
                for deserialized in serializers.deserialize("python", rows, using=using):
                    # A raw save keeps the archived timestamps; marking an existing row as not
                    # new makes auditlog record the update with its field changes.
                    deserialized.object._state.adding = not existing
                    deserialized.save(using=using)
        connection = connections[using]
        sql = connection.ops.sequence_reset_sql(no_style(), models)
        if sql:
            with connection.cursor() as cursor:
                for statement in sql:
                    cursor.execute(statement)
