"""One request through a WSGI application in process (no server): the lean dispatcher's tests
call it with and without the ready responses."""

from __future__ import annotations

import io
import json
from typing import Any
from wsgiref.util import setup_testing_defaults


def wsgi_call(
    app: Any,
    method: str,
    path: str,
    key: str | None = None,
    body: Any = None,
    *,
    raw_body: bytes | None = None,
    **headers: str,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body bytes) of ``method path`` from 127.0.0.1, with ``Api-Key key``
    when given, ``body`` as JSON when given (or ``raw_body``, these exact bytes), and ``headers`` as HTTP_<NAME> (``if_none_match``
    becomes ``If-None-Match``)."""
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    query = ""
    if "?" in path:
        path, query = path.split("?", 1)
    data = raw_body if raw_body is not None else b"" if body is None else json.dumps(body).encode()
    environ.update(
        {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(data),
        }
    )
    if body is not None or raw_body is not None:
        environ["CONTENT_LENGTH"] = str(len(data))
        environ["CONTENT_TYPE"] = "application/json"
    if key:
        environ["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    for name, value in headers.items():
        environ[f"HTTP_{name.upper()}"] = value
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = response_headers

    result = app(environ, start_response)
    try:
        payload = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return captured["status"], captured["headers"], payload
