"""What a browser would post from a form of a page: the one home of the tests' form reading
(the console and admin tests submit forms unchanged or with a few fields set)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class FormFields(HTMLParser):
    """The fields a browser submits from ``<form id=form_id>`` left as it is: checked boxes,
    selected options (the first when none is, for a single select), textarea contents without
    the newline that opens them; never a disabled field, a button, or what a ``<template>``
    holds."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.in_template = 0
        self.data: dict[str, list[str]] = {}
        self._textarea: str | None = None
        self._select: tuple[str, bool] | None = None
        self._select_options: list[tuple[str, bool]] = []
        self._option: list[Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        if tag == "template":
            self.in_template += 1
        if self.in_template:
            return
        name = a.get("name")
        if name and "disabled" in a and tag in ("input", "select", "textarea"):
            return  # not posted (e.g. the typed editors' inputs of the other types)
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            value = a.get("value", "on" if kind == "checkbox" else "")
            self.data.setdefault(name, []).append(value or "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data.setdefault(name, []).append("")
        elif tag == "select" and name:
            self._select = (name, "multiple" in a)
            self._select_options = []
        elif tag == "option" and self._select is not None:
            self._option = [a.get("value"), "selected" in a, ""]

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.data[self._textarea][-1] += data
        if self._option is not None:
            self._option[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "template" and self.in_template:
            self.in_template -= 1
        elif tag == "textarea" and self._textarea is not None:
            value = self.data[self._textarea][-1]
            self.data[self._textarea][-1] = value[1:] if value.startswith("\n") else value
            self._textarea = None
        elif tag == "option" and self._option is not None:
            value, selected, text = self._option
            self._select_options.append((text if value is None else value, selected))
            self._option = None
        elif tag == "select" and self._select is not None:
            name, multiple = self._select
            chosen = [v for v, selected in self._select_options if selected]
            if not chosen and not multiple and self._select_options:
                chosen = [self._select_options[0][0]]
            if chosen:
                self.data.setdefault(name, []).extend(chosen)
            self._select = None


def opened_form(client: Any, url: str, form_id: str) -> dict[str, list[str]]:
    """GET ``url`` and return what submitting its form ``form_id`` unchanged would post (an
    inline's empty ``__prefix__`` form is not posted either)."""
    response = client.get(url)
    assert response.status_code == 200, url
    parser = FormFields(form_id)
    parser.feed(response.content.decode())
    assert parser.data, f"no form {form_id!r} in {url}"
    return {k: v for k, v in parser.data.items() if "__prefix__" not in k}


def with_fields(form: dict[str, list[str]], **fields: Any) -> dict[str, list[str]]:
    """``form`` with ``fields`` set: ``rows__0__name`` is the field ``rows-0-name`` (an inline
    row's), a list is every value of a multiple field, anything else the one value; a button
    is a field too (``_save="Save"``)."""
    out = dict(form)
    for name, value in fields.items():
        out[name.replace("__", "-")] = value if isinstance(value, list) else [value]
    return out
