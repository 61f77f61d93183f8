"""Configuration values: type rules, JSON Schema checks and effective-dated resolution.

Pure functions with no Django dependency (stdlib + jsonschema + google-re2 + the pure
``cbpconfig.dates``), so the API layer, the management commands and the tests share one
implementation of the contract (``shared/API.md``, "Configuration").

JSON Schema regular expressions (``pattern``, ``patternProperties``, ``format: regex``) are
matched with RE2, whose time is linear in the input: a schema such as ``"^(a+)+$"`` cannot hold
a worker for seconds the way Python's backtracking ``re`` does. RE2 has no lookaround and no
backreferences; a schema that uses them is refused when it is saved.

Every error is a :class:`ConfigError` whose message is one line fit for an HTTP 400 body.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

import re2
import referencing.jsonschema
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.validators import extend
from jsonschema_specifications import REGISTRY as _META_SCHEMAS
from referencing.exceptions import Unresolvable

from cbpconfig.dates import rfc3339

__all__ = [
    "KEY_MAX_LENGTH",
    "KEY_PATTERN",
    "MASK",
    "VALUE_TYPES",
    "ConfigError",
    "Definition",
    "Resolved",
    "ValueRow",
    "next_change_after",
    "resolve",
    "resolve_all",
    "resolved_to_dict",
    "validate_default",
    "validate_key",
    "validate_schema",
    "validate_value",
]

VALUE_TYPES = ("string", "integer", "decimal", "boolean", "json")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
KEY_MAX_LENGTH = 100
MASK = "********"

Source = Literal["institution", "global", "default"]

# Plain decimal notation only: an optional minus, ASCII digits, an optional fraction.
# [0-9] rather than \d because \d also matches non-ASCII digits such as "٣".
_DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_NON_FINITE = {"nan", "-nan", "+nan", "snan", "-snan", "inf", "-inf", "+inf", "infinity"}
_NON_FINITE |= {"-infinity", "+infinity"}
_SHOWN_CHARS = 60
_SCHEMA_CACHE_SIZE = 512


class ConfigError(ValueError):
    """Bad configuration input; ``str(error)`` is a one-line message for a 400 body."""


class _TypeMismatch(ConfigError):
    """The value does not have the configuration's value type."""


class _SchemaMismatch(ConfigError):
    """The value has the right type but does not satisfy the configuration's schema."""


# --------------------------------------------------------------------------- keys


def validate_key(key: object) -> str:
    """Return ``key`` if it is a valid configuration key, else raise :class:`ConfigError`."""
    if not isinstance(key, str):
        raise ConfigError(f"a key must be a string, got {_kind(key)}")
    if not key:
        raise ConfigError("a key is required")
    if len(key) > KEY_MAX_LENGTH:
        raise ConfigError(f"a key is at most {KEY_MAX_LENGTH} characters, got {len(key)}")
    # fullmatch: "$" alone would also accept a trailing newline.
    if not KEY_PATTERN.fullmatch(key):
        raise ConfigError(
            f"{_show(key)} is not a valid key: use lower-case dotted words such as "
            f'"payments.max_amount" (pattern {KEY_PATTERN.pattern})'
        )
    return key


# ------------------------------------------------------------------------- schema


def validate_schema(schema: object) -> dict[str, Any] | None:
    """Check a configuration's ``schema`` and return it.

    ``None`` means "no schema". Anything else must be a JSON object that is a valid JSON
    Schema (draft 2020-12) whose ``$ref`` references all resolve inside the schema (remote
    references are refused: the server never fetches URLs named by a caller).
    """
    if schema is None:
        return None
    _compiled(_schema_cache_key(schema))
    return schema  # type: ignore[return-value]


def _schema_cache_key(schema: object) -> str:
    if not isinstance(schema, dict):
        raise ConfigError(f"the schema must be a JSON object or null, got {_kind(schema)}")
    try:
        return json.dumps(schema, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the schema is not valid JSON: {exc}") from exc


@lru_cache(maxsize=_SCHEMA_CACHE_SIZE)
def _compiled(cache_key: str) -> Draft202012Validator:
    """Build (once per distinct schema) a validator; raises ConfigError for a bad schema.

    Keyed by the canonical JSON text so equal schemas share one validator whatever their
    key order; exceptions are not cached, so a bad schema is re-checked each time.
    """
    schema = json.loads(cache_key)
    try:
        # The meta-schema asserts "format": "regex" on every pattern and patternProperties key;
        # checked with RE2, a pattern the engine cannot run is refused here, at save time.
        Draft202012Validator.check_schema(schema, format_checker=_FORMAT_CHECKER)
    except SchemaError as exc:
        if exc.validator == "format" and exc.validator_value == "regex":
            raise ConfigError(
                f"the schema is not a valid JSON Schema (draft 2020-12){_at(exc.absolute_path)}: "
                f"{_show(exc.instance)} {_regex_problem(exc.cause)}; patterns are matched with "
                "RE2: no lookaround, no backreferences, repetition counts at most 1000"
            ) from exc
        raise ConfigError(
            f"the schema is not a valid JSON Schema (draft 2020-12){_at(exc.absolute_path)}: "
            f"{_one_line(exc.message)}"
        ) from exc
    # Only the bundled meta-schemas are resolvable. jsonschema's default registry would
    # download any http(s) "$ref" (with a DeprecationWarning) — a server-side request
    # forgery hole for a schema written by an API caller.
    resource = referencing.jsonschema.DRAFT202012.create_resource(schema)
    registry = _META_SCHEMAS.with_resource(resource.id() or "", resource)
    _check_refs(resource, registry.resolver(base_uri=resource.id() or ""))
    validator = _RE2Validator(
        schema,
        registry=registry,
        # "format" is annotation-only in 2020-12; someone writing "format": "email" in an
        # admin form expects it enforced, so assert the formats jsonschema can check.
        format_checker=_FORMAT_CHECKER,
    )
    try:
        # A "$ref" cycle that consumes no input ({"$ref": "#"}) recurses forever on any
        # value; one trial run refuses it here instead of on every value later.
        best_match(validator.iter_errors(None))
    except RecursionError as exc:
        raise ConfigError("the schema refers to itself in an endless loop of $ref") from exc
    return validator


# ----------------------------------------------------------- regular expressions (RE2)
#
# jsonschema matches "pattern", "patternProperties" (and, through them, "additionalProperties"
# and "unevaluatedProperties") with Python's backtracking ``re``, where a pattern such as
# "^(a+)+$" takes exponential time on a near-miss ("aaaa…a!"). The keywords below are
# jsonschema 4.26's own, with the one ``re.search`` each replaced by RE2, whose matching time
# is linear in the input; messages and semantics are otherwise unchanged.

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is our 400, not a line on stderr


class PatternError(ConfigError):
    """A schema's regular expression that RE2 cannot run (or a string it cannot read)."""


@lru_cache(maxsize=1024)
def _re2(pattern: str) -> Any:
    """The compiled pattern; raises ``re2.error`` for one RE2 does not accept."""
    return re2.compile(pattern, _RE2_OPTIONS)


def _regex_problem(error: object) -> str:
    if isinstance(error, re2.error) and error.args:
        reason = error.args[0]
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        return f"is not a regular expression this service can run ({_one_line(str(reason))})"
    return "is not a valid regular expression"


def _search(pattern: str, text: str) -> bool:
    try:
        return _re2(pattern).search(text) is not None
    except re2.error as exc:
        # Only a schema saved before RE2 was the engine can get here.
        raise PatternError(
            f"the schema's pattern {_show(pattern)} {_regex_problem(exc)} and cannot be evaluated"
        ) from exc
    except UnicodeEncodeError as exc:
        raise PatternError(
            f"{_show(text)} contains an unpaired surrogate and cannot be matched"
        ) from exc


def _is_re2_regex(instance: object) -> bool:
    if isinstance(instance, str):
        _re2(instance)
    return True


_FORMAT_CHECKER = FormatChecker()
_FORMAT_CHECKER.checkers = {
    **Draft202012Validator.FORMAT_CHECKER.checkers,
    "regex": (_is_re2_regex, re2.error),
}


def _extras_msg(extras: list[Any]) -> tuple[str, str]:
    verb = "was" if len(extras) == 1 else "were"
    return ", ".join(repr(extra) for extra in extras), verb


def _is_valid(errors: Iterable[Any]) -> bool:
    return next(iter(errors), None) is None


# Keyword functions have jsonschema's callback shape (validator, value, instance, schema); the
# validator is Any there too (its resolver is private).


def _pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(patrn, instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(
    validator: Any, pattern_properties: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for k, v in instance.items():
            if _search(pattern, k):
                yield from validator.descend(v, subschema, path=k, schema_path=pattern)


def _find_additional_properties(
    instance: Mapping[str, Any], schema: Mapping[str, Any]
) -> Iterator[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    for prop in instance:
        if prop not in properties and not any(_search(p, prop) for p in patterns):
            yield prop


def _additional_properties(
    validator: Any, aP: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    extras = set(_find_additional_properties(instance, schema))
    if validator.is_type(aP, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], aP, path=extra)
    elif not aP and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {patterns}")
        else:
            error = "Additional properties are not allowed (%s %s unexpected)"
            yield ValidationError(error % _extras_msg(sorted(extras, key=str)))


def _evaluated_keys(validator: Any, instance: Any, schema: Any) -> list[Any]:  # noqa: C901 - mirrors jsonschema's own function, keyword by keyword
    """jsonschema's find_evaluated_property_keys_by_schema, matching patterns with RE2."""
    if validator.is_type(schema, "boolean"):
        return []
    keys: list[Any] = []
    for keyword in ("$ref", "$dynamicRef"):
        ref = schema.get(keyword)
        if ref is not None:
            resolved = validator._resolver.lookup(ref)
            keys.extend(
                _evaluated_keys(
                    validator.evolve(schema=resolved.contents, _resolver=resolved.resolver),
                    instance,
                    resolved.contents,
                )
            )
    properties = schema.get("properties")
    if validator.is_type(properties, "object"):
        keys += properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        if (subschema := schema.get(keyword)) is None:
            continue
        keys += (k for k, v in instance.items() if _is_valid(validator.descend(v, subschema)))
    if "patternProperties" in schema:
        for prop in instance:
            for pattern in schema["patternProperties"]:
                if _search(pattern, prop):
                    keys.append(prop)
    if "dependentSchemas" in schema:
        for prop, subschema in schema["dependentSchemas"].items():
            if prop in instance:
                keys += _evaluated_keys(validator, instance, subschema)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if _is_valid(validator.descend(instance, subschema)):
                keys += _evaluated_keys(validator, instance, subschema)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys += _evaluated_keys(validator, instance, schema["if"])
            if "then" in schema:
                keys += _evaluated_keys(validator, instance, schema["then"])
        elif "else" in schema:
            keys += _evaluated_keys(validator, instance, schema["else"])
    return keys


def _unevaluated_properties(
    validator: Any, unevaluated: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    evaluated = _evaluated_keys(validator, instance, schema)
    bad = []
    for prop in instance:
        if prop not in evaluated:
            for _ in validator.descend(instance[prop], unevaluated, path=prop, schema_path=prop):
                bad.append(prop)  # one entry per error, as jsonschema does
    if bad:
        if unevaluated is False:
            error = "Unevaluated properties are not allowed (%s %s unexpected)"
            yield ValidationError(error % _extras_msg(sorted(bad, key=str)))
        else:
            error = (
                "Unevaluated properties are not valid under "
                "the given schema (%s %s unevaluated and invalid)"
            )
            yield ValidationError(error % _extras_msg(bad))


# The stubs leave extend() untyped; it returns a validator class like the one it extends.
_extend: Callable[..., type[Draft202012Validator]] = extend
_RE2Validator = _extend(
    Draft202012Validator,
    validators={
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "unevaluatedProperties": _unevaluated_properties,
    },
    format_checker=_FORMAT_CHECKER,
)


def _check_refs(resource: Any, resolver: Any) -> None:
    """Resolve every ``$ref`` now so a dangling one is a 400 on the schema, not on a value."""
    contents = resource.contents
    if isinstance(contents, dict):
        ref = contents.get("$ref")
        if isinstance(ref, str):
            try:
                resolver.lookup(ref)
            except Unresolvable as exc:
                raise ConfigError(
                    f"the schema refers to {_show(ref)}, which is not defined in the schema "
                    "(remote references are not fetched)"
                ) from exc
    for sub in resource.subresources():
        _check_refs(sub, resolver.in_subresource(sub))


# ------------------------------------------------------------------------- values


def validate_value(value_type: str, schema: Mapping[str, Any] | None, value: object) -> Any:
    """Check ``value`` against the value type and schema; return the normalised value.

    Type rules: ``integer`` a JSON integer (not a boolean, not a float even if whole);
    ``decimal`` a JSON string in plain decimal notation (``"1000000.00"``), returned as the
    same string so no digit is lost; ``boolean`` a JSON boolean; ``string`` a string;
    ``json`` any JSON value. ``None`` is refused for every type. If ``schema`` is set the
    value must then satisfy it — for ``decimal`` the *string* form is validated, so such a
    schema should use string keywords (``pattern``, ``maxLength``), not ``minimum``.
    """
    if value is None:
        raise _TypeMismatch("a value is required")
    normalised = _check_type(value_type, value)
    if schema is not None:
        validator = _compiled(_schema_cache_key(schema))
        try:
            error = best_match(validator.iter_errors(normalised))
        except (Unresolvable, RecursionError) as exc:
            # Backstop: _check_refs should have refused such schemas; never a 500.
            raise ConfigError(f"the schema cannot be evaluated: {_one_line(str(exc))}") from exc
        if error is not None:
            raise _SchemaMismatch(
                f"value does not match the schema{_at(error.absolute_path)}: "
                f"{_one_line(error.message)}"
            )
    return normalised


SENSITIVE_REASON = "the reason is not shown because the configuration is sensitive"


def reason(exc: ConfigError, *, sensitive: bool) -> str:
    """A validation error's text for a caller, unless it could quote a sensitive value (a
    schema or type mismatch names the offending value)."""
    return SENSITIVE_REASON if sensitive else str(exc)


def validate_default(value_type: str, schema: Mapping[str, Any] | None, default: object) -> Any:
    """Like :func:`validate_value`, but ``None`` is accepted and means "no default"."""
    if default is None:
        return None
    try:
        return validate_value(value_type, schema, default)
    except _SchemaMismatch as exc:
        message = str(exc).removeprefix("value does not match the schema")
        raise ConfigError(f"default does not satisfy the schema{message}") from exc
    except _TypeMismatch as exc:
        raise ConfigError(f"default does not satisfy the type {value_type}: {exc}") from exc


def _check_type(value_type: str, value: object) -> Any:
    if value_type == "string":
        if not isinstance(value, str):
            raise _TypeMismatch(f"expected a string, got {_kind(value)}")
        return value
    if value_type == "integer":
        if isinstance(value, float):
            raise _TypeMismatch(f"{_show(value)} is not an integer")
        # bool is a subclass of int in Python but a distinct type in JSON.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _TypeMismatch(f"expected an integer, got {_kind(value)}")
        return value
    if value_type == "boolean":
        if not isinstance(value, bool):
            raise _TypeMismatch(f"expected a boolean, got {_kind(value)}")
        return value
    if value_type == "decimal":
        return _check_decimal(value)
    if value_type == "json":
        _check_json(value)
        return value
    raise ConfigError(f"unknown value type {_show(value_type)}; expected one of {VALUE_TYPES}")


def _check_decimal(value: object) -> str:
    if not isinstance(value, str):
        # Numbers are refused outright: a JSON number has usually been through a binary
        # float already, and its lost digits cannot be recovered here.
        got = "a number" if _is_number(value) else _kind(value)
        raise _TypeMismatch(f'decimal values must be JSON strings such as "1000000.00", got {got}')
    if value.strip().lower() in _NON_FINITE:
        raise _TypeMismatch(f"decimal values must be finite numbers, got {_show(value)}")
    if not _DECIMAL_RE.fullmatch(value):
        raise _TypeMismatch(
            f"{_show(value)} is not a decimal number: write digits with an optional "
            'minus sign and fraction, such as "1000000.00"'
        )
    try:
        Decimal(value)  # cannot fail after the regex; kept as a guard against its drift
    except InvalidOperation as exc:
        raise _TypeMismatch(f"{_show(value)} is not a decimal number") from exc
    return value


def _check_json(value: object) -> None:
    # Iterative walk: a deeply nested document must not raise RecursionError (a 500).
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, str | bool | int):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise _TypeMismatch(f"{item!r} is not a valid JSON number")
            continue
        if isinstance(item, list | tuple):
            stack.extend(item)
            continue
        if isinstance(item, dict):
            for k, v in item.items():
                if not isinstance(k, str):
                    raise _TypeMismatch(f"JSON object keys must be strings, got {_kind(k)}")
                stack.append(v)
            continue
        raise _TypeMismatch(f"expected a JSON value, got {type(item).__name__}")


# --------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class ValueRow:
    """One stored value: global when ``institution`` is None, effective from an instant."""

    institution: str | None
    value: Any
    effective_from: datetime
    version: int
    id: int | None = None


@dataclass(frozen=True)
class Definition:
    """What resolution needs of a configuration; ``default`` None means "no default"."""

    key: str
    value_type: str
    default: Any
    version: int
    is_sensitive: bool = False


@dataclass(frozen=True)
class Resolved:
    """A resolved value, where it came from, since when, and the version that supplied it."""

    value: Any
    source: Source
    effective_from: datetime | None
    version: int


def resolve(
    definition: Definition,
    rows: Iterable[ValueRow],
    institution: str | None,
    at: datetime,
) -> Resolved | None:
    """Resolve ``definition`` for ``institution`` (None = global) at instant ``at``.

    The institution's row with the latest ``effective_from <= at`` wins; else the global row
    with the latest ``effective_from <= at``; else the default; ``None`` (key absent) when
    there is no default either. Rows of other institutions are ignored.
    """
    _require_aware(at, "at")
    best_own: ValueRow | None = None
    best_global: ValueRow | None = None
    for row in rows:
        _require_aware(row.effective_from, "effective_from")
        if row.effective_from > at:
            continue
        if row.institution is None:
            if _later(row, best_global):
                best_global = row
        elif institution is not None and row.institution == institution and _later(row, best_own):
            best_own = row
    if best_own is not None:
        return Resolved(best_own.value, "institution", best_own.effective_from, best_own.version)
    if best_global is not None:
        return Resolved(
            best_global.value, "global", best_global.effective_from, best_global.version
        )
    if definition.default is None:
        return None
    return Resolved(definition.default, "default", None, definition.version)


def _later(row: ValueRow, best: ValueRow | None) -> bool:
    # (configuration, institution, effective_from) is unique in storage; the id tie-break
    # only makes the answer independent of row order should duplicates ever be passed.
    if best is None:
        return True
    return (row.effective_from, _id(row)) > (best.effective_from, _id(best))


def _id(row: ValueRow) -> int:
    return -1 if row.id is None else row.id


def next_change_after(rows: Iterable[ValueRow], at: datetime) -> datetime | None:
    """Earliest ``effective_from`` strictly after ``at`` among ``rows``, or None.

    A cached resolution must expire by then, so a scheduled value takes effect at its
    instant rather than when the cache happens to expire.
    """
    _require_aware(at, "at")
    upcoming = None
    for row in rows:
        _require_aware(row.effective_from, "effective_from")
        if row.effective_from > at and (upcoming is None or row.effective_from < upcoming):
            upcoming = row.effective_from
    return upcoming


def resolve_all(
    definitions_with_rows: Iterable[tuple[Definition, Iterable[ValueRow]]],
    institution: str | None,
    at: datetime,
) -> dict[str, Resolved]:
    """Resolve several configurations; keys that resolve to nothing are left out."""
    _require_aware(at, "at")
    resolved = {}
    for definition, rows in definitions_with_rows:
        entry = resolve(definition, rows, institution, at)
        if entry is not None:
            resolved[definition.key] = entry
    return resolved


def resolved_to_dict(resolved: Resolved, mask: bool) -> dict[str, Any]:
    """Serialise for the API: ``effective_from`` in RFC 3339 UTC with ``Z`` (or null).

    With ``mask`` the value is replaced by ``"********"`` (sensitive configuration shown to
    a caller without ``configuration.view_sensitive_value``).
    """
    return {
        "value": MASK if mask else resolved.value,
        "source": resolved.source,
        "effective_from": _effective_from(resolved.effective_from),
        "version": resolved.version,
    }


def _effective_from(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    _require_aware(moment, "effective_from")
    return rfc3339(moment)


def _require_aware(moment: object, name: str) -> None:
    if not isinstance(moment, datetime):
        raise ConfigError(f"{name} must be a date-time, got {type(moment).__name__}")
    if moment.utcoffset() is None:
        raise ConfigError(f"{name} must carry a time zone")


# ------------------------------------------------------------------------ helpers


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _kind(value: object) -> str:
    """The JSON name of ``value``'s type, with its article, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _show(value: object) -> str:
    """A short JSON-ish rendering of ``value`` for a message (long values are cut)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 1] + "…"
    return text


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"


def _at(path: Iterable[Any]) -> str:
    parts = [str(p) for p in path]
    return f" at /{'/'.join(parts)}" if parts else ""
