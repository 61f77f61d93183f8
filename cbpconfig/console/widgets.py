"""Form widgets made for the data, so nobody types JSON for what is not free-form JSON:

- :class:`WeekdayCheckboxes` — a list of ISO weekdays (a calendar's weekend, a rule's days);
- :class:`TimeZoneSelect` — an IANA zone picked from the list the validators accept;
- :class:`RulesEditor` — session rules as rows of weekday boxes, time inputs and day offsets.

(The configuration value editors are the configuration app's: :mod:`configuration.widgets`.)

Each widget sits in front of the model's own form field (a JSONField or a CharField): it turns
the inputs into the text that field parses, so the validation stays where it is (the models,
the services). A post that carries the field's raw JSON (an older form, a script) is still
accepted as it is.

Plumbing: every app's admin uses these widgets, so this module imports no domain app.
"""

from __future__ import annotations

import json
from itertools import groupby
from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from cbpconfig.dates import WEEKDAY_NAMES
from cbpconfig.validators import _zones


def decode_json_text(value: object) -> object:
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

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        decoded = decode_json_text(value)
        chosen = set(decoded) if isinstance(decoded, list) else set()
        context["widget"]["days"] = [
            {"number": n, "name": full, "short": full[:3], "checked": n in chosen}
            for n, full in WEEKDAY_NAMES.items()
        ]
        return context

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
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

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False  # no box ticked is a value: no days


# -- time zones -------------------------------------------------------------------------------


def timezone_choices(blank_label: str | None = None) -> list[tuple[str, Any]]:
    """The zones the validators accept, grouped by region (``Europe``, ``America``...)."""
    names = sorted(_zones())
    groups: list[tuple[str, Any]] = []
    for region, members in groupby(names, key=lambda n: n.split("/", 1)[0] if "/" in n else ""):
        group = [(n, n) for n in members]
        groups.append((region or "Other", group))
    choices: list[tuple[str, Any]] = (
        [("", blank_label)] if blank_label is not None else [("", "— choose a zone —")]
    )
    return choices + groups


class TimeZoneSelect(forms.Select):
    """A picker of IANA zones; a stored zone missing from the list is still shown."""

    def __init__(self, attrs: dict[str, Any] | None = None, blank_label: str | None = None):
        super().__init__(attrs, choices=timezone_choices(blank_label))

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        if value and value not in _zones():
            self.choices = [*self.choices, ("Stored", [(value, value)])]
        return super().get_context(name, value, attrs)


# -- session rules ----------------------------------------------------------------------------

RULE_FIELDS = ("label", "opens", "opens_day_offset", "closes", "closes_day_offset")
#: The names of the "add a row" template's fields start ``__rules__-__row__-``: the console's
#: script puts the editor's name and the row's number there. The editor's name is read from its
#: counter when the row is added, so an editor in a row the admin's "Add another" made (whose
#: names the admin renumbers, but not a template's content) gets its own.
TEMPLATE_PREFIX = "__rules__"
OPENS_OFFSETS = [(-1, "day before"), (0, "same day")]
CLOSES_OFFSETS = [(0, "same day"), (1, "next day")]


def _time_text(value: object) -> str:
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

    def __init__(
        self,
        attrs: dict[str, Any] | None = None,
        *,
        weekly: bool = True,
        blank_rows: int = 1,
        addable: bool = True,
    ) -> None:
        super().__init__(attrs)
        self.weekly = weekly
        self.blank_rows = blank_rows
        self.addable = addable

    def _rows(self, value: Any) -> tuple[list[dict[str, Any]], str | None]:
        decoded = decode_json_text(value)
        if isinstance(decoded, InvalidJSONInput):
            return [], str(decoded)
        if decoded in (None, ""):
            return [], None
        if not isinstance(decoded, list) or not all(isinstance(r, dict) for r in decoded):
            return [], json.dumps(decoded)
        return decoded, None

    def _row_context(self, name: str, index: int | str, rule: dict[str, Any]) -> dict[str, Any]:
        found = rule.get("weekdays")
        weekdays: list[Any] = found if isinstance(found, list) else []
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

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        rows, raw = self._rows(value)
        blank: dict[str, Any] = {"weekdays": [1, 2, 3, 4, 5]} if self.weekly else {}
        shown = rows + [dict(blank) for _ in range(self.blank_rows)]
        context["widget"].update(
            {
                "weekly": self.weekly,
                "raw": raw,
                "rows": [self._row_context(name, i, r) for i, r in enumerate(shown)],
                "template_row": self._row_context(TEMPLATE_PREFIX, "__row__", dict(blank)),
                "total": len(shown),
                "addable": self.addable,
                "opens_offsets": OPENS_OFFSETS,
                "closes_offsets": CLOSES_OFFSETS,
                "dom_id": (attrs or {}).get("id") or f"id_{name}",
            }
        )
        return context

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
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
            rule: dict[str, Any] = {"label": values["label"]}
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

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return f"{name}-TOTAL" not in data and name not in data


def _int_or_text(text: str, default: int) -> int | str:
    if text == "":
        return default
    try:
        return int(text)
    except ValueError:
        return text


def rules_table(rules: list[dict[str, Any]], *, weekly: bool = True) -> str:
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
