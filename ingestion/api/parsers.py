"""Request body parsing for the ingestion API.

Bodies are read by ``agentops_sdk.reading``, as ``agentops-verify`` reads files: strict UTF-8
without a byte order mark, duplicate object keys refused, the body size capped before it is
read. Requests that append events are more lenient in one respect, where the error must be more
precise: NaN and Infinity parse there so that the canonical-value check can answer 422
``NON_CANONICAL_VALUE`` naming the exact JSON path. Evidence given to ``/verify`` is read
exactly as the verifier reads it.
"""

from __future__ import annotations

from typing import Any

from agentops_sdk import reading
from django.conf import settings
from rest_framework.parsers import BaseParser

from ..errors import IngestionError


def reading_error(exc: reading.LogFormatError) -> IngestionError:
    """The API's answer to evidence or a body the reader refuses: MALFORMED_JSON for text that
    is not JSON as the reader reads it, PAYLOAD_TOO_LARGE for a line over the limit,
    VALIDATION_ERROR for JSON that is neither an event log nor a compliance export."""
    details: dict[str, Any] = {"reason": exc.reason}
    if exc.line is not None:
        details["line"] = exc.line
    if exc.reason == reading.TOO_LARGE:
        return IngestionError("PAYLOAD_TOO_LARGE", str(exc), status=413, details=details)
    if exc.reason in reading.SYNTAX_REASONS:
        return IngestionError("MALFORMED_JSON", str(exc), status=400, details=details)
    return IngestionError("VALIDATION_ERROR", str(exc), status=400, details=details)


def body_read(stream, *, content_length: int | None) -> bytes:
    limit = settings.AGENTOPS_MAX_REQUEST_BYTES
    if content_length is not None and content_length > limit:
        raise IngestionError(
            "PAYLOAD_TOO_LARGE",
            f"the request body is limited to {limit} bytes",
            status=413,
            details={"limit": limit},
        )
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise IngestionError(
            "PAYLOAD_TOO_LARGE",
            f"the request body is limited to {limit} bytes",
            status=413,
            details={"limit": limit},
        )
    return data


def _content_length(parser_context) -> int | None:
    request = (parser_context or {}).get("request")
    if request is None:
        return None
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) or None
    except ValueError:
        return None


class StrictJSONParser(BaseParser):
    media_type = "application/json"
    #: NaN and the infinities read as floats, for the canonical-value check to name.
    allow_non_finite = True

    def parse(self, stream, media_type=None, parser_context=None):
        data = body_read(stream, content_length=_content_length(parser_context))
        try:
            return reading.loads(
                data, allow_non_finite=self.allow_non_finite, where="the request body"
            )
        except reading.LogFormatError as exc:
            raise reading_error(exc) from None


class EvidenceJSONParser(StrictJSONParser):
    """A compliance export (or a request naming a stored session), read as the verifier
    reads a file: NaN and the infinities are not JSON."""

    allow_non_finite = False


class RawBodyParser(BaseParser):
    """Hands over the raw bytes of a JSONL upload (``application/x-ndjson``) to verify."""

    media_type = "application/x-ndjson"

    def parse(self, stream, media_type=None, parser_context=None):
        return body_read(stream, content_length=_content_length(parser_context))
