"""Form widgets made for the data, so nobody types JSON for what is not free-form JSON:

- :class:`WeekdayCheckboxes` — a list of ISO weekdays (a calendar's weekend, a rule's days);
- :class:`TimeZoneSelect` — an IANA zone picked from the list the validators accept;
- :class:`RulesEditor` — session rules as rows of weekday boxes, time inputs and day offsets;
- :class:`TypedValueInput` — a configuration value in an input of its type (number, yes/no,
  text, JSON checked as it is typed);
- :class:`JSONTextarea` — JSON that really is free-form (a schema), pretty-printed.

Each widget sits in front of the model's own form field (a JSONField or a CharField): it turns
the inputs into the text that field parses, so the validation stays where it is (the models,
the services). A post that carries the field's raw JSON (an older form, a script) is still
accepted as it is.

``cbpconfig.admin`` (plumbing) uses the time-zone picker, so this module imports no domain
app at import time (the configuration's constants are read where they are needed).
"""

from __future__ import annotations

import json
from itertools import groupby

from django import forms
from django.forms.fields import InvalidJSONInput
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from cbpconfig.dates import WEEKDAY_NAMES
from cbpconfig.validators import _zones


def _decode(value):
    """The Python value behind what a JSON form field hands its widget (JSON text)."""
    if isinstance(value, InvalidJSONInput):
        return value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return InvalidJSONInput(value)
    return value


# -- weekdays ---------------------------------------------------------------------------------


class WeekdayCheckboxes(forms.Widget):
    """Seven boxes, Monday to Sunday, for a JSON list of ISO weekdays (1 = Monday)."""

    template_name = "cbpconfig/widgets/weekdays.html"

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        chosen = _decode(value)
        chosen = set(chosen) if isinstance(chosen, list) else set()
        context["widget"]["days"] = [
            {"number": n, "name": full, "short": full[:3], "checked": n in chosen}
            for n, full in WEEKDAY_NAMES.items()
        ]
        return context

    def value_from_datadict(self, data, files, name):
        if f"{name}-present" not in data and name in data:
            return data.get(name)  # raw JSON from a script or an older form
        posted = data.getlist(name) if hasattr(data, "getlist") else data.get(name, [])
        if isinstance(posted, str):
            posted = [posted]
        if not all(str(raw).isdigit() for raw in posted):
            # Not the boxes' values: JSON text such as "[]" (a script), or "" — passed on for
            # the field to parse, and its rules to refuse with their message.
            return posted[0] if len(posted) == 1 else json.dumps(posted)
        return json.dumps(sorted(int(raw) for raw in posted))

    def value_omitted_from_data(self, data, files, name):
        return False  # no box ticked is a value: no days


# -- time zones -------------------------------------------------------------------------------


def timezone_choices(blank_label: str | None = None) -> list:
    """The zones the validators accept, grouped by region (``Europe``, ``America``...)."""
    names = sorted(_zones())
    groups = []
    for region, members in groupby(names, key=lambda n: n.split("/", 1)[0] if "/" in n else ""):
        group = [(n, n) for n in members]
        groups.append((region or "Other", group))
    choices = [("", blank_label)] if blank_label is not None else [("", "— choose a zone —")]
    return choices + groups


class TimeZoneSelect(forms.Select):
    """A picker of IANA zones; a stored zone missing from the list is still shown."""

    def __init__(self, attrs=None, blank_label: str | None = None):
        super().__init__(attrs, choices=timezone_choices(blank_label))

    def get_context(self, name, value, attrs):
        if value and value not in _zones():
            self.choices = [*self.choices, ("Stored", [(value, value)])]
        return super().get_context(name, value, attrs)


# -- session rules ----------------------------------------------------------------------------

RULE_FIELDS = ("label", "opens", "opens_day_offset", "closes", "closes_day_offset")
OPENS_OFFSETS = [(-1, "day before"), (0, "same day")]
CLOSES_OFFSETS = [(0, "same day"), (1, "next day")]


def _time_text(value) -> str:
    return value if isinstance(value, str) else ""


def _typed_time(text: str) -> str:
    """A time input's value as the API writes it: "HH:MM", or "HH:MM:SS" when the seconds
    are not zero (browsers send "07:00:00" for 07:00 when the input shows seconds)."""
    if len(text) == 8 and text.endswith(":00") and text[2] == ":":
        return text[:5]
    return text


class RulesEditor(forms.Widget):
    """Session rules as rows: a label, the weekdays (weekly rules only), the opening and the
    closing time each with its day offset, and (weekly rules) the business dates the rule is
    effective for. Blank rows are ignored; a ticked "remove" drops the row. Produces the JSON
    list the API takes, so parsing and every rule stay with ``windows.mappers``."""

    template_name = "cbpconfig/widgets/rules.html"

    def __init__(self, attrs=None, *, weekly: bool = True, blank_rows: int = 1, addable=True):
        super().__init__(attrs)
        self.weekly = weekly
        self.blank_rows = blank_rows
        self.addable = addable

    def _rows(self, value) -> tuple[list[dict], str | None]:
        decoded = _decode(value)
        if isinstance(decoded, InvalidJSONInput):
            return [], str(decoded)
        if decoded in (None, ""):
            return [], None
        if not isinstance(decoded, list) or not all(isinstance(r, dict) for r in decoded):
            return [], json.dumps(decoded)
        return decoded, None

    def _row_context(self, name: str, index, rule: dict) -> dict:
        weekdays = rule.get("weekdays") if isinstance(rule.get("weekdays"), list) else []
        prefix = f"{name}-{index}"
        return {
            "prefix": prefix,
            "label": rule.get("label", "") or "",
            "opens": _time_text(rule.get("opens")),
            "closes": _time_text(rule.get("closes")),
            "opens_day_offset": rule.get("opens_day_offset", 0),
            "closes_day_offset": rule.get("closes_day_offset", 0),
            "effective_from": rule.get("effective_from") or "",
            "effective_until": rule.get("effective_until") or "",
            "days": [
                {"number": n, "short": full[:3], "name": full, "checked": n in weekdays}
                for n, full in WEEKDAY_NAMES.items()
            ],
        }

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        rows, raw = self._rows(value)
        blank = {"weekdays": [1, 2, 3, 4, 5]} if self.weekly else {}
        shown = rows + [dict(blank) for _ in range(self.blank_rows)]
        context["widget"].update(
            {
                "weekly": self.weekly,
                "raw": raw,
                "rows": [self._row_context(name, i, r) for i, r in enumerate(shown)],
                "template_row": self._row_context(name, "__row__", dict(blank)),
                "total": len(shown),
                "addable": self.addable,
                "opens_offsets": OPENS_OFFSETS,
                "closes_offsets": CLOSES_OFFSETS,
                "dom_id": (attrs or {}).get("id") or f"id_{name}",
            }
        )
        return context

    def value_from_datadict(self, data, files, name):
        total_key = f"{name}-TOTAL"
        if total_key not in data:
            return data.get(name)  # the raw JSON list (a script, an older form)
        try:
            total = min(int(data.get(total_key)), 200)
        except (TypeError, ValueError):
            total = 0
        rules = []
        for i in range(total):
            prefix = f"{name}-{i}"
            if data.get(f"{prefix}-remove"):
                continue
            values = {f: (data.get(f"{prefix}-{f}") or "").strip() for f in RULE_FIELDS}
            days = data.getlist(f"{prefix}-weekdays") if hasattr(data, "getlist") else []
            span = {
                f: (data.get(f"{prefix}-{f}") or "").strip()
                for f in ("effective_from", "effective_until")
            }
            if not (values["opens"] or values["closes"]):
                continue  # a blank row (weekday boxes and a label alone say nothing)
            rule: dict = {"label": values["label"]}
            if self.weekly:
                rule["weekdays"] = sorted(int(d) for d in days if d.isdigit())
            rule["opens"] = _typed_time(values["opens"])
            rule["opens_day_offset"] = _int_or_text(values["opens_day_offset"], 0)
            rule["closes"] = _typed_time(values["closes"])
            rule["closes_day_offset"] = _int_or_text(values["closes_day_offset"], 0)
            if self.weekly:
                for key, text in span.items():
                    rule[key] = text or None
            rules.append(rule)
        return json.dumps(rules)

    def value_omitted_from_data(self, data, files, name):
        return f"{name}-TOTAL" not in data and name not in data


def _int_or_text(text: str, default: int):
    if text == "":
        return default
    try:
        return int(text)
    except ValueError:
        return text


def rules_table(rules: list[dict], *, weekly: bool = True) -> str:
    """Read-only HTML of session rules (what a view-only user sees instead of the editor)."""
    return mark_safe(  # noqa: S308 - rendered by a template with autoescaping
        render_to_string(
            "admin/console/widgets/rules_view.html",
            {
                "weekly": weekly,
                "rules": [
                    {
                        **r,
                        "days": ", ".join(
                            WEEKDAY_NAMES[d][:3]
                            for d in r.get("weekdays", [])
                            if d in WEEKDAY_NAMES
                        ),
                    }
                    for r in rules
                ],
            },
        )
    )


# -- configuration values ---------------------------------------------------------------------


class TypedValueInput(forms.Widget):
    """One value of a configuration in an input of its type. ``value_type`` is the
    configuration's (``integer``, ``decimal``, ``boolean``, ``string``, ``json``); JSON is
    checked against the configuration's type and schema as it is typed (``check_url``)."""

    template_name = "cbpconfig/widgets/typed_value.html"

    def __init__(self, attrs=None, *, value_type: str, schema=None, check_url: str = ""):
        super().__init__(attrs)
        self.value_type = value_type
        self.schema = schema
        self.check_url = check_url

    def get_context(self, name, value, attrs):
        from configuration.resolution import MASK

        context = super().get_context(name, value, attrs)
        decoded = _decode(value)
        masked = decoded == MASK
        kind = "masked" if masked else self.value_type
        if isinstance(decoded, InvalidJSONInput):
            text, kind = str(decoded), ("json" if self.value_type == "json" else "string")
        elif decoded is None:
            text = ""
        elif kind == "boolean":
            text = "true" if decoded is True else ("false" if decoded is False else "")
        elif kind == "json":
            text = json.dumps(decoded, ensure_ascii=False, indent=2)
        elif isinstance(decoded, str):
            text = decoded
        else:
            text = json.dumps(decoded, ensure_ascii=False)
        context["widget"].update(
            {
                "kind": kind,
                "text": text,
                "check_url": self.check_url if kind == "json" else "",
                "schema": json.dumps(self.schema, ensure_ascii=False) if self.schema else "",
            }
        )
        return context

    def value_from_datadict(self, data, files, name):
        from configuration.resolution import MASK, VALUE_TYPES

        raw = data.get(name)
        if raw is None:
            return None
        if data.get(f"{name}-raw"):
            return raw  # the JSON input of an older form or a script
        if raw == MASK:
            return json.dumps(MASK)  # the mask sent back: "unchanged" (MaskedValueForm)
        kind = self.value_type
        if data.get("value_type") in VALUE_TYPES:
            # On the configuration's own page the type may change in the same save: the
            # values are read as the type they are saved under.
            kind = data.get("value_type")
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
    """Free-form JSON (a JSON Schema, a JSON default), pretty-printed; its syntax is checked
    as it is typed (``data-json-syntax``)."""

    def __init__(self, attrs=None):
        super().__init__({"rows": 6, "cols": 80, "data-json-syntax": "1", **(attrs or {})})

    def format_value(self, value):
        from configuration.resolution import MASK

        decoded = _decode(value)
        if isinstance(decoded, InvalidJSONInput) or decoded is None:
            return super().format_value(value if decoded is not None else "")
        if decoded == MASK:
            return json.dumps(MASK)
        return json.dumps(decoded, ensure_ascii=False, indent=2)


def typed_value_form(form_class, configuration, field: str = "value"):
    """``form_class`` with its ``field`` in an input of ``configuration``'s type (and its
    schema shown, JSON checked as it is typed). The form's own cleaning is unchanged."""
    if configuration is None or getattr(configuration, "pk", None) is None:
        return form_class
    from django.urls import reverse

    value_type, schema = configuration.value_type, configuration.schema
    check_url = reverse("console:check_value", args=[configuration.pk])

    class TypedValueForm(form_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if field in self.fields:
                self.fields[field].widget = TypedValueInput(
                    value_type=value_type,
                    schema=schema,
                    check_url=check_url,
                )
                self.fields[field].help_text = f"A {value_type} value of {configuration.key}" + (
                    "; it must also satisfy the schema shown." if schema else "."
                )

    TypedValueForm.__name__ = form_class.__name__
    TypedValueForm.__qualname__ = form_class.__qualname__
    return TypedValueForm
