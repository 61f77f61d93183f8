"""JSON log lines carry level, logger, message, request id and institution."""

from __future__ import annotations

import json
import logging

from cbpconfig.logging import JsonFormatter, RequestContextFilter, institution_var, request_id_var


def _format(message: str) -> dict:
    record = logging.LogRecord("cbpconfig.api", logging.WARNING, __file__, 1, message, (), None)
    RequestContextFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_json_log__inside_a_request__names_request_and_institution():
    rid, inst = request_id_var.set("req-42"), institution_var.set("DEUTDEFF")
    try:
        line = _format("stale write refused")
    finally:
        request_id_var.reset(rid)
        institution_var.reset(inst)
    assert line["level"] == "WARNING"
    assert line["logger"] == "cbpconfig.api"
    assert line["message"] == "stale write refused"
    assert line["request_id"] == "req-42"
    assert line["institution"] == "DEUTDEFF"
    assert line["time"].endswith("+00:00")


def test_json_log__outside_a_request__nulls():
    line = _format("started")
    assert line["request_id"] is None
    assert line["institution"] is None


def test_json_log__exception__included_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    RequestContextFilter().filter(record)
    text = JsonFormatter().format(record)
    assert "\n" not in text
    assert "ValueError: boom" in json.loads(text)["exception"]
