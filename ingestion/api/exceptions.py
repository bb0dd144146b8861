"""One error shape for the whole API: ``{"error": {"code", "message", "details"}}``.

Every code here is stable and documented in the OpenAPI schema (``ERROR_CODES``).
"""

from __future__ import annotations

import logging
import math

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response

from ..errors import IngestionError

logger = logging.getLogger(__name__)

#: code -> (HTTP status, meaning). The schema and the README are generated from this table.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "UNAUTHENTICATED": (401, "missing, invalid, expired or revoked API key"),
    "MALFORMED_JSON": (400, "the body is not a single valid JSON document (or has duplicate keys)"),
    "MALFORMED_OTLP": (
        400,
        "the body is not an OTLP ExportTraceServiceRequest (truncated or invalid protobuf, "
        "or a gzip body that cannot be inflated)",
    ),
    "VALIDATION_ERROR": (
        400,
        "a field is missing, unknown or of the wrong type; details list each",
    ),
    "PAYLOAD_HASH_MISMATCH": (400, "a supplied payload_hash differs from the recomputed one"),
    "AUTHORITY_VIOLATION": (403, "a producer sent a CHAIN_SEAL; only the service seals"),
    "SESSION_NOT_FOUND": (404, "no such session in the caller's project"),
    "NOT_FOUND": (404, "no such route"),
    "EXPORT_JOB_NOT_FOUND": (404, "no such export job in the caller's project"),
    "METHOD_NOT_ALLOWED": (405, "the route does not accept this method"),
    "NOT_ACCEPTABLE": (
        406,
        "the requested response format (Accept header or ?format=) is not available",
    ),
    "SESSION_CONFLICT": (409, "the session id is taken"),
    "SESSION_SEALED": (409, "the session is sealed; nothing more can be appended"),
    "SEQUENCE_GAP": (409, "the batch does not continue the stored chain; see expected_sequence"),
    "SEQUENCE_CONFLICT": (409, "a sequence number or event id is reused with different content"),
    "ORDERING_VIOLATION": (409, "the batch breaks the event ordering rules"),
    "EMPTY_SESSION": (409, "a session without events cannot be sealed"),
    "EXPORT_NOT_READY": (409, "the export job has not finished; poll its status"),
    "EXPORT_FAILED": (409, "the export job failed (details: reason); ask for a new export"),
    "EXPORT_EXPIRED": (410, "the export job's file was deleted after its retention period"),
    "POLICY_VIOLATION": (409, "the batch breaks the project's policy (413 for size rules)"),
    "PAYLOAD_TOO_LARGE": (413, "the request, batch or a payload exceeds the configured limits"),
    "UNSUPPORTED_MEDIA_TYPE": (
        415,
        "send application/json (or application/x-ndjson to /verify, application/x-protobuf "
        "to /v1/traces; Content-Encoding gzip or none)",
    ),
    "NON_CANONICAL_VALUE": (
        422,
        "a value RFC 8785 cannot represent (NaN, Infinity, huge integer, lone surrogate)",
    ),
    "RATE_LIMITED": (
        429,
        "too many requests for this key, or failed authentications from this address; "
        "retry after Retry-After seconds",
    ),
    "LOG_SIZE_INVALID": (400, "a tree size, leaf range or proof the transparency log never had"),
    "TREE_HEAD_NOT_FOUND": (404, "no signed tree head of that size"),
    "LOG_ENTRY_NOT_FOUND": (404, "the session has no entry in the transparency log"),
    "EXPORT_JOBS_LIMIT": (
        429,
        "the project already has as many export jobs queued or running as it may; "
        "retry after Retry-After seconds",
    ),
    "SERVICE_UNAVAILABLE": (503, "the database is unavailable; retry later"),
    "BAD_REQUEST": (400, "refused before reaching the API (e.g. a Host header not allowed)"),
    "INTERNAL_ERROR": (500, "an unexpected error; reported to the operators"),
}


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _drf_code(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return "UNAUTHENTICATED"
    if isinstance(exc, exceptions.ParseError):
        return "MALFORMED_JSON"
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return "UNSUPPORTED_MEDIA_TYPE"
    if isinstance(exc, exceptions.MethodNotAllowed):
        return "METHOD_NOT_ALLOWED"
    if isinstance(exc, exceptions.NotAcceptable):
        return "NOT_ACCEPTABLE"
    if isinstance(exc, exceptions.Throttled):
        return "RATE_LIMITED"
    if isinstance(exc, exceptions.NotFound):
        return "SESSION_NOT_FOUND"
    if isinstance(exc, exceptions.PermissionDenied):
        return "UNAUTHENTICATED"
    return "VALIDATION_ERROR"


def _validation_details(detail, prefix: str = "") -> list[dict]:
    """Flatten DRF's nested validation errors into [{field, message}]."""
    if isinstance(detail, dict):
        out: list[dict] = []
        for key, value in detail.items():
            out.extend(_validation_details(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list):
        out = []
        for item in detail:
            out.extend(_validation_details(item, prefix))
        return out
    return [{"field": prefix or None, "message": str(detail)}]


def _negotiation_failed(context) -> bool:
    """True when no renderer matched the request, before the view ran at all.

    DRF answers an unknown ``?format=`` with Http404 during content negotiation; that is a
    request for an unavailable format, not a missing session.
    """
    request = context.get("request")
    return request is not None and getattr(request, "accepted_renderer", None) is None


def _suspicious_request(exc: SuspiciousOperation) -> Response:
    # Django raises these while reading the query string or body; without this they would
    # reach Django's HTML 400 page instead of the API's error shape.
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("PAYLOAD_TOO_LARGE", "the request body is too large"), status=413
        )
    if isinstance(exc, TooManyFieldsSent):
        message = "too many query parameters"
    else:
        message = "the request was refused as malformed"
    return Response(error_body("VALIDATION_ERROR", message), status=400)


def api_exception_handler(exc, context):
    if isinstance(exc, IngestionError):
        retry = exc.details.get("retry_after") if exc.status in (429, 503) else None
        headers = {"Retry-After": str(retry)} if isinstance(retry, int) else None
        return Response(
            error_body(exc.code, exc.message, exc.details), status=exc.status, headers=headers
        )
    if isinstance(exc, SuspiciousOperation):
        return _suspicious_request(exc)
    if isinstance(exc, Http404):
        if _negotiation_failed(context):
            return Response(
                error_body("NOT_ACCEPTABLE", "the requested response format is not available"),
                status=406,
            )
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.APIException):
        code = _drf_code(exc)
        headers = {}
        details: dict = {}
        if isinstance(exc, exceptions.Throttled):
            wait = math.ceil(exc.wait or 1)
            headers["Retry-After"] = str(wait)
            details["retry_after"] = wait
            message = f"rate limit exceeded; retry after {wait} s"
        elif isinstance(exc, exceptions.ValidationError):
            details["errors"] = _validation_details(exc.detail)
            first = details["errors"][0] if details["errors"] else {"field": None, "message": ""}
            message = (
                f"{first['field']}: {first['message']}" if first["field"] else first["message"]
            )
        elif code == "SESSION_NOT_FOUND":
            message = "session not found"
        else:
            message = str(exc.detail)
        if code == "UNAUTHENTICATED":
            headers["WWW-Authenticate"] = "Bearer"
            status_code = status.HTTP_401_UNAUTHORIZED
        else:
            status_code = exc.status_code
        return Response(error_body(code, message, details), status=status_code, headers=headers)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", exc)
        return Response(
            error_body("SERVICE_UNAVAILABLE", "the database is unavailable; retry later"),
            status=503,
            headers={"Retry-After": "2"},
        )
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
        return Response(
            error_body("SERVICE_UNAVAILABLE", "the database refused the operation; retry later"),
            status=503,
            headers={"Retry-After": "2"},
        )
    return None  # a real bug: Django's 500 handler (JSON, below) reports it


def _is_api(request) -> bool:
    return request.path.startswith(("/api/", "/healthz"))


def json_400(request, exception=None):
    """A request Django refused before any view (e.g. a Host header not in ALLOWED_HOSTS)."""
    if _is_api(request):
        return JsonResponse(error_body("BAD_REQUEST", "the request was refused"), status=400)
    return defaults.bad_request(request, exception)


def json_404(request, exception=None):
    """JSON for API clients; the usual page for people in the admin."""
    if _is_api(request):
        return JsonResponse(error_body("NOT_FOUND", "no such route"), status=404)
    return defaults.page_not_found(request, exception)


def json_500(request):
    if _is_api(request):
        return JsonResponse(
            error_body("INTERNAL_ERROR", "an unexpected error occurred; it has been logged"),
            status=500,
        )
    return defaults.server_error(request)
