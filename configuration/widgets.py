"""The editors of configuration values, one home for every form that takes one: a value (on
its own page and inline on its configuration's) and a configuration's default.

- :class:`TypedValueInput` — a value in an input of its type: a number, true/false, text, or
  JSON checked against the type and the schema as it is typed (by the server, with the same
  function as every save: :func:`configuration.resolution.validate_value`). On a configuration's
  own page the input follows the type chosen on that page (``type_from``), so a new
  configuration's default is typed too.
- :class:`JSONTextarea` — JSON that really is free-form (a schema), pretty-printed.

Each sits in front of the model's own form field (a JSONField): it turns the inputs into the
JSON text that field parses, so the validation stays with the model and the services. A post
carrying raw JSON (an older form, a script) is still accepted as it is.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput
from django.urls import reverse

from cbpconfig.console.widgets import decode_json_text
from configuration.resolution import MASK, VALUE_TYPES

#: The DOM ids of a configuration form's type and schema fields (Django's ``id_<name>``).
TYPE_FIELD_ID = "id_value_type"
SCHEMA_FIELD_ID = "id_schema"


def _text(kind: str, decoded: object) -> str:
    """``decoded`` as the text of an input of ``kind``."""
    if decoded is None:
        return ""
    if isinstance(decoded, InvalidJSONInput):
        return str(decoded)
    if kind == "boolean":
        return "true" if decoded is True else ("false" if decoded is False else "")
    if kind == "json":
        return json.dumps(decoded, ensure_ascii=False, indent=2)
    if isinstance(decoded, str):
        return decoded
    return json.dumps(decoded, ensure_ascii=False)


class TypedValueInput(forms.Widget):
    """One value of a configuration in an input of its type. ``value_type`` is the
    configuration's (``integer``, ``decimal``, ``boolean``, ``string``, ``json``); JSON is
    checked against the configuration's type and schema as it is typed (``check_url``).

    With ``type_from`` (the DOM id of the page's type select) an input of every type is
    rendered, the one of ``value_type`` enabled; the console's script enables the one of the
    type chosen, and the JSON check sends the chosen type and the page's schema along."""

    template_name = "configuration/widgets/typed_value.html"

    def __init__(
        self,
        attrs: dict[str, Any] | None = None,
        *,
        value_type: str,
        schema: object = None,
        check_url: str = "",
        type_from: str = "",
        schema_from: str = "",
    ) -> None:
        super().__init__(attrs)
        self.value_type = value_type
        self.schema = schema
        self.check_url = check_url
        self.type_from = type_from
        self.schema_from = schema_from

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        decoded = decode_json_text(value)
        masked = decoded == MASK
        kind = "masked" if masked else self.value_type
        if isinstance(decoded, InvalidJSONInput):
            kind = "json" if self.value_type == "json" else "string"
        text = _text(kind, decoded)
        # One input per type when the type is chosen on the page (never for a masked value:
        # its type cannot be changed by who sees the mask).
        kinds = list(VALUE_TYPES) if (self.type_from and not masked) else [kind]
        if kind not in kinds:
            kinds.append(kind)
        context["widget"].update(
            {
                "kind": kind,
                "text": text,
                "kinds": [{"name": k, "active": k == kind} for k in kinds],
                "check_url": self.check_url,
                "type_from": self.type_from if not masked else "",
                "schema_from": self.schema_from if not masked else "",
                "schema": json.dumps(self.schema, ensure_ascii=False) if self.schema else "",
            }
        )
        return context

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        raw = data.get(name)
        if raw is None:
            return None
        if data.get(f"{name}-raw"):
            return raw  # the JSON input of an older form or a script
        if raw in (MASK, json.dumps(MASK)):
            # The mask sent back, as the input shows it or as JSON: "unchanged"
            # (MaskedValueForm), whatever type the post claims.
            return json.dumps(MASK)
        kind = self.value_type
        if self.type_from and data.get("value_type") in VALUE_TYPES:
            # On the configuration's own page, where the type may be changed (type_from), it
            # may change in the same save: the values are read as the type they are saved
            # under. Elsewhere (or where the type is read-only) a posted type is ignored.
            kind = data.get("value_type")
        return typed_text_to_json(kind, raw)


def typed_text_to_json(kind: str, raw: str) -> str:
    """What an input of ``kind`` sent, as the JSON text the model's field parses."""
    if kind in ("string", "decimal") and _is_json_string(raw):
        # A JSON string literal ("abc" with its quotes), as the JSON editor of older forms
        # and scripts send it: taken as JSON.
        return raw.strip()
    text = raw.strip() if kind != "string" else raw
    if kind == "integer":
        if text == "":
            return ""
        try:
            number = json.loads(text)
        except ValueError:
            return json.dumps(text)  # refused by the type check, which names it
        # 1.5 stays a number so that the type check says "not an integer" of it.
        return (
            text
            if isinstance(number, int | float) and not isinstance(number, bool)
            else json.dumps(text)
        )
    if kind == "decimal":
        return "" if text == "" else json.dumps(text)
    if kind == "boolean":
        return {"true": "true", "false": "false"}.get(text, "")
    if kind == "json":
        return text
    return json.dumps(raw)


def _is_json_string(raw: str) -> bool:
    text = raw.strip()
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        return False
    try:
        return isinstance(json.loads(text), str)
    except ValueError:
        return False


class JSONTextarea(forms.Textarea):
    """Free-form JSON (a JSON Schema), pretty-printed; its syntax is checked as it is typed
    (``data-json-syntax``)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"rows": 6, "cols": 80, "data-json-syntax": "1", **(attrs or {})})

    def format_value(self, value: Any) -> str | None:
        decoded = decode_json_text(value)
        if isinstance(decoded, InvalidJSONInput) or decoded is None:
            return super().format_value(value if decoded is not None else "")
        if decoded == MASK:
            return json.dumps(MASK)
        return json.dumps(decoded, ensure_ascii=False, indent=2)


def typed_value_form(
    form_class: type[forms.BaseForm],
    configuration: Any,
    field: str = "value",
    *,
    follow_page: bool = False,
) -> type[forms.BaseForm]:
    """``form_class`` with its ``field`` in an input of ``configuration``'s type (and its
    schema shown, JSON checked as it is typed). The form's own cleaning is unchanged.

    ``follow_page``: the form is on the configuration's own page, where the type and the
    schema are fields of the same form that the user may change — the input follows them (a
    new configuration, whose ``configuration`` is None, starts as a string)."""
    known = configuration is not None and getattr(configuration, "pk", None) is not None
    if not known and not follow_page:
        return form_class
    if known:
        value_type, schema = configuration.value_type, configuration.schema
        key = configuration.key
    else:
        value_type, schema, key = "string", None, "the configuration"
    if follow_page:
        check_url = reverse("console:check_typed_value")
        help_text = "In an input of the type chosen above; it must also satisfy the schema, if any."
    else:
        check_url = reverse("console:check_value", args=[configuration.pk])
        help_text = f"A {value_type} value of {key}" + (
            "; it must also satisfy the schema shown." if schema else "."
        )

    class TypedValueForm(form_class):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if field in self.fields:
                chosen = self.data.get("value_type") if follow_page and self.is_bound else None
                self.fields[field].widget = TypedValueInput(
                    value_type=chosen if chosen in VALUE_TYPES else value_type,
                    schema=None if follow_page else schema,
                    check_url=check_url,
                    type_from=TYPE_FIELD_ID if follow_page else "",
                    schema_from=SCHEMA_FIELD_ID if follow_page else "",
                )
                self.fields[field].help_text = help_text

    TypedValueForm.__name__ = form_class.__name__
    TypedValueForm.__qualname__ = form_class.__qualname__
    return TypedValueForm
