"""``POST /v1/traces`` (and ``/api/v1/otlp/v1/traces``): the OTLP/HTTP trace receiver.

Answers as OTLP/HTTP specifies, in the request's encoding: 200 with an
``ExportTraceServiceResponse`` (``partial_success`` counting and explaining rejected spans),
errors with a ``google.rpc.Status`` for protobuf requests (``code`` the gRPC code, ``message``
"<API error code>: <message>") and with the API's error shape for JSON requests; 429 and 503
carry ``Retry-After``. Authentication, throttling and the limits on failed authentications
are the API's own.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ..api.parsers import _content_length, body_read
from ..api.serializers import ErrorSerializer
from .decoding import JSON, PROTOBUF, spans_decode
from .services import spans_ingest

#: HTTP status -> gRPC status code, for the Status body of a protobuf request's error.
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 406: 3, 409: 9, 413: 8, 415: 3, 422: 3}
GRPC_CODES.update({429: 8, 500: 13, 503: 14})


class _OtlpParser(BaseParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = body_read(stream, content_length=_content_length(parser_context))
        request = (parser_context or {}).get("request")
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "") if request is not None else ""
        return spans_decode(data, media_type=self.media_type, encoding=encoding)


class OtlpProtobufParser(_OtlpParser):
    media_type = PROTOBUF


class OtlpJSONParser(_OtlpParser):
    media_type = JSON


def _is_protobuf(request) -> bool:
    return request.META.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() == PROTOBUF


def _protobuf_response(message: Any, status: int, headers: dict[str, str]) -> HttpResponse:
    response = HttpResponse(message.SerializeToString(), status=status, content_type=PROTOBUF)
    for name, value in headers.items():
        response[name] = value
    return response


_SCHEMA: dict[str, Any] = dict(
    request={
        PROTOBUF: OpenApiTypes.BINARY,
        JSON: OpenApiTypes.OBJECT,
    },
    responses={
        200: OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="ExportTraceServiceResponse, in the request's encoding; "
            "partial_success counts and explains rejected spans",
        ),
        400: OpenApiResponse(
            ErrorSerializer,
            description="`MALFORMED_OTLP`, `MALFORMED_JSON`, `VALIDATION_ERROR` (protobuf "
            "requests get a google.rpc.Status naming the code instead)",
        ),
        401: OpenApiResponse(ErrorSerializer, description="`UNAUTHENTICATED`"),
        413: OpenApiResponse(ErrorSerializer, description="`PAYLOAD_TOO_LARGE`"),
        415: OpenApiResponse(ErrorSerializer, description="`UNSUPPORTED_MEDIA_TYPE`"),
        422: OpenApiResponse(ErrorSerializer, description="`NON_CANONICAL_VALUE`"),
        429: OpenApiResponse(ErrorSerializer, description="`RATE_LIMITED`, Retry-After"),
        503: OpenApiResponse(ErrorSerializer, description="`SERVICE_UNAVAILABLE`, Retry-After"),
    },
    summary="OTLP/HTTP trace export: spans become hash-chained session events",
)


class OtlpTracesView(APIView):
    parser_classes = [OtlpProtobufParser, OtlpJSONParser]

    @extend_schema(operation_id="otlp_traces_export", **_SCHEMA)
    def post(self, request):
        spans = request.data
        if not isinstance(spans, list):  # an empty body reaches here as an empty dict
            spans = []
        result = spans_ingest(project=request.auth.project, spans=spans, api_key=request.auth)
        if _is_protobuf(request):
            message = trace_service_pb2.ExportTraceServiceResponse()
            if result.rejected_spans:
                message.partial_success.rejected_spans = result.rejected_spans
                message.partial_success.error_message = result.error_message
            return _protobuf_response(message, 200, {})
        body: dict[str, Any] = {}
        if result.rejected_spans:
            # OTLP JSON: 64-bit integers as decimal strings.
            body["partialSuccess"] = {
                "rejectedSpans": str(result.rejected_spans),
                "errorMessage": result.error_message,
            }
        return Response(body)

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if not _is_protobuf(self.request) or not isinstance(response, Response):
            return response
        error = (response.data or {}).get("error", {}) if isinstance(response.data, dict) else {}
        status = status_pb2.Status(
            code=GRPC_CODES.get(response.status_code, 2),
            message=f"{error.get('code', 'ERROR')}: {error.get('message', '')}",
        )
        headers = {
            name: response[name] for name in ("Retry-After", "WWW-Authenticate") if name in response
        }
        return _protobuf_response(status, response.status_code, headers)


class OtlpTracesApiView(OtlpTracesView):
    """The same receiver under /api/v1/otlp, documented under an operation id of its own."""

    @extend_schema(operation_id="otlp_traces_export_api", **_SCHEMA)
    def post(self, request):
        return super().post(request)


def status_from_bytes(data: bytes) -> dict[str, Any]:
    """A Status body as a dict (for tests and the demo's messages)."""
    status = status_pb2.Status()
    status.ParseFromString(data)
    return json_format.MessageToDict(status)
