"""One HTTP request to a server a test started: with urllib (an error status is an answer
too) or with http.client on a connection of its own (a failed connection is a result too)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping

from tests.support.processes import HOST


def fetch(
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 15,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; a 4xx or 5xx answer is returned like any other.
    Connection failures raise (OSError)."""
    request = urllib.request.Request(url, method=method, headers=dict(headers or {}), data=body)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def request(
    port: int,
    method: str,
    path: str,
    key: str | None = None,
    body: object | None = None,
    timeout: float = 10,
    headers: Mapping[str, str] | None = None,
) -> tuple[int | str, dict[str, str], bytes]:
    """(status or failure kind, headers, body) of one request on a connection of its own to
    127.0.0.1:``port``, with ``Api-Key key`` and ``body`` as JSON when given. The failure kinds:
    "refused", "dropped" (reset before an answer), "timeout", "error:<exception>"."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    sent = {"Connection": "close", **(headers or {})}
    if key:
        sent["Authorization"] = f"Api-Key {key}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        payload = response.read()
        return response.status, dict(response.getheaders()), payload
    except ConnectionRefusedError:
        return "refused", {}, b""
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
        return "dropped", {}, b""
    except TimeoutError:
        return "timeout", {}, b""
    except OSError as exc:
        return f"error:{type(exc).__name__}", {}, b""
    finally:
        conn.close()
