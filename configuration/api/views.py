from __future__ import annotations

import json

from django.db.models import F
from django.http import HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.functional import cached_property
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from cbpconfig import ready
from cbpconfig.api.etag import conditional_response
from cbpconfig.api.params import query_datetime, query_value
from cbpconfig.api.permissions import institution_for, institution_scope
from cbpconfig.api.views import IF_NONE_MATCH, VersionedModelViewSet, versioned_schema
from cbpconfig.dates import rfc3339
from configuration import metrics, selectors, services
from configuration.api.filters import (
    ConfigurationFilter,
    ConfigurationValueFilter,
    InstitutionFilter,
)
from configuration.api.serializers import (
    ConfigurationSerializer,
    ConfigurationValueSerializer,
    InstitutionSerializer,
    KeyResolutionSerializer,
    ResolvedConfigurationSerializer,
)
from configuration.models import Configuration, ConfigurationValue, Institution

SENSITIVE_PERMISSION = "configuration.view_sensitive_value"


def can_view_sensitive(request) -> bool:
    """Staff with `configuration.view_sensitive_value` see sensitive values in clear; API keys
    (which carry no Django permissions) and everyone else see "********"."""
    user = request.user
    return bool(user is not None and user.is_authenticated and user.has_perm(SENSITIVE_PERMISSION))


@versioned_schema("institution")
class InstitutionViewSet(VersionedModelViewSet):
    """Participants by BIC. An institution key sees only its own record."""

    serializer_class = InstitutionSerializer
    filterset_class = InstitutionFilter

    def get_queryset(self):
        queryset = Institution.objects.select_related("calendar").order_by("code")
        scope = institution_scope(self.request)
        if scope is not None:
            queryset = queryset.filter(pk=scope)
        return queryset

    service_object = "institution"
    create_service = staticmethod(services.create_institution)
    update_service = staticmethod(services.update_institution)
    delete_service = staticmethod(services.delete_institution)


@versioned_schema("configuration")
class ConfigurationViewSet(VersionedModelViewSet):
    """Configuration definitions, addressed by key (immutable).

    Shared reference data: every key reads them; platform write keys and staff with model
    permissions write. The schema must be a valid JSON Schema (draft 2020-12, no remote
    `$ref`) and the default must satisfy the type and schema. A change of `value_type` or
    `schema` that a stored value would no longer satisfy is refused (400 naming the value).
    The `default` of a sensitive configuration is shown as `"********"` to callers without
    `configuration.view_sensitive_value` (API keys never have it); sending the mask back
    keeps the stored default. Deleting a configuration deletes its values too (each
    deletion is in the audit log)."""

    serializer_class = ConfigurationSerializer
    filterset_class = ConfigurationFilter
    lookup_field = "key"
    lookup_value_regex = r"[^/]+"

    def get_queryset(self):
        return Configuration.objects.order_by("key")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "mask": not can_view_sensitive(self.request)}

    service_object = "configuration"
    create_service = staticmethod(services.create_configuration)
    update_service = staticmethod(services.update_configuration)
    delete_service = staticmethod(services.delete_configuration)


CONFIGURATION_KEY = OpenApiParameter(
    "configuration_key", OpenApiTypes.STR, OpenApiParameter.PATH, description="Configuration key."
)


@versioned_schema("configuration value")
@extend_schema(parameters=[CONFIGURATION_KEY])
class ConfigurationValueViewSet(VersionedModelViewSet):
    """Values of one configuration, global (`institution` null) or per institution, each
    effective from an instant (default: now; a naive date-time is a 400).

    The value must have the configuration's type (decimals as JSON strings) and satisfy its
    schema. (configuration, institution, effective_from) is unique: a duplicate is a 409.
    `institution` is immutable once created. An institution key sees only its own
    institution's values (not the global ones; it sees their effect through resolution).
    Values of a sensitive configuration are shown as `"********"` to callers without
    `configuration.view_sensitive_value` (API keys never have it); sending the mask back
    keeps the stored value."""

    serializer_class = ConfigurationValueSerializer
    filterset_class = ConfigurationValueFilter
    lookup_field = "id"
    lookup_value_regex = r"[0-9]+"

    @cached_property
    def configuration(self) -> Configuration:
        key = self.kwargs.get("configuration_key")
        configuration = Configuration.objects.filter(key=key).first()
        if configuration is None:
            raise NotFound(f"No configuration has the key {key!r}.")
        return configuration

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ConfigurationValue.objects.none()
        queryset = (
            ConfigurationValue.objects.filter(configuration=self.configuration)
            .select_related("institution")
            .order_by(F("institution__code").asc(nulls_first=True), "effective_from", "id")
        )
        scope = institution_scope(self.request)
        if scope is not None:
            queryset = queryset.filter(institution_id=scope)
        return queryset

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["configuration"] = self.configuration
            context["mask"] = not can_view_sensitive(self.request)
        return context

    service_object = "value"
    create_service = staticmethod(services.create_value)
    update_service = staticmethod(services.update_value)
    delete_service = staticmethod(services.delete_value)

    def service_create_kwargs(self):
        return {"configuration": self.configuration}


# ----------------------------------------------------------------------- resolution

AT = OpenApiParameter(
    "at",
    OpenApiTypes.DATETIME,
    OpenApiParameter.QUERY,
    description="The instant to resolve at, with Z or an offset (default: now). A naive "
    "date-time is a 400.",
)


def _query_at(request):
    return query_datetime(request, "at", default_now=False)


def _no_institution(code: str | None) -> NotFound:
    # The same 404 for an unknown institution and for another institution than the key's.
    return NotFound(f"No institution has the code {code!r}.")


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _send(request, etag: str, body: bytes) -> HttpResponseBase:
    # The answer is pre-encoded JSON (from the cache), sent as is: no re-rendering on the
    # hot path.
    return conditional_response(
        request, etag, lambda: HttpResponse(body, content_type="application/json")
    )


class InstitutionConfigurationView(APIView):
    """The resolved configuration of one institution."""

    @extend_schema(
        summary="Resolved configuration of an institution",
        description=(
            "Every key resolved for the institution at `at`: the institution's value with "
            "the latest `effective_from <= at`, else the global one, else the default; keys "
            "with none of these are absent. Sensitive values are masked for callers without "
            "`configuration.view_sensitive_value` (always for API keys). An institution key "
            "may read only its own institution (another is 404). `ETag`; 304 on "
            "`If-None-Match`."
        ),
        parameters=[AT, IF_NONE_MATCH],
        responses={
            200: ResolvedConfigurationSerializer,
            304: OpenApiResponse(description="Not modified"),
            400: OpenApiResponse(description="Bad `at`"),
            404: OpenApiResponse(description="Unknown institution, or not the caller's"),
        },
    )
    def get(self, request, code: str):
        at = _query_at(request)
        institution_for(request, code, refuse=_no_institution(code))
        now = timezone.now()
        try:
            answer = selectors.institution_configuration(
                code=code, at=at, mask=not can_view_sensitive(request), now=now
            )
        except selectors.UnknownInstitution:
            raise _no_institution(code) from None
        metrics.operation("resolve")
        if at is not None:  # a fixed instant: a function of the generation (cbpconfig.ready)
            ready.keep(*metrics.operation_counters("resolve"))
        body = b"".join(
            (
                b'{"institution":',
                _json(code),
                b',"at":',
                _json(rfc3339(at or now)),
                b',"values":',
                answer.body or b"{}",
                b"}",
            )
        )
        return _send(request, answer.etag, body)


class ConfigurationResolveView(APIView):
    """The resolved value of one key."""

    @extend_schema(
        summary="Resolve one configuration key",
        description=(
            "The key resolved for `institution` at `at` (without `institution`: the global "
            "value, else the default). An institution key resolves for its own institution "
            "when `institution` is omitted, and another institution is 404 to it. A key that "
            "resolves to nothing (no value, no default) is 404. `ETag`; 304 on "
            "`If-None-Match`."
        ),
        parameters=[
            OpenApiParameter(
                "institution",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                description="Institution code (BIC); omit for the global value.",
            ),
            AT,
            IF_NONE_MATCH,
        ],
        responses={
            200: KeyResolutionSerializer,
            304: OpenApiResponse(description="Not modified"),
            400: OpenApiResponse(description="Bad `at`, or an empty `institution`"),
            404: OpenApiResponse(
                description="Unknown key or institution, not the caller's institution, or no "
                "value and no default"
            ),
        },
    )
    def get(self, request, key: str):
        at = _query_at(request)
        requested = query_value(request, "institution", "an institution code")
        code = institution_for(request, requested, refuse=_no_institution(requested))
        now = timezone.now()
        try:
            answer = selectors.key_resolution(
                key=key, code=code, at=at, mask=not can_view_sensitive(request), now=now
            )
        except selectors.UnknownConfiguration:
            raise NotFound(f"No configuration has the key {key!r}.") from None
        except selectors.UnknownInstitution:
            raise _no_institution(code) from None
        metrics.operation("resolve")
        if answer.body is None:
            raise NotFound(
                f"{key} has no value for {code or 'the global scope'} at "
                f"{rfc3339(at or now)} and no default."
            )
        # A function of the generation (cbpconfig.ready): for a fixed instant for as long as
        # the data stay, for "now" also only until the next scheduled value takes effect (the
        # body does not name the instant).
        ready.keep(
            *metrics.operation_counters("resolve"),
            until=None if at is not None else answer.valid_until,
        )
        return _send(request, answer.etag, answer.body)
