"""Part 3: hostile input to every write endpoint.

The write endpoints are taken from the URL configuration (every route under /api/ and /ofrep/
whose view answers POST, PUT or PATCH; trailing-slash aliases once), each with a valid body
(tests.proof.routes). Into every field of that body (nested ones too) goes, in turn:
10,000-level nested arrays and objects, 1e400, -1e400, 10**5000 as a literal, lone UTF-16
surrogates ("\\ud800"), invalid UTF-8 bytes, NUL characters, a 1 MB string; whole bodies that
are 10,000 levels deep, not UTF-8, 3 MB, or not JSON at all (text/plain); and a configuration
JSON Schema with a catastrophic regular expression ("^(a+)+$") against "aaaa...!".
Then hypothesis draws more of the same kinds (random depths, magnitudes, positions, bytes).

Each answer must be 400, 413 or 415 (never a 2xx, never a 5xx), arrive within BOUND seconds,
and leave every domain table, the audit log and the API keys unchanged (checksums before and
after). Each request runs in a savepoint that is rolled back, so the world stays as seeded.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict

import pytest
from django.db import transaction
from django.urls import resolve
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.proof.routes import change_body, fill, post_body, resolver_routes, writable_fields
from tests.proof.world import diff, snapshot
from tests.proof.world import seed as seed_world

pytestmark = [pytest.mark.proof, pytest.mark.timeout(150)]

MAX_EXAMPLES = int(os.environ.get("PROOF_HOSTILE_EXAMPLES", "300"))
BOUND = 2.0  # seconds: the longest any hostile request may take
ALLOWED = {400, 413, 415}
SENTINEL = "\u2603HOSTILE\u2603"
EVIL_PATTERN = "^(a+)+$"
EVIL_SUBJECT = "a" * 28 + "!"  # backtracking `re` needs ~8 s for this; RE2 microseconds

HOSTILE_VALUES: dict[str, bytes] = {
    "nested arrays x10000": b"[" * 10_000 + b"]" * 10_000,
    "nested objects x10000": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "1e400": b"1e400",
    "-1e400": b"-1e400",
    "10**5000": b"1" + b"0" * 5000,
    "lone surrogate": b'"\\ud800"',
    "reversed surrogates": b'"x\\udfff\\ud800y"',
    "invalid UTF-8": b'"\xff\xfe\xc3\x28"',
    "NUL": b'"a\\u0000b"',
    "1 MB string": b'"' + b"x" * 1_000_000 + b'"',
}


def write_endpoints(world) -> list[tuple[str, str, dict]]:
    """[(method, path, valid body)] for every write of every route (platform objects). PUT
    bodies are the object as it is, in the fields the OpenAPI document says are writable;
    PATCH bodies are cut down to the one field under attack (see `bodies`)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world.keys['platform_read']}")
    out, seen = [], set()
    for route in resolver_routes():
        for variant, path, _ in fill(route, world):
            if variant != "platform":
                continue
            match = resolve(path)
            cls = getattr(match.func, "view_class", None) or getattr(match.func, "cls", None)
            actions = getattr(match.func, "actions", None)
            for method in ("POST", "PUT", "PATCH"):
                m = method.lower()
                handles = m in actions if actions is not None else hasattr(cls, m)
                key = (method, path.rstrip("/"))
                if not handles or key in seen:
                    continue
                seen.add(key)
                if method == "POST":
                    body = post_body(path, variant)
                else:
                    got = client.get(path)
                    body = change_body(
                        got.json() if got.status_code == 200 else {},
                        fields=writable_fields(route, method),
                        change=False,
                    )
                out.append((method, path, body))
    return out


def leaf_paths(value, prefix=()):
    """Every place a value can go: each key of each object, the first item of each list."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from leaf_paths(item, (*prefix, key))
    elif isinstance(value, list) and value:
        yield (*prefix, 0)
        yield from leaf_paths(value[0], (*prefix, 0))


def with_raw(body, path, raw: bytes, method: str = "POST") -> bytes:
    """The JSON text of `body` with the value at `path` replaced by the raw JSON text `raw`
    (for PATCH, only the top-level field that holds it is sent)."""
    body = json.loads(json.dumps(body))
    if method == "PATCH":
        body = {path[0]: body[path[0]]}
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = SENTINEL
    text = json.dumps(body).encode()
    return text.replace(json.dumps(SENTINEL).encode(), raw, 1)


def _post_is_read(path: str) -> bool:
    func = resolve(path).func
    cls = getattr(func, "view_class", None) or getattr(func, "cls", None)
    return bool(getattr(cls, "post_is_read", False))


class Verdicts:
    def __init__(self):
        self.failures: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.count = 0
        self.slowest = (0.0, "")

    def send(self, client, method, path, raw: bytes, label: str, content_type=None):
        content_type = content_type or "application/json"
        with transaction.atomic():
            before = snapshot()
            started = time.monotonic()
            response = client.generic(method, path, data=raw, content_type=content_type)
            took = time.monotonic() - started
            after = snapshot()
            transaction.set_rollback(True)
        self.count += 1
        if took > self.slowest[0]:
            self.slowest = (took, f"{method} {path} [{label}]")
        problems = []
        if response.status_code not in ALLOWED:
            problems.append(f"status {response.status_code}")
        if took > BOUND:
            problems.append(f"took {took:.2f}s > {BOUND}s")
        if before != after:
            changed = ", ".join(row.split(":")[0] for row in diff(before, after))
            problems.append(f"stored data changed ({changed})")
        if problems:
            self.failures[(f"{method} {path}", label)].append("; ".join(problems))
        return problems

    def report(self, title) -> str:
        lines = [
            f"== hostile input [{title}]: {self.count} requests, {len(self.failures)} failing "
            f"(endpoint, input) pairs; slowest {self.slowest[0]:.2f}s ({self.slowest[1]})"
        ]
        by_endpoint: dict[str, list[str]] = defaultdict(list)
        for (endpoint, label), problems in sorted(self.failures.items()):
            by_endpoint[endpoint].append(f"{label}: {problems[0]}")
        for endpoint, rows in by_endpoint.items():
            lines.append(f"  {endpoint}")
            lines.extend(f"      {row}" for row in rows[:12])
            if len(rows) > 12:
                lines.append(f"      ... and {len(rows) - 12} more")
        return "\n".join(lines)


@pytest.fixture
def hostile_world(db):
    from configuration.services import create_configuration

    world = seed_world()
    create_configuration(
        data={
            "key": "proof.evil_pattern",
            "description": "a string that must match a catastrophic pattern",
            "value_type": "string",
            "schema": {"type": "string", "pattern": EVIL_PATTERN},
            "default": None,
            "is_sensitive": False,
        }
    )
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world.keys['platform_write']}")
    return world, client, write_endpoints(world)


def test_hostile_input_sweep(hostile_world, proof_report):
    """Every write endpoint x every field x every hostile value, and the whole-body cases."""
    world, client, endpoints = hostile_world
    started = time.monotonic()
    verdicts = Verdicts()
    for method, path, body in endpoints:
        for path_in_body in leaf_paths(body):
            where = ".".join(map(str, path_in_body))
            for label, raw in HOSTILE_VALUES.items():
                verdicts.send(
                    client,
                    method,
                    path,
                    with_raw(body, path_in_body, raw, method),
                    f"{label} in {where}",
                )
        valid = json.dumps(body).encode()
        whole = {
            "body nested x10000": (b"[" * 10_000 + b"]" * 10_000, None),
            "body not UTF-8": (b'{"name": "\xc3\x28\xff"}', None),
            "body 3 MB": (b'{"name": "' + b"x" * 3_000_000 + b'"}', None),
        }
        if not _post_is_read(path):
            # OFREP evaluates a body whatever its declared type (a read, by design).
            whole["body as text/plain"] = (valid, "text/plain")
        for label, (raw, content_type) in whole.items():
            verdicts.send(client, method, path, raw, label, content_type)
    # Catastrophic regular expressions in configuration schemas.
    evil_schema = {"type": "string", "pattern": EVIL_PATTERN}
    definition = {
        "key": "proof.evil_default",
        "description": "x",
        "value_type": "string",
        "schema": evil_schema,
        "default": EVIL_SUBJECT,
        "is_sensitive": False,
    }
    cases = [
        ("POST", "/api/v1/configurations/", definition),
        (
            "PATCH",
            "/api/v1/configurations/payments.max_amount/",
            {"value_type": "string", "schema": evil_schema, "default": EVIL_SUBJECT},
        ),
        (
            "POST",
            "/api/v1/configurations/proof.evil_pattern/values/",
            {"institution": None, "value": EVIL_SUBJECT},
        ),
        (
            "POST",
            "/api/v1/configurations/proof.evil_pattern/values/",
            {"institution": None, "value": "a" * 100_000 + "!"},
        ),
    ]
    for method, path, body in cases:
        verdicts.send(client, method, path, json.dumps(body).encode(), "catastrophic pattern")
    text = verdicts.report("sweep") + f"\n  took {time.monotonic() - started:.1f}s"
    proof_report(text)
    assert len(endpoints) >= 20, f"too few write endpoints found: {endpoints}"
    assert not verdicts.failures, text.splitlines()[0] + " (details: proof report)"


# --------------------------------------------------------------------------- hypothesis


def _deep():
    return st.builds(
        lambda depth, kind: (
            b"[" * depth + b"]" * depth if kind else b'{"k":' * depth + b"0" + b"}" * depth
        ),
        st.integers(1_500, 100_000),
        st.booleans(),
    )


def _numbers():
    exponent = st.integers(309, 100_000).map(lambda e: f"{e}".encode())
    return st.one_of(
        st.builds(
            lambda sign, mantissa, e: sign + mantissa + b"e" + e,
            st.sampled_from([b"", b"-"]),
            st.sampled_from([b"1", b"9.99", b"0.5", b"123456789"]),
            exponent,
        ),
        st.integers(4_301, 20_000).map(lambda digits: b"9" * digits),
    )


def _strings():
    poison = st.sampled_from(["\x00", "\ud800", "\udfff", "\udbff\x00", "\x00\x00"])
    text = st.text(max_size=30)
    return st.builds(
        lambda a, p, b: json.dumps(a + p + b, ensure_ascii=True).encode(), text, poison, text
    )


def _bad_utf8():
    invalid = st.binary(min_size=1, max_size=12).filter(_not_utf8)
    return st.builds(lambda raw: b'"' + raw.replace(b'"', b"") + b'"', invalid).filter(
        lambda raw: _not_utf8(raw[1:-1])
    )


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _long():
    return st.builds(
        lambda n, c: b'"' + c * n + b'"',
        st.integers(300_000, 1_200_000),
        st.sampled_from([b"a", b"\\u0000", b"9"]),
    )


HOSTILE = st.one_of(_deep(), _numbers(), _strings(), _bad_utf8(), _long())


def test_hostile_input_hypothesis(hostile_world, proof_report):
    """Hypothesis draws endpoint, field (or the whole body) and hostile value; every answer is
    judged and all failures are reported together (no shrinking: a bounded, reported sweep)."""
    world, client, endpoints = hostile_world
    started = time.monotonic()
    verdicts = Verdicts()

    @seed(20261130)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,  # BOUND is asserted on the request itself; snapshots are not timed
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
        database=None,
    )
    @given(data=st.data())
    def one(data):
        method, path, body = data.draw(st.sampled_from(endpoints), label="endpoint")
        places = list(leaf_paths(body))
        raw = data.draw(HOSTILE, label="hostile value")
        if places and data.draw(st.booleans(), label="inside a field"):
            place = data.draw(st.sampled_from(places), label="field")
            payload, where = with_raw(body, place, raw, method), ".".join(map(str, place))
        else:
            payload, where = raw, "whole body"
        label = f"{_describe(raw)} in {where}"
        verdicts.send(client, method, path, payload, label)

    one()
    text = verdicts.report("hypothesis") + f"\n  took {time.monotonic() - started:.1f}s"
    proof_report(text)
    assert verdicts.count >= MAX_EXAMPLES // 2, "hypothesis ran too few examples"
    assert not verdicts.failures, text.splitlines()[0] + " (details: proof report)"


def _describe(raw: bytes) -> str:
    head = raw[:24]
    return f"{head!r}{'...' if len(raw) > 24 else ''} ({len(raw)} bytes)"
