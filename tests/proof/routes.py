"""Routes of the URL configuration under /api/ and /ofrep/, their path parameters filled from
the seeded world (tests.proof.world), and valid request bodies for their writes. Shared by the
authorization matrix and the hostile-input part, so both follow the URL configuration."""

from __future__ import annotations

import functools
import re

from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import session
from tests.proof.world import A, B

# ------------------------------------------------------------------------------ routes


def resolver_routes() -> dict[str, URLPattern]:
    """Every URL pattern under api/ and ofrep/, keyed by its full route as Django's
    ResolverMatch.route spells it."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = URLResolver._join_route(prefix, str(pattern.pattern))
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            else:
                yield route, pattern

    return {
        route: pattern
        for route, pattern in walk(get_resolver().url_patterns)
        if route.lstrip("^").startswith(("api/", "ofrep/"))
    }


PARAM = re.compile(r"<(?:\w+:)?(?P<a>\w+)>|\(\?P<(?P<b>\w+)>[^)]*\)")


def _owners(world, segment: str, name: str) -> dict[str, tuple[str, bool]]:
    """Candidate values of a path parameter: {variant: (value, owned_by_B)}, chosen by the
    literal path segment in front of it. Unknown segments get the institutions' codes."""
    vid = {owner: str(pk) for owner, (_, pk) in world.values.items()}
    table = {
        "windows": {o: (c, o == "B") for o, c in world.windows.items()},
        "institutions": {"A": (A, False), "B": (B, True)},
        "calendars": {"platform": ("TARGET2+USFED" if name == "codes" else "TARGET2", False)},
        "holidays": {"platform": ("2026-12-25", False)},
        "overrides": {"platform": ("2026-12-24", False)},
        "configurations": {"platform": (world.configurations["platform"], False)},
        "values": {o: (v, o == "B") for o, v in vid.items()},
        "flags": {o: (f, False) for o, f in world.flags.items()},  # definitions are shared
        "audit-log": {"platform": (str(world.audit_entry), False)},
    }
    return table.get(segment, {"platform": ("TARGET2", False), "A": (A, False), "B": (B, True)})


def fill(route: str, world) -> list[tuple[str, str, bool]]:
    """[(variant, path, addresses_B_by_path)] for a route: one per variant "platform", "A" and
    "B", each path parameter taken from that owner's objects where it has any (else from the
    platform's). The callers add `?institution=<A|B>` to the A and B variants, so a route
    without institution-owned path parameters is still asked about A and B."""
    literal = route.replace("^", "").replace("$", "")
    params = list(PARAM.finditer(literal))
    variants = []
    for variant in ("platform", "A", "B"):
        path, last, b_owned = "", 0, False
        for match in params:
            before = literal[last : match.start()]
            segment = before.strip("/").split("/")[-1] or (
                path.strip("/").split("/")[-2] if path.count("/") > 1 else ""
            )
            name = match.group("a") or match.group("b")
            owners = _owners(world, segment, name)
            value, owned = (
                owners.get(variant) or owners.get("platform") or next(iter(owners.values()))
            )
            path += before + value
            b_owned |= owned
            last = match.end()
        path += literal[last:]
        variants.append((variant, "/" + path, b_owned))
    return variants


# ------------------------------------------------------------------------------ bodies

RULE = session()
READ_ONLY_FIELDS = {"version", "created_at", "updated_at", "holidays_until", "id", "source"}
TEXT_FIELDS = ("name", "note", "description", "reason")


def post_body(path: str, variant: str) -> dict:
    inst = {"A": A, "B": B}.get(variant)
    segment = path.rstrip("/").split("/")[-1]
    if path.startswith("/ofrep/"):
        return {"context": {"targetingKey": inst or A}}
    return {
        "calendars": {"code": "NEWCAL", "name": "New", "timezone": "Europe/Berlin"},
        "institutions": {
            "code": "COBADEFF",
            "name": "Commerzbank",
            "country": "DE",
            "timezone": "Europe/Berlin",
        },
        "windows": {
            "code": "NEW-WIN",
            "name": "New",
            "calendar": "TARGET2",
            "institution": inst,
            "payment_type": "SCT",
            "sessions": [RULE],
        },
        "overrides": {"date": "2026-12-28", "closed": True, "reason": "matrix"},
        "holidays": {"date": "2026-12-28", "name": "matrix"},
        "import": {"country": "US", "years": [2026]},
        "configurations": {
            "key": "matrix.new",
            "value_type": "integer",
            "default": 1,
            "description": "matrix",
        },
        "values": {
            "institution": inst,
            "value": "1.00",
            "effective_from": "2027-01-01T00:00:00Z",
        },
        "flags": {"name": "matrix-new", "rollout_percent": "0"},
    }.get(segment, {})


def change_body(representation, *, fields: set[str] | None = None, change: bool = True) -> dict:
    """A valid PUT/PATCH body: the object as a platform reader sees it, restricted to `fields`
    (the documented writable ones; without them, minus the read-only fields), one text changed
    when `change`."""
    if not isinstance(representation, dict):
        return {}
    if fields is not None:
        body = {k: v for k, v in representation.items() if k in fields}
    else:
        body = {k: v for k, v in representation.items() if k not in READ_ONLY_FIELDS}
    for field in TEXT_FIELDS if change else ():
        if isinstance(body.get(field), str):
            body[field] = body[field] + " (changed)"
            break
    return body


# ------------------------------------------------------------------------------ schema


@functools.cache
def openapi() -> dict:
    """The service's own OpenAPI document (as /api/schema/ serves it)."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def template_of(route: str) -> str:
    literal = route.replace("^", "").replace("$", "")
    return "/" + PARAM.sub(lambda m: "{" + (m.group("a") or m.group("b")) + "}", literal)


def _properties(schema: dict, components: dict) -> set[str]:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    names = set(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(key, []):
            names |= _properties(part, components)
    return names


def writable_fields(route: str, method: str) -> set[str] | None:
    """The request-body fields the OpenAPI document declares for this operation (None when
    the operation or its JSON body is not documented)."""
    doc = openapi()
    template = template_of(route)
    for candidate in (template, template.rstrip("/"), template.rstrip("/") + "/"):
        operation = doc["paths"].get(candidate, {}).get(method.lower())
        if operation:
            break
    else:
        return None
    content = (operation.get("requestBody") or {}).get("content", {})
    body = content.get("application/json", {}).get("schema")
    if body is None:
        return None
    return _properties(body, doc.get("components", {}).get("schemas", {}))
