"""Part 2: the authorization matrix, generated from the URL configuration.

Every route under /api/ and /ofrep/ (walked from django.urls.get_resolver(), so a new route is
covered without editing this file) x every method (GET, HEAD, OPTIONS, POST, PUT, PATCH,
DELETE) x every kind of caller (no key, a bad key, a revoked key, platform read, platform
write, institution A read, institution A "write" (an institution key: the database refuses a
writing one), a staff session user without model permissions). Path parameters are filled
from a seeded world with two institutions A and B and platform-wide objects; each route is
asked three times: about platform-wide objects, about A's and about B's (B's window, value,
institution in the path where the route has such a parameter; `?institution=` naming A or B on
reads, and B as the institution in POST bodies that name one).

What API.md's scope rules mean here (each violation is a "leak"):
- no, bad or revoked key: 401 on every API route, every method;
- a caller that may not write (platform read, institution keys, staff without permissions):
  no write (POST/PUT/PATCH/DELETE; OFREP's POST is an evaluation, a read) is ever answered 2xx,
  and no request of theirs changes any stored row (checksum of all domain tables, audit log and
  API keys before/after, per request);
- institution A's keys: a request addressing B's objects by path is never 2xx; a read naming B
  in `?institution=` never answers 2xx about B (B's code in the answer); the audit log is never
  2xx; no response contains B's data (B's code, B's window, B's value) that the request did not
  name itself;
- nobody ever gets a 5xx.
Each request runs in a savepoint that is rolled back, so a write never changes the world the
next request sees. The routes the matrix reached (Django's resolver_match of every response)
must be exactly the resolver's routes.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.db import transaction
from django.urls import resolve
from rest_framework.test import APIClient

from tests.proof.routes import change_body, fill, post_body, resolver_routes
from tests.proof.world import KEY_KINDS, A, B, diff, seed, snapshot

pytestmark = [pytest.mark.proof, pytest.mark.timeout(240)]

METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
PUBLIC = ("api/schema/", "api/docs/")  # API.md: operations endpoints, no authentication
READ_ONLY_KINDS = ("platform_read", "a_read", "a_write", "staff")
NO_CREDENTIALS = ("none", "bad", "revoked")
INSTITUTION_KINDS = ("a_read", "a_write")
# What only B's owner may see: B's code, B's window, B's configuration value.
B_MARKERS = (B, "B-WIN", "7000000.00")


# ------------------------------------------------------------------------------ callers


def clients(world, django_user_model) -> dict[str, APIClient]:
    out = {}
    for kind in KEY_KINDS:
        client = APIClient(raise_request_exception=False)  # a 500 is a finding, not a crash
        if kind == "staff":
            user = django_user_model.objects.create_user(
                "matrix-staff", "staff@example.com", "x-pass-123!", is_staff=True
            )
            client.force_login(user)  # CSRF is not enforced by APIClient: permissions are
        elif kind != "none":
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world.keys[kind]}")
        out[kind] = client
    return out


def _clear_caches():
    from calendars.cache import clear_local as clear_calendars
    from cbpconfig.api.throttling import reset_local_counts
    from windows.cache import clear_local as clear_windows

    cache.clear()
    clear_calendars()
    clear_windows()
    reset_local_counts()


def _view_flag(path: str, name: str) -> bool:
    func = resolve(path.split("?")[0]).func
    cls = getattr(func, "view_class", None) or getattr(func, "cls", None)
    return bool(getattr(cls, name, False))


# ------------------------------------------------------------------------------ the test


def summarise(leaks) -> list[str]:
    """One line per rule, route and status: which callers and methods, one example URL."""
    lines = []
    for rule, rows in sorted(leaks.items()):
        lines.append(f"  [{rule}] {len(rows)} request(s)")
        groups: dict[tuple, list] = defaultdict(list)
        for route, status, kind, method, url, extra in rows:
            groups[(route, status)].append((kind, method, url, extra))
        for (route, status), items in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1])):
            kinds = sorted({k for k, *_ in items}, key=KEY_KINDS.index)
            methods = sorted({m for _, m, *_ in items}, key=METHODS.index)
            example = items[0][2] + (f" {items[0][3]}" if items[0][3] else "")
            lines.append(
                f"    {route} -> {status}: {','.join(methods)} by {','.join(kinds)} "
                f"(e.g. {example[:200]})"
            )
    return lines


@dataclass
class Call:
    """One request of the matrix and what came back."""

    route: str
    variant: str
    b_owned: bool
    kind: str
    method: str
    url: str
    sent: str  # URL and body as text: what the caller itself named
    status: int = 0
    content: bytes = b""
    changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 400


def violations(call: Call, path: str) -> list[tuple[str, str]]:
    """The scope rules of API.md that this answer breaks: [(rule, detail)]."""
    found = []
    public = call.route.lstrip("^").startswith(PUBLIC)
    if call.status >= 500:
        found.append(("5xx", ""))
    if call.kind in NO_CREDENTIALS and not public and call.status != 401:
        found.append(("no credentials but not 401", ""))
    is_read = call.method not in WRITES or (
        call.method == "POST" and _view_flag(path, "post_is_read")
    )
    if call.kind in READ_ONLY_KINDS and not is_read and call.ok:
        found.append(("read-only caller wrote", ""))
    if call.changed:
        found.append(("stored data changed", str(call.changed)))
    if public or call.kind not in INSTITUTION_KINDS:
        return found  # public pages carry no data; the rest is about institution keys
    text = call.content.decode("utf-8", "replace")
    if call.method != "OPTIONS" and call.ok:
        if call.b_owned:
            found.append(("institution key reached B's object", ""))
        if call.variant == "B" and call.method == "GET" and B in text:
            found.append(("institution key answered about B", ""))
        if "audit-log" in call.route or _view_flag(path, "platform_only"):
            found.append(("institution key read platform-only data", ""))
    shown = [m for m in B_MARKERS if m in text and m not in call.sent]
    if shown:
        found.append(("B's data in A's answer", f"shows {shown}"))
    return found


class Matrix:
    def __init__(self, world, callers):
        self.world = world
        self.callers = callers
        self.reader = callers["platform_read"]
        self.objects: dict[str, dict] = {}
        self.reached: set[str] = set()
        self.leaks: dict[str, list] = defaultdict(list)
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.requests = 0
        self.writer_writes_2xx = 0

    def representation(self, path: str) -> dict:
        """The object at `path` as the platform reader sees it (fetched once)."""
        if path not in self.objects:
            got = self.reader.get(path)
            json_answer = got.get("Content-Type", "").startswith("application/json")
            self.objects[path] = got.json() if got.status_code == 200 and json_answer else {}
        return self.objects[path]

    def request(self, kind, route, variant, path, b_owned, method) -> Call:
        query = {"date": "2026-12-23", "start": "2026-12-01", "end": "2026-12-31", "days": 1}
        if variant in ("A", "B"):
            query["institution"] = {"A": A, "B": B}[variant]
        url, body = path, None
        if method in ("GET", "HEAD", "OPTIONS"):
            url = f"{path}?{urlencode(query)}"
        elif method == "POST":
            body = post_body(path, variant)
        elif method in ("PUT", "PATCH"):
            body = change_body(self.representation(path))
        data = json.dumps(body) if body is not None else ""
        call = Call(route, variant, b_owned, kind, method, url, sent=url + data)
        check_db = kind in READ_ONLY_KINDS and method in WRITES
        with transaction.atomic():
            before = snapshot() if check_db else None
            response = self.callers[kind].generic(
                method, url, data=data, content_type="application/json"
            )
            if check_db:
                call.changed = diff(before, snapshot())
            transaction.set_rollback(True)
        call.status = response.status_code
        call.content = b"" if method == "HEAD" else response.content
        match = getattr(response, "resolver_match", None)
        if match is not None:
            self.reached.add(match.route)
        return call

    def run(self, plan, order):
        for kind in order:
            for route, variant, path, b_owned in plan:
                for method in METHODS:
                    call = self.request(kind, route, variant, path, b_owned, method)
                    self.requests += 1
                    self.statuses[kind][call.status] += 1
                    for rule, detail in violations(call, path):
                        self.leaks[rule].append(
                            (route, call.status, kind, method, call.url.split("?")[0], detail)
                        )
                    if kind == "platform_write" and method in WRITES and call.ok:
                        self.writer_writes_2xx += 1
                        _clear_caches()


def test_authorization_matrix(db, django_user_model, proof_report):
    started = time.monotonic()
    world = seed()
    routes = resolver_routes()
    callers = clients(world, django_user_model)
    _clear_caches()
    plan = [
        (route, variant, path, b_owned)
        for route in routes
        for variant, path, b_owned in fill(route, world)
    ]
    # Writers last: their writes are rolled back too, but caches they filled are cleared.
    order = [k for k in KEY_KINDS if k != "platform_write"] + ["platform_write"]
    matrix = Matrix(world, callers)
    matrix.run(plan, order)
    reached, leaks, statuses = matrix.reached, matrix.leaks, matrix.statuses
    writer_writes_2xx = matrix.writer_writes_2xx

    elapsed = time.monotonic() - started
    total_leaks = sum(len(v) for v in leaks.values())
    lines = [
        f"== authorization matrix: {len(routes)} routes (resolver) x {len(METHODS)} methods x "
        f"{len(KEY_KINDS)} callers over {len(plan)} route variants: {matrix.requests} requests, "
        f"{total_leaks} leaks, {elapsed:.1f}s",
        f"   routes in the matrix {len({p[0] for p in plan})}, in the resolver {len(routes)}, "
        f"reached (Django's resolver_match) {len(reached & set(routes))}; platform writer's "
        f"writes answered 2xx (rolled back): {writer_writes_2xx}",
    ]
    for kind in order:
        counts = ", ".join(f"{s}: {n}" for s, n in sorted(statuses[kind].items()))
        lines.append(f"   {kind:14} {counts}")
    lines.extend(summarise(leaks))
    proof_report("\n".join(lines))

    missing = sorted(set(routes) - reached)
    assert not missing, f"routes the matrix never reached: {missing}"
    assert len({p[0] for p in plan}) == len(routes) == len(reached & set(routes))
    # Sanity: the keys work and the bodies are valid, so a refused write means refused.
    assert statuses["platform_read"][200] > 0, lines[0]
    assert statuses["a_read"][200] > 0, lines[0]
    assert writer_writes_2xx > 0, lines[0]
    assert total_leaks == 0, lines[0] + " (details: proof report)"
