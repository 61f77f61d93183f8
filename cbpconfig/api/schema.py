"""The OpenAPI document tells the truth about the shared plumbing, written once.

Views describe what is theirs (parameters, request and success shapes, their own errors when
they have a special meaning). Everything the plumbing does to every view is added here, so
no view has to repeat it and none can forget it:

- :func:`document_common_responses` (a drf-spectacular postprocessing hook, named in
  ``SPECTACULAR_SETTINGS``) adds to every operation the status codes that the project's
  authentication, permission, throttling, parsing, rendering, pagination, conditional requests
  and exception handler (:mod:`cbpconfig.api.exceptions`) can answer, each with the error
  body they really send. The rules, from the operation as documented:

  ===== =====================================================================================
  304   the operation takes ``If-None-Match`` (the ETag is current)
  400   it takes query parameters or a body (a bad one, named), or it writes (a rule of the
        service refused the change)
  401   it requires authentication (no key, or an unknown, revoked or expired one)
  403   it requires authentication (scope: a read-only or institution key, a platform-only
        endpoint, a staff user without the model permission, a CSRF failure)
  404   it has path parameters (an unknown object, or another institution's) or is paginated
        (a page past the last one)
  406   always (no renderer for the ``Accept`` header)
  409   it writes (uniqueness, a delete that would orphan data)
  412   it takes ``If-Match`` (stale, or not a version)
  413   it takes a body (over the upload limit)
  415   it takes a body (not JSON)
  429   always (throttled; ``Retry-After``)
  503   always (the database is unavailable; ``Retry-After``)
  ===== =====================================================================================

  A code a view documents itself is kept as the view wrote it. OFREP operations
  (``/ofrep/``) answer their own 400/404 bodies (the OFREP specification's), never write (an
  evaluation by POST is a read) and read their body themselves (a body that is too large or
  not JSON is OFREP's 400 ``PARSE_ERROR``), so they get no 409, 413 or 415.

  The same hook documents the ``ETag`` header of the 200 answers of conditional operations,
  and marks every request body whose serializer refuses unknown fields (every write of this
  API: a typo must not be silently ignored) with ``additionalProperties: false``, found by
  asking the serializer itself.

- :class:`VersionedAutoSchema` (the schema class of ``VersionedModelViewSet``) documents the
  conditional-request headers of versioned objects (``If-None-Match`` on a read of one object,
  ``If-Match`` on PUT, PATCH and DELETE, the ``ETag`` of a create) and the update bodies: a
  serializer's ``immutable_fields`` (a code, key, name, date or institution) are required on
  create but read-only on update, so they are not part of the PUT and PATCH request bodies
  (PUT uses a ``<Name>UpdateRequest`` component). At run time the viewset does not require them on update
  either; sent anyway, they must equal the current value (the serializer refuses a change with
  a 400 naming the field), so a client may send back what it read.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from django.http import HttpRequest, HttpResponseBase
from django.views import View
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, is_serializer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import Direction, OpenApiParameter
from drf_spectacular.views import SpectacularSwaggerSplitView

if TYPE_CHECKING:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.plumbing import ComponentRegistry
    from rest_framework.request import Request
    from rest_framework.serializers import Serializer

    # A serializer as drf-spectacular hands it over: an instance, or (`extend_schema`) a class.
    _SerializerType = Serializer[Any] | type[Serializer[Any]]


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]  # drf-spectacular's __init_subclass__ is unannotated
    target_class = "cbpconfig.api.authentication.APIKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>` (or `Bearer <key>`). Create keys with "
            "`manage.py create_api_key NAME [--institution CODE] [--write]`.",
        }


# -- conditional requests ------------------------------------------------------------------------

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='The version the change is based on, e.g. "3"; 412 if it is stale (or not a '
    "version). Without it the change applies to the current version.",
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="An ETag the caller holds; 304 when it is still current.",
)

_ETAG = {"ETag": {"description": "The current version's tag.", "schema": {"type": "string"}}}

_CONDITIONAL_HEADERS: dict[str | None, list[OpenApiParameter]] = {
    "retrieve": [IF_NONE_MATCH],
    "update": [IF_MATCH],
    "partial_update": [IF_MATCH],
    "destroy": [IF_MATCH],
}


class VersionedAutoSchema(AutoSchema):
    """The schema of a `VersionedModelViewSet`: conditional headers and update bodies."""

    def get_override_parameters(self) -> list[OpenApiParameter | _SerializerType]:
        action = getattr(self.view, "action", None)
        return [*_CONDITIONAL_HEADERS.get(action, []), *super().get_override_parameters()]

    def _immutable_fields(self, serializer: _SerializerType | None) -> tuple[str, ...]:
        if self.method not in ("PUT", "PATCH") or not is_serializer(serializer):
            return ()
        names = getattr(serializer, "immutable_fields", ())
        # An instance's fields (a class naming immutable fields would fail here, as it always did).
        fields = cast("Serializer[Any]", serializer).fields
        return tuple(name for name in names if name in fields)

    def get_request_serializer(self) -> _SerializerType | None:
        serializer = super().get_request_serializer()
        # A fresh instance per call (the response side builds its own): marking its fields
        # read-only changes the request body only.
        for name in self._immutable_fields(serializer):
            # An instance: `_immutable_fields` named fields of it.
            field = cast("Serializer[Any]", serializer).fields[name]
            field.read_only = True
            field.required = False
        return serializer

    def get_serializer_name(self, serializer: Serializer[Any], direction: Direction) -> str:
        name = super().get_serializer_name(serializer, direction)
        if direction == "request" and self.method == "PUT" and self._immutable_fields(serializer):
            # POST's body has the immutable fields, PUT's has not: two components.
            name = name.removesuffix("Serializer") + "Update"
        return name

    def get_operation(
        self,
        path: str,
        path_regex: str,
        path_prefix: str,
        method: str,
        registry: ComponentRegistry,
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        created = (operation or {}).get("responses", {}).get("201")
        if created is not None and getattr(self.view, "action", None) == "create":
            created.setdefault("headers", copy.deepcopy(_ETAG))
        if operation and method in ("PUT", "PATCH"):
            serializer = self._get_serializer()  # type: ignore[no-untyped-call]  # drf-spectacular leaves it unannotated
            names = getattr(serializer, "immutable_fields", ()) if serializer else ()
            if names:
                listed = ", ".join(f"`{name}`" for name in names)
                note = (
                    f"Immutable: {listed}, set on create, may be left out; sent, it must equal "
                    "the current value (else 400)."
                )
                description = operation.get("description", "")
                operation["description"] = f"{description}\n\n{note}" if description else note
        return operation


# -- common responses ---------------------------------------------------------------------------

_ERROR = {
    "type": "object",
    "description": "An error answered by the API's shared plumbing: `detail` says what went wrong.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_VALIDATION_ERROR = {
    "type": "object",
    "description": "Bad input: each key names the field or parameter at fault with its "
    'messages (`{"date": ["..."]}`; nested objects and lists mirror the body), or `detail` '
    "for the request as a whole.",
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {}},
            {"type": "object", "additionalProperties": {}},
        ]
    },
    "example": {"date": ["'2026-13-01' is not a valid calendar date."]},
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_VALIDATION_ERROR_REF = {"$ref": "#/components/schemas/ValidationError"}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}


def _error(
    description: str,
    *,
    schema: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema or _ERROR_REF}},
    }
    if headers:
        response["headers"] = headers
    return response


COMMON_RESPONSES: dict[int, dict[str, Any]] = {
    304: {"description": "Not modified: If-None-Match names the current ETag.", "headers": _ETAG},
    400: _error(
        "Bad input: a parameter or field that is missing, malformed or out of range (named), "
        "or a change a rule refuses.",
        schema=_VALIDATION_ERROR_REF,
    ),
    401: _error(
        "No credentials, or an unknown, revoked or expired API key.",
        headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
    ),
    403: _error(
        "The caller may not do this (a read-only or institution key, a platform-only endpoint, "
        "a staff user without the model permission)."
    ),
    404: _error("Not found: no such object, not the caller's, or a page past the last one."),
    406: _error("No representation for the Accept header."),
    409: _error(
        "Conflicts with existing data (a uniqueness rule, or a delete that would orphan data)."
    ),
    412: _error("If-Match does not name the current version."),
    413: _error("The request body is larger than the upload limit."),
    415: _error("The request body is not JSON."),
    429: _error("Throttled.", headers=_RETRY_AFTER),
    503: _error("The database is unavailable; retry shortly.", headers=_RETRY_AFTER),
}

_WRITES = {"post", "put", "patch", "delete"}
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def common_status_codes(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The codes the shared plumbing can answer for this operation (the table above)."""
    parameters = operation.get("parameters", [])
    locations = {(p.get("in"), p.get("name", "").lower()) for p in parameters}
    takes_query = any(location == "query" for location, _ in locations)
    takes_path = any(location == "path" for location, _ in locations)
    body = "requestBody" in operation
    ofrep = path.startswith("/ofrep/")
    writes = method in _WRITES and not ofrep
    security = operation.get("security", [])
    authenticated = bool(security) and {} not in security

    codes = {406, 429, 503}
    if ("header", "if-none-match") in locations:
        codes.add(304)
    if takes_query or body or writes:
        codes.add(400)
    if authenticated:
        codes |= {401, 403}
    if takes_path or ("query", "page") in locations:
        codes.add(404)
    if writes:
        codes.add(409)
    if ("header", "if-match") in locations:
        codes.add(412)
    if body and not ofrep:
        codes |= {413, 415}
    return codes


@cache
def refuses_unknown_fields(serializer_class: type[Serializer[Any]]) -> bool:
    """Whether the serializer answers 400 to a field it does not know (asked, not assumed)."""
    probe = "\x00unknown-field-probe"
    try:
        serializer = serializer_class(data={probe: 0})
        serializer.is_valid()
        return probe in serializer.errors
    except Exception:  # a serializer that cannot be built bare: claim nothing
        return False


def _close_request_bodies(result: dict[str, Any], generator: SchemaGenerator) -> None:
    registry = getattr(generator, "registry", None)
    if registry is None:
        return
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if not name.endswith("Request") or "additionalProperties" in schema:
            continue
        try:
            component = registry[(name, ResolvedComponent.SCHEMA)]
        except KeyError:
            continue
        if is_serializer(component.object) and refuses_unknown_fields(type(component.object)):  # type: ignore[arg-type]  # mypy: a class is Hashable
            schema["additionalProperties"] = False


def document_common_responses(
    result: dict[str, Any], generator: SchemaGenerator, request: Request | None, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: see the module docstring."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", copy.deepcopy(_ERROR))
    schemas.setdefault("ValidationError", copy.deepcopy(_VALIDATION_ERROR))
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code in common_status_codes(path, method, operation):
                responses.setdefault(str(code), copy.deepcopy(COMMON_RESPONSES[code]))
            for code, response in responses.items():
                common = COMMON_RESPONSES.get(int(code)) if code.isdigit() else None
                # A code the view described without its body or headers: the plumbing's.
                for part in ("content", "headers"):
                    if common and part in common and not response.get(part):
                        response[part] = copy.deepcopy(common[part])
            headers = {
                p.get("name", "").lower()
                for p in operation.get("parameters", [])
                if p.get("in") == "header"
            }
            if headers & {"if-none-match", "if-match"} and "200" in responses:
                # A conditional read or change answers with the (new) ETag.
                responses["200"].setdefault("headers", copy.deepcopy(_ETAG))
            operation["responses"] = dict(sorted(responses.items()))
    _close_request_bodies(result, generator)
    document_value_rules(schemas)
    return result


#: Rules of a domain app's own validators, registered by the app (its ``AppConfig.ready``) so
#: that the plumbing imports no domain module: (component, property) -> schema keywords.
_REGISTERED_RULES: dict[tuple[str, str], dict[str, Any]] = {}


def register_value_rule(component: str, prop: str, rule: dict[str, Any]) -> None:
    """State in the schema the rule of a domain validator, from the one place the app keeps it
    (e.g. the configuration key pattern); applied as :func:`document_value_rules` says."""
    _REGISTERED_RULES[(component, prop)] = rule
    _value_rules.cache_clear()


@cache
def _value_rules() -> dict[tuple[str, str], dict[str, Any]]:
    """(component, property) -> the schema keywords that state a model validator's rule,
    taken from the one list each validator uses (zones, countries; the apps' own rules, such as
    the key pattern, are registered by the apps)."""
    from cbpconfig.countries import COUNTRY_CODES
    from cbpconfig.dates import SUPPORTED_YEARS
    from cbpconfig.validators import _zones

    zones = {"enum": sorted(_zones())}
    return {
        **_REGISTERED_RULES,
        ("Calendar", "timezone"): zones,
        ("Institution", "timezone"): zones,
        ("Window", "timezone"): zones,
        ("Institution", "country"): {"enum": sorted(COUNTRY_CODES)},
        ("Configuration", "schema"): {"type": "object"},
        ("Window", "sessions"): {"minItems": 1},
        ("WeeklyRule", "weekdays"): {"minItems": 1, "uniqueItems": True},
        ("Calendar", "weekend_days"): {"uniqueItems": True},
        ("HolidayImport", "years"): {
            "minItems": 1,
            "items": {
                "type": "integer",
                "minimum": SUPPORTED_YEARS.start,
                "maximum": SUPPORTED_YEARS[-1],
            },
        },
    }


def _component_base(name: str) -> str:
    name = name.removeprefix("Patched")
    for suffix in ("UpdateRequest", "Request"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def document_value_rules(schemas: dict[str, Any]) -> None:
    """State in the schema the rules of the model validators that JSON Schema can express
    (an enum of time zones and country codes, the configuration key pattern, non-empty lists),
    in every request and response component of the object. A nullable or blank-allowed
    property keeps null and "" in its enum."""
    rules = _value_rules()
    for name, component in schemas.items():
        base = _component_base(name)
        for prop, schema in component.get("properties", {}).items():
            rule = rules.get((base, prop))
            if rule is None or schema.get("readOnly"):
                continue
            schema.update(copy.deepcopy(rule))
            if "enum" in rule:
                schema.pop("maxLength", None)
                if schema.get("nullable"):
                    schema["enum"] = [*schema["enum"], "", None]


class SwaggerUIView(SpectacularSwaggerSplitView):
    """Swagger UI (/api/docs/). OPTIONS answers Django's plain 200 with ``Allow``: DRF's
    metadata answer would go through the page's template renderer, which has no template for
    it (a 500)."""

    def options(  # type: ignore[override]  # Django's plain answer, not DRF's Response
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        return View.options(self, request, *args, **kwargs)
