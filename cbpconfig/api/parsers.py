"""The one JSON parser for request bodies: bounded in size and depth.

Every JSON body goes through :func:`parse_json_body` — DRF's views through
:class:`SafeJSONParser`, and OFREP's views (which read the raw body themselves so that a body
sent without a JSON content type is still evaluated) by calling it directly — so no caller can
reach a RecursionError, a body larger than the upload limit, or a value nested deeper than the
rest of the service (serializers, JSON Schema validation, the audit log) can walk.

- Size: at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes (Django's own limit, 2.5 MB), else
  :class:`BodyTooLarge` (413 on the API; OFREP answers 400 ``PARSE_ERROR``, as its
  specification has no 413).
- Depth: at most :data:`MAX_DEPTH` nested arrays/objects, else :class:`BodyParseError` (400).
- ``NaN``/``Infinity`` are not JSON and are refused, as DRF's strict parser does; so is a
  number too large for a double (``1e400``), which Python would read as infinity.
- A string (or object key) holding a lone UTF-16 surrogate (``"\\ud800"``) is refused: it is
  no Unicode text, and PostgreSQL can store it neither in ``text`` nor in ``jsonb``; so is one
  holding U+0000 (``"\\u0000"``), which neither can hold either. OFREP's views pass
  ``refuse_nul=False``: an evaluation context is read, never stored, and the OFREP
  specification lets it carry any attributes, so a NUL there is no reason to refuse it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any, NoReturn

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Above the domain's own limit for JSON values (configuration.models.MAX_JSON_DEPTH, 64), so a
# value nested too deeply is refused by its field with that field's message; far below the
# ~1000 frames at which Python's JSON decoder (and any recursive walk after it) gives up.
MAX_DEPTH = 256


class BodyError(ValueError):
    """A request body that is not acceptable JSON; ``str()`` is a one-line reason."""


class BodyParseError(BodyError):
    """Not JSON, not UTF-8, or nested deeper than MAX_DEPTH."""


class BodyTooLarge(BodyError):
    """Larger than DATA_UPLOAD_MAX_MEMORY_SIZE."""


def max_body_bytes() -> int | None:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"the number {text[:40]} is too large (not a finite double)")
    return value


def parse_json_body(raw: bytes, encoding: str = "utf-8", *, refuse_nul: bool = True) -> Any:
    """Decode one JSON document from a request body, within the size and depth limits;
    ``refuse_nul=False`` for a body that is only read, never stored (OFREP)."""
    limit = max_body_bytes()
    if limit is not None and len(raw) > limit:
        raise BodyTooLarge(f"The body is larger than the limit of {limit} bytes.")
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise BodyParseError(f"JSON parse error - the body is not {encoding}: {exc}") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise BodyParseError(
            f"JSON parse error - the document is nested deeper than {MAX_DEPTH} levels."
        ) from None
    except ValueError as exc:
        raise BodyParseError(f"JSON parse error - {exc}") from None
    if _deeper_than(data, MAX_DEPTH):
        raise BodyParseError(
            f"JSON parse error - the document is nested deeper than {MAX_DEPTH} levels."
        )
    if _has_lone_surrogate(data):
        raise BodyParseError(
            "JSON parse error - a string holds a lone UTF-16 surrogate (such as \\ud800), "
            "which is not Unicode text."
        )
    if refuse_nul and _has_string_matching(data, _NUL):
        raise BodyParseError(
            "JSON parse error - a string holds U+0000 (\\u0000), which cannot be stored."
        )
    return data


_SURROGATE = re.compile("[\ud800-\udfff]")
_NUL = re.compile("\x00")


def _has_lone_surrogate(data: Any) -> bool:
    """True when a string or object key in ``data`` holds a surrogate code point (json.loads
    joins a valid \\ud83d\\ude00 pair into one character, so any left is a lone one)."""
    return _has_string_matching(data, _SURROGATE)


def _has_string_matching(data: Any, pattern: re.Pattern[str]) -> bool:
    """True when a string or object key anywhere in ``data`` matches ``pattern``."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if pattern.search(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _deeper_than(data: Any, limit: int) -> bool:
    """True when ``data`` nests more than ``limit`` arrays/objects (iterative: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class SafeJSONParser(JSONParser):
    """DRF's JSON parser on :func:`parse_json_body`: a 400 in the API's error shape for a body
    that is not JSON or nests too deeply, a 413 for one over the upload limit."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = max_body_bytes()
        # DRF hands JSON parsers a BytesIO of request.body (Django has enforced the limit
        # already); read one byte past the limit anyway so a raw stream can never be slurped.
        raw = stream.read() if limit is None else stream.read(limit + 1)
        try:
            return parse_json_body(raw, encoding)
        except BodyTooLarge as exc:
            # Imported here: cbpconfig.api.exceptions imports DRF's views, which import the
            # parser classes named in the settings (this module).
            from cbpconfig.api.exceptions import PayloadTooLarge

            raise PayloadTooLarge(str(exc)) from None
        except BodyParseError as exc:
            raise ParseError(str(exc)) from None


__all__ = [
    "MAX_DEPTH",
    "BodyError",
    "BodyParseError",
    "BodyTooLarge",
    "SafeJSONParser",
    "parse_json_body",
]
