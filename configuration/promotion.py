"""Promotion of configuration between environments: export to YAML, import from it.

The file holds definitions and their values, institutions by code::

    format: cbp-configuration/1
    exported_at: '2026-11-26T18:00:00Z'
    configurations:
    - key: payments.max_amount
      description: Largest single payment
      value_type: decimal
      schema: null
      default: '1000000.00'
      is_sensitive: false
      values:
      - institution: null            # global
        effective_from: '2026-01-01T00:00:00Z'
        value: '1000000.00'

Import semantics: the file is the desired state of every configuration it names. Such a
configuration is created or updated, and its values are matched by (institution,
effective_from): new ones are created, changed ones updated, and stored ones the file does not
list are deleted. Configurations the file does not name are left alone. The whole file is
validated first (every entry, with the same rules as the API); one bad entry refuses the file
and nothing is changed. Sensitive values are exported in clear (the file is an operator's
artefact for promotion, like a database dump) and never printed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml
from django.utils import timezone

from cbpconfig.dates import in_supported_range, outside_supported_range, rfc3339
from configuration import services
from configuration.models import (
    Configuration,
    ConfigurationValue,
    Institution,
    json_depth_error,
)
from configuration.resolution import (
    MASK,
    VALUE_TYPES,
    ConfigError,
    validate_default,
    validate_key,
    validate_schema,
    validate_value,
)

FORMAT = "cbp-configuration/1"
_CONFIG_FIELDS = ("key", "description", "value_type", "schema", "default", "is_sensitive")
_TOP_FIELDS = {"format", "exported_at", "environment", "configurations"}
_VALUE_FIELDS = {"institution", "effective_from", "value"}


class PromotionError(ValueError):
    """The file is refused; ``str(error)`` is one line naming the entry."""


def _same(a: Any, b: Any) -> bool:
    # Strict JSON equality: in Python 1 == 1.0 == True, in a configuration they differ.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _show(value: Any, sensitive: bool) -> str:
    if sensitive:
        return json.dumps(MASK)
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


# --------------------------------------------------------------------------- export


def export_document(*, environment: str | None = None) -> dict[str, Any]:
    """Every configuration and value as a plain document (values in clear)."""
    values_by_config: dict[int, list[dict[str, Any]]] = {}
    rows = ConfigurationValue.objects.select_related("institution").order_by(
        "configuration_id", "institution__code", "effective_from", "id"
    )
    for row in rows:
        values_by_config.setdefault(row.configuration_id, []).append(
            {
                "institution": row.institution.code if row.institution is not None else None,
                "effective_from": rfc3339(row.effective_from),
                "value": row.value,
            }
        )
    for group in values_by_config.values():
        # Global first, then by institution code and instant: a stable, diffable order.
        group.sort(
            key=lambda v: (
                v["institution"] is not None,
                v["institution"] or "",
                v["effective_from"],
            )
        )
    configurations = [
        {
            **{name: getattr(c, name) for name in _CONFIG_FIELDS},
            "values": values_by_config.get(c.pk, []),
        }
        for c in Configuration.objects.order_by("key")
    ]
    document: dict[str, Any] = {"format": FORMAT, "exported_at": rfc3339(timezone.now())}
    if environment:
        document["environment"] = environment
    document["configurations"] = configurations
    return document


def export_yaml(*, environment: str | None = None) -> str:
    return yaml.safe_dump(
        export_document(environment=environment),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
    )


# --------------------------------------------------------------------------- import


@dataclass
class PlannedValue:
    institution: str | None
    effective_from: datetime
    value: Any

    @property
    def natural_key(self) -> tuple[str | None, datetime]:
        return (self.institution, self.effective_from)


@dataclass
class PlannedConfiguration:
    fields: dict[str, Any]
    values: list[PlannedValue]

    @property
    def key(self) -> str:
        return self.fields["key"]


@dataclass
class Plan:
    """The difference between the file and the database, and how to apply it."""

    lines: list[str] = field(default_factory=list)
    steps: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    institutions: dict[str, Institution] = field(default_factory=dict)

    def add(self, line: str, counter: str, step: str, **kwargs: Any) -> None:
        self.lines.append(line)
        self.counts[counter] = self.counts.get(counter, 0) + 1
        self.steps.append((step, kwargs))

    @property
    def empty(self) -> bool:
        return not self.steps

    def summary(self) -> str:
        if self.empty:
            return "no changes"
        order = [
            "configurations created",
            "configurations updated",
            "values created",
            "values updated",
            "values deleted",
        ]
        return ", ".join(f"{self.counts[name]} {name}" for name in order if self.counts.get(name))


def parse_yaml(text: str) -> list[PlannedConfiguration]:
    """Parse and validate a whole file; PromotionError naming the first bad entry."""
    try:
        document = yaml.safe_load(text)
    except RecursionError:
        raise PromotionError("the file nests too deeply to be read") from None
    except yaml.YAMLError as exc:
        raise PromotionError(f"the file is not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(document, dict):
        raise PromotionError("the file must be a mapping with a 'configurations' list")
    unknown = sorted(str(k) for k in set(document) - _TOP_FIELDS)
    if unknown:
        raise PromotionError(f"unknown top-level field(s): {', '.join(unknown)}")
    if document.get("format", FORMAT) != FORMAT:
        raise PromotionError(f"unsupported format {document.get('format')!r}; expected {FORMAT}")
    entries = document.get("configurations")
    if not isinstance(entries, list):
        raise PromotionError("'configurations' must be a list")
    institutions = set(Institution.objects.values_list("code", flat=True))
    planned: list[PlannedConfiguration] = []
    seen_keys: set[str] = set()
    for index, entry in enumerate(entries):
        item = _parse_configuration(index, entry, institutions)
        if item.key in seen_keys:
            raise PromotionError(f"configurations[{index}] ({item.key}): the key appears twice")
        seen_keys.add(item.key)
        planned.append(item)
    return planned


def _parse_configuration(  # noqa: C901 - one check per field of the file's entry, in order
    index: int, entry: Any, institutions: set[str]
) -> PlannedConfiguration:
    where = f"configurations[{index}]"
    if not isinstance(entry, dict):
        raise PromotionError(f"{where}: must be a mapping")
    key = entry.get("key")
    if isinstance(key, str):
        where = f"{where} ({key})"
    unknown = sorted(str(k) for k in set(entry) - set(_CONFIG_FIELDS) - {"values"})
    if unknown:
        raise PromotionError(f"{where}: unknown field(s) {', '.join(unknown)}")
    for name in ("schema", "default"):
        too_deep = json_depth_error(entry.get(name))
        if too_deep:
            raise PromotionError(f"{where}: {name}: {too_deep}")
    try:
        validate_key(key)
        value_type = entry.get("value_type")
        if value_type not in VALUE_TYPES:
            raise ConfigError(
                f"value_type must be one of {', '.join(VALUE_TYPES)}, got {value_type!r}"
            )
        schema = validate_schema(entry.get("schema"))
        default = validate_default(value_type, schema, entry.get("default"))
    except ConfigError as exc:
        raise PromotionError(f"{where}: {exc}") from exc
    description = entry.get("description", "") or ""
    if not isinstance(description, str):
        raise PromotionError(f"{where}: description must be a string")
    is_sensitive = entry.get("is_sensitive", False)
    if not isinstance(is_sensitive, bool):
        raise PromotionError(f"{where}: is_sensitive must be true or false")
    raw_values = entry.get("values", []) or []
    if not isinstance(raw_values, list):
        raise PromotionError(f"{where}: values must be a list")
    values: list[PlannedValue] = []
    seen: set[tuple[str | None, datetime]] = set()
    for number, raw in enumerate(raw_values):
        value = _parse_value(f"{where} values[{number}]", raw, value_type, schema, institutions)
        if value.natural_key in seen:
            raise PromotionError(
                f"{where} values[{number}]: a second value for "
                f"{value.institution or 'global'} from {rfc3339(value.effective_from)}"
            )
        seen.add(value.natural_key)
        values.append(value)
    fields = {
        "key": key,
        "description": description,
        "value_type": value_type,
        "schema": schema,
        "default": default,
        "is_sensitive": is_sensitive,
    }
    return PlannedConfiguration(fields=fields, values=values)


def _parse_value(
    where: str, raw: Any, value_type: str, schema: Any, institutions: set[str]
) -> PlannedValue:
    if not isinstance(raw, dict):
        raise PromotionError(f"{where}: must be a mapping")
    unknown = sorted(str(k) for k in set(raw) - _VALUE_FIELDS)
    if unknown:
        raise PromotionError(f"{where}: unknown field(s) {', '.join(unknown)}")
    code = raw.get("institution")
    if code is not None:
        if not isinstance(code, str):
            raise PromotionError(f"{where}: institution must be a code or null")
        where = f"{where} ({code})"
        if code not in institutions:
            raise PromotionError(f"{where}: unknown institution {code}")
    moment = _parse_instant(where, raw.get("effective_from"))
    if "value" not in raw:
        raise PromotionError(f"{where}: value is required")
    too_deep = json_depth_error(raw["value"])
    if too_deep:
        raise PromotionError(f"{where}: {too_deep}")
    try:
        value = validate_value(value_type, schema, raw["value"])
    except ConfigError as exc:
        raise PromotionError(f"{where}: {exc}") from exc
    return PlannedValue(institution=code, effective_from=moment, value=value)


def _parse_instant(where: str, raw: Any) -> datetime:
    if raw is None:
        raise PromotionError(f"{where}: effective_from is required")
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise PromotionError(
                f"{where}: effective_from {raw!r} is not a date-time such as 2026-12-24T13:00:00Z"
            ) from None
    else:
        raise PromotionError(f"{where}: effective_from must be a date-time")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise PromotionError(f"{where}: effective_from must carry Z or a UTC offset")
    moment = moment.astimezone(UTC)
    if not in_supported_range(moment):
        raise PromotionError(outside_supported_range(f"{where}: effective_from"))
    return moment


def plan_import(planned: list[PlannedConfiguration]) -> Plan:  # noqa: C901 - a create/update/same diff per kind of row
    """Compare the parsed file with the database (reads only)."""
    plan = Plan()
    plan.institutions = {
        i.code: i
        for i in Institution.objects.filter(
            code__in={v.institution for p in planned for v in p.values if v.institution}
        )
    }
    existing = {c.key: c for c in Configuration.objects.filter(key__in=[p.key for p in planned])}
    for item in planned:
        current = existing.get(item.key)
        sensitive = item.fields["is_sensitive"] or bool(current and current.is_sensitive)
        if current is None:
            plan.add(
                f"+ configuration {item.key} ({item.fields['value_type']})",
                "configurations created",
                "create_configuration",
                key=item.key,
                data=item.fields,
            )
            stored: dict[tuple[str | None, datetime], ConfigurationValue] = {}
            changed: list[str] = []
            redefined = False
        else:
            changed = [n for n in _CONFIG_FIELDS if not _same(getattr(current, n), item.fields[n])]
            redefined = any(n in changed for n in ("value_type", "schema"))
            stored = {
                (v.institution.code if v.institution is not None else None, v.effective_from): v
                for v in current.values.select_related("institution")
            }
        wanted = {v.natural_key: v for v in item.values}
        label = item.key
        # 1. Stored values the file does not list go first.
        for natural_key, row in stored.items():
            if natural_key not in wanted:
                plan.add(
                    f"- value {label} {_scope(natural_key)}",
                    "values deleted",
                    "delete_value",
                    value_id=row.pk,
                )
        # 2. Under a new type or schema, changed values are replaced (delete, then create
        #    after the definition) so the definition change never meets an old value.
        updates: list[tuple[ConfigurationValue, PlannedValue]] = []
        creates: list[PlannedValue] = []
        replaced: list[PlannedValue] = []
        for natural_key, value in wanted.items():
            old = stored.get(natural_key)
            if old is None:
                creates.append(value)
            elif not _same(old.value, value.value):
                if redefined:
                    plan.add(
                        f"~ value {label} {_scope(natural_key)}: "
                        f"{_show(old.value, sensitive)} -> {_show(value.value, sensitive)} "
                        "(replaced)",
                        "values updated",
                        "delete_value",
                        value_id=old.pk,
                    )
                    replaced.append(value)
                else:
                    updates.append((old, value))
        if changed:
            plan.add(
                f"~ configuration {item.key}: {', '.join(changed)}",
                "configurations updated",
                "update_configuration",
                key=item.key,
                data={n: item.fields[n] for n in changed},
            )
        for row, value in updates:
            plan.add(
                f"~ value {label} {_scope(value.natural_key)}: "
                f"{_show(row.value, sensitive)} -> {_show(value.value, sensitive)}",
                "values updated",
                "update_value",
                value_id=row.pk,
                value=value,
            )
        for value in replaced:
            plan.steps.append(("create_value", {"key": item.key, "value": value}))
        for value in creates:
            plan.add(
                f"+ value {label} {_scope(value.natural_key)}: {_show(value.value, sensitive)}",
                "values created",
                "create_value",
                key=item.key,
                value=value,
            )
    return plan


def _scope(natural_key: tuple[str | None, datetime]) -> str:
    code, moment = natural_key
    return f"[{code or 'global'}] from {rfc3339(moment)}"


def apply_plan(plan: Plan) -> None:
    """Apply through the services (validation, audit, cache invalidation). Call inside one
    transaction: a failure part-way leaves nothing behind."""
    institutions = plan.institutions
    configurations: dict[str, Configuration] = {}

    def configuration(key: str) -> Configuration:
        if key not in configurations:
            configurations[key] = Configuration.objects.get(key=key)
        return configurations[key]

    for step, args in plan.steps:
        if step == "create_configuration":
            configurations[args["key"]] = services.create_configuration(data=args["data"])
        elif step == "update_configuration":
            configurations[args["key"]] = services.update_configuration(
                configuration=configuration(args["key"]), data=args["data"]
            )
        elif step == "delete_value":
            services.delete_value(value=ConfigurationValue.objects.get(pk=args["value_id"]))
        elif step == "update_value":
            value: PlannedValue = args["value"]
            services.update_value(
                value=ConfigurationValue.objects.get(pk=args["value_id"]),
                data={"value": value.value},
            )
        elif step == "create_value":
            value = args["value"]
            services.create_value(
                configuration=configuration(args["key"]),
                data={
                    "institution": institutions[value.institution] if value.institution else None,
                    "effective_from": value.effective_from,
                    "value": value.value,
                },
            )
        else:  # pragma: no cover - plan_import makes only the steps above
            raise ValueError(f"unknown step {step}")
