"""What the ``holidays`` package can import, named for people: countries by name (once each:
the package also lists alpha-3 codes and aliases such as GBR and UK for GB), their
subdivisions by name, and the financial markets by name with the code the contract uses
(``ECB`` is TARGET2). The import itself is validated by ``calendars.services.holiday_source``.
"""

from __future__ import annotations

import functools
import re

import holidays as holidays_package
from holidays import registry

_WORDS = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _humanize(class_name: str) -> str:
    return _WORDS.sub(" ", class_name)


@functools.cache
def countries() -> tuple[tuple[str, str], ...]:
    """``(alpha-2 code, "Name (CC)")``, by name."""
    supported = holidays_package.list_supported_countries()
    found = {}
    for entry in registry.COUNTRIES.values():
        class_name, code = entry[0], entry[1]
        if code in supported and len(code) == 2:
            found[code] = f"{_humanize(class_name)} ({code})"
    return tuple(sorted(found.items(), key=lambda item: item[1]))


@functools.cache
def _country_classes() -> dict[str, str]:
    return {entry[1]: entry[0] for entry in registry.COUNTRIES.values()}


@functools.cache
def subdivisions(country: str) -> tuple[tuple[str, str], ...]:
    """``(code, "Name (CODE)")`` of a country's subdivisions, in the package's order."""
    codes = holidays_package.list_supported_countries().get(country)
    if not codes:
        return ()
    cls = getattr(holidays_package, _country_classes().get(country, ""), None)
    names: dict[str, str] = {}
    for name, code in (getattr(cls, "subdivisions_aliases", None) or {}).items():
        names.setdefault(code, name)
    return tuple((code, f"{names[code]} ({code})" if code in names else code) for code in codes)


#: What people call some markets' calendars.
NOTES = {"ECB": "TARGET2", "FED": "Fedwire"}


def _market_code(codes: tuple[str, ...]) -> str:
    # The package lists the ISO 10383 MIC first (XECB) and the usual name after (ECB): the
    # usual name is what people and the contract say.
    if len(codes) > 1 and len(codes[0]) == 4 and codes[0].startswith("X"):
        return codes[1]
    return codes[0]


@functools.cache
def markets() -> tuple[tuple[str, str], ...]:
    """``(code, "Name (CODE)")`` of the financial calendars, by name."""
    found = []
    for entry in registry.FINANCIAL.values():
        code = _market_code(tuple(entry[1:]))
        note = f" — {NOTES[code]}" if code in NOTES else ""
        found.append((code, f"{_humanize(entry[0])}{note} ({code})"))
    return tuple(sorted(found, key=lambda item: item[1]))
