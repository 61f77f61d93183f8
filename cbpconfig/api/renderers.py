"""A fast JSON renderer for large answers (366 days of sessions, 10 years of business days).

It gives the same bytes as DRF's JSONRenderer with our settings (compact, UTF-8, U+2028/U+2029
escaped) through orjson, for data made only of str, int, bool, None, lists and dicts with string
keys. A Decimal, a date-time, a non-string key or an integer beyond 64 bits makes it hand the
whole answer to DRF's renderer. Floats are NOT detected (scanning for them would cost more than
orjson saves, and orjson may spell a float differently from ``json``): a view uses this renderer
only for answers that hold no float by construction, and a test pins that for each such view. A
request for indentation (``Accept: application/json; indent=2``) goes to DRF's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
_SEPARATORS = {b"\xe2\x80\xa8": b"\\u2028", b"\xe2\x80\xa9": b"\\u2029"}


class _NotPlain(TypeError):
    pass


def _refuse(value: object) -> Any:
    raise _NotPlain(type(value).__name__)


def dumps_plain(data: object) -> bytes | None:
    """orjson's bytes for plain data (floats aside: see the module), None when not plain."""
    try:
        body = orjson.dumps(data, default=_refuse, option=_OPTIONS)
    except (orjson.JSONEncodeError, _NotPlain):
        return None
    for raw, escaped in _SEPARATORS.items():
        if raw in body:
            body = body.replace(raw, escaped)
    return body


class FastJSONRenderer(JSONRenderer):
    """DRF's JSONRenderer, byte for byte, through orjson where the data allows it."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if (
            data is not None
            and self.get_indent(accepted_media_type or "", renderer_context or {}) is None
        ):
            body = dumps_plain(data)
            if body is not None:
                return body
        return super().render(data, accepted_media_type, renderer_context)
