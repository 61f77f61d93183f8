"""Flags over the API: CRUD (`/api/v1/flags/`), evaluation for an institution, and OFREP."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseBase
from django.http.request import RawPostDataException
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from cbpconfig import ready
from cbpconfig.api.etag import conditional_response, digest_etag
from cbpconfig.api.exceptions import reject
from cbpconfig.api.params import query_value
from cbpconfig.api.parsers import BodyError, parse_json_body
from cbpconfig.api.permissions import institution_code_scope, institution_for
from cbpconfig.api.views import IF_NONE_MATCH, VersionedModelViewSet, versioned_schema
from flags import metrics, selectors, services
from flags.api.serializers import (
    DetailSerializer,
    EvaluationSerializer,
    FlagSerializer,
    OFREPBulkFailureSerializer,
    OFREPBulkSuccessSerializer,
    OFREPEvaluationFailureSerializer,
    OFREPEvaluationRequestSerializer,
    OFREPEvaluationSuccessSerializer,
    OFREPFlagNotFoundSerializer,
)
from flags.selectors import FlagResult, InstitutionEvaluation


@versioned_schema("flag")
class FlagViewSet(VersionedModelViewSet):
    """Feature flags (django-waffle flags), addressed by their immutable `name`.

    Institution keys read flag definitions, but `institutions` shows them only their own code
    (which other institutions a flag targets is not theirs to know)."""

    serializer_class = FlagSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.flag_queryset()

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["institution_code"] = institution_code_scope(self.request)
        context["institution_scoped"] = context["institution_code"] is not None
        return context

    service_object = "flag"
    create_service = staticmethod(services.create_flag)
    update_service = staticmethod(services.update_flag)
    delete_service = staticmethod(services.delete_flag)


def _etag(evaluation: InstitutionEvaluation) -> str:
    # Derived from the answer itself, so every server gives the same tag for the same answer.
    return digest_etag(
        "flags",
        evaluation.institution,
        evaluation.environment,
        "|".join(f"{r.name}:{int(r.enabled)}:{r.reason}:{r.version}" for r in evaluation.results),
    )


class _PrerenderedJSONResponse(Response):
    """A Response whose JSON body was rendered once for a memoised answer: the bulk
    evaluation is the hot read, and encoding dozens of flags per request is most of its own
    cost. Any other negotiated rendering (browsable API, `; indent=`) builds the data and
    renders as usual."""

    def __init__(self, body: bytes, build_data, **kwargs):
        super().__init__(None, **kwargs)
        self.prerendered = body
        self.build_data = build_data

    @property
    def rendered_content(self):
        renderer = getattr(self, "accepted_renderer", None)
        media_type = getattr(self, "accepted_media_type", "") or ""
        if type(renderer) is JSONRenderer and "indent" not in media_type:
            self["Content-Type"] = renderer.media_type
            return self.prerendered
        self.data = self.build_data()
        return super().rendered_content


def _answer(request, evaluation: InstitutionEvaluation, kind: str, build) -> HttpResponseBase:
    """200 with the ETag, or 304 when If-None-Match names it. The JSON body and the ETag are
    kept with the memoised answer (bytes only: the memo must stay small)."""
    body, etag = evaluation.render(kind, lambda e: (JSONRenderer().render(build(e)), _etag(e)))
    return conditional_response(
        request, etag, lambda: _PrerenderedJSONResponse(body, lambda: build(evaluation))
    )


def _evaluate_data(evaluation: InstitutionEvaluation) -> dict:
    return {
        "institution": evaluation.institution,
        "environment": evaluation.environment,
        "flags": {r.name: {"enabled": r.enabled, "reason": r.reason} for r in evaluation.results},
    }


def _ofrep_bulk_data(evaluation: InstitutionEvaluation) -> dict:
    return {"flags": [_success(r) for r in evaluation.results]}


class FlagEvaluationView(APIView):
    """Every flag evaluated for one institution in this deployment's environment."""

    @extend_schema(
        operation_id="flags_evaluate",
        summary="Evaluate every flag for an institution",
        description=(
            "Rules, first match wins: CBP_FLAG_OVERRIDES (`STATIC`), the environment's override "
            "(`STATIC`), `everyone` (`STATIC`), targeted institution (`TARGETING_MATCH`), "
            "rollout bucket below `rollout_percent` (`SPLIT`), otherwise off (`DEFAULT`). "
            "An institution key evaluates for its own institution and needs no parameter; "
            "naming another institution is a 404. A platform key must name the institution "
            "(400 without it). Unknown institution: 404. Sends an ETag; 304 on If-None-Match."
        ),
        parameters=[
            OpenApiParameter(
                "institution",
                {"type": "string", "minLength": 1},
                OpenApiParameter.QUERY,
                description="Institution code (BIC); optional for an institution key.",
            ),
            IF_NONE_MATCH,
        ],
        responses={
            200: EvaluationSerializer,
            304: OpenApiResponse(description="Not modified (If-None-Match matched)."),
            400: OpenApiResponse(description="`institution` missing (platform callers)."),
            404: OpenApiResponse(description="Unknown institution, or another institution's."),
        },
    )
    def get(self, request):
        # Present but empty is a 400 naming it, as for every query parameter.
        requested = query_value(request, "institution", "an institution code")
        code = institution_for(
            request, requested, refuse=exceptions.NotFound("No such institution.")
        )
        if code is None:
            raise reject("institution", "This parameter is required (an institution code).")
        try:
            evaluation = selectors.evaluate_institution(code)
        except selectors.UnknownInstitution:
            raise exceptions.NotFound("No such institution.") from None
        metrics.record_batch(evaluation.pairs)
        # A function of the flags' token and the institution: kept (cbpconfig.ready).
        pairs = evaluation.pairs
        ready.keep(lambda: metrics.record_batch(pairs))
        # The answer is memoised per institution, so is its rendering (same dict every time).
        return _answer(request, evaluation, "evaluate", _evaluate_data)


# -- OFREP ------------------------------------------------------------------------------------

PARSE_ERROR = "PARSE_ERROR"
TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
INVALID_CONTEXT = "INVALID_CONTEXT"
FLAG_NOT_FOUND = "FLAG_NOT_FOUND"


class OFREPError(Exception):
    def __init__(self, code: str, details: str):
        super().__init__(details)
        self.code = code
        self.details = details


def _success(result: FlagResult) -> dict:
    return {
        "key": result.name,
        "value": result.enabled,
        "reason": result.reason,
        "variant": result.variant,
        "metadata": {"version": result.version},
    }


OFREP_DESCRIPTION = (
    "OpenFeature Remote Evaluation Protocol (open-feature/protocol, service/openapi.yaml). "
    'Body: `{"context": {"targetingKey": "<institution code>"}}`. Flags are booleans: '
    '`value` true/false, `variant` "on"/"off", `reason` as in /api/v1/flags/evaluate. '
    "Errors: 400 `PARSE_ERROR` (body is not a JSON object), `TARGETING_KEY_MISSING` "
    "(no context, or no/empty/null `targetingKey`), `INVALID_CONTEXT` (context not an object, "
    "`targetingKey` not a string, or no institution has that code); 401 without a key; "
    "403 when an institution key names another institution as targetingKey (it may evaluate "
    "only for its own institution; not INVALID_CONTEXT, because the context is well formed "
    "and the caller is not authorised); 429 with Retry-After (seconds)."
)

_OFREP_EXAMPLE = OpenApiExample(
    "Evaluate for an institution",
    value={"context": {"targetingKey": "DEUTDEFF"}},
    request_only=True,
)


class _OFREPView(APIView):
    """Evaluation by POST: a read, so institution keys may call it (`post_is_read`)."""

    post_is_read = True

    def targeting_key(self, request) -> str:
        """The institution code the caller asks about, checked against its scope."""
        try:
            raw = request.body
        except RawPostDataException:
            raise OFREPError(PARSE_ERROR, "The body could not be read as JSON.") from None
        except RequestDataTooBig:
            raise OFREPError(PARSE_ERROR, "The body is too large.") from None
        if raw.strip():
            # The project's one JSON parser (size and depth limits), on the raw body so that a
            # body sent without a JSON content type is still evaluated. The context is read,
            # never stored: a U+0000 in it is no reason to refuse (OFREP allows any attributes).
            try:
                body = parse_json_body(raw, refuse_nul=False)
            except BodyError as exc:
                raise OFREPError(PARSE_ERROR, str(exc)) from None
        else:
            body = {}
        if not isinstance(body, dict):
            raise OFREPError(PARSE_ERROR, "The body must be a JSON object with a `context`.")
        context = body.get("context")
        if context is None:
            raise OFREPError(TARGETING_KEY_MISSING, "No `context` with a `targetingKey`.")
        if not isinstance(context, dict):
            raise OFREPError(INVALID_CONTEXT, "`context` must be an object.")
        key = context.get("targetingKey")
        if key is None or key == "":
            raise OFREPError(
                TARGETING_KEY_MISSING, "`context.targetingKey` (the institution code) is missing."
            )
        if not isinstance(key, str):
            raise OFREPError(INVALID_CONTEXT, "`context.targetingKey` must be a string.")
        return institution_for(
            request,
            key,
            refuse=exceptions.PermissionDenied(
                "An institution key evaluates flags only for its own institution."
            ),
        )


class OFREPFlagView(_OFREPView):
    @extend_schema(
        operation_id="ofrep_evaluate_flag",
        summary="OFREP single flag evaluation",
        description=OFREP_DESCRIPTION,
        request=OFREPEvaluationRequestSerializer,
        examples=[_OFREP_EXAMPLE],
        responses={
            200: OFREPEvaluationSuccessSerializer,
            400: OFREPEvaluationFailureSerializer,
            401: DetailSerializer,
            403: DetailSerializer,
            404: OFREPFlagNotFoundSerializer,
            429: OpenApiResponse(DetailSerializer, description="Throttled; see Retry-After."),
        },
        tags=["ofrep"],
    )
    def post(self, request, key: str):
        try:
            code = self.targeting_key(request)
            result = selectors.evaluate_flag(key, code)
        except OFREPError as exc:
            return Response(
                {"key": key, "errorCode": exc.code, "errorDetails": exc.details},
                status=status.HTTP_400_BAD_REQUEST,
            )
        except selectors.FlagNotFound:
            metrics.record_not_found()
            return Response(
                {
                    "key": key,
                    "errorCode": FLAG_NOT_FOUND,
                    "errorDetails": f"No flag named {key!r}.",
                },
                status=status.HTTP_404_NOT_FOUND,
            )
        except selectors.UnknownInstitution:
            return Response(
                {
                    "key": key,
                    "errorCode": INVALID_CONTEXT,
                    "errorDetails": "Unknown institution: no institution has this targetingKey.",
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        metrics.record_evaluation(result.name, result.enabled)
        return Response(_success(result))


class OFREPBulkView(_OFREPView):
    @extend_schema(
        operation_id="ofrep_evaluate_flags",
        summary="OFREP bulk evaluation (every flag)",
        description=OFREP_DESCRIPTION + " Sends an ETag; 304 on If-None-Match.",
        request=OFREPEvaluationRequestSerializer,
        examples=[_OFREP_EXAMPLE],
        parameters=[IF_NONE_MATCH],
        responses={
            200: OFREPBulkSuccessSerializer,
            304: OpenApiResponse(description="Not modified (If-None-Match matched)."),
            400: OFREPBulkFailureSerializer,
            401: DetailSerializer,
            403: DetailSerializer,
            429: OpenApiResponse(DetailSerializer, description="Throttled; see Retry-After."),
        },
        tags=["ofrep"],
    )
    def post(self, request):
        try:
            code = self.targeting_key(request)
            evaluation = selectors.evaluate_institution(code)
        except OFREPError as exc:
            return Response(
                {"errorCode": exc.code, "errorDetails": exc.details},
                status=status.HTTP_400_BAD_REQUEST,
            )
        except selectors.UnknownInstitution:
            return Response(
                {
                    "errorCode": INVALID_CONTEXT,
                    "errorDetails": "Unknown institution: no institution has this targetingKey.",
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        metrics.record_batch(evaluation.pairs)
        # A function of the body, the flags' token and the institution: kept (cbpconfig.ready
        # keys a POST by its body's digest).
        pairs = evaluation.pairs
        ready.keep(lambda: metrics.record_batch(pairs))
        return _answer(request, evaluation, "ofrep", _ofrep_bulk_data)
