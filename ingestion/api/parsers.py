"""Request body parsing for the ingestion API.

Stricter than DRF's default JSON parser where evidence needs it (duplicate object keys are
refused, the body size is capped before it is read) and more lenient where the error must be
more precise: NaN and Infinity parse here so that the canonical-value check can answer 422
``NON_CANONICAL_VALUE`` naming the exact JSON path, instead of a generic parse error.
"""

from __future__ import annotations

import json
from typing import Any

from agentops_sdk import fastjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from ..errors import IngestionError


class DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(f"duplicate key {key!r} in a JSON object")
            seen.add(key)
    return result


def json_loads_strict(data: bytes | str) -> Any:
    """Parse JSON refusing duplicate keys; NaN/Infinity are left for the canonical check.

    Compact JSON, as the SDK sends it, is read by ``fastjson.loads_exact``, which proves the
    text held no duplicate key and gives exactly what ``json.loads`` would; any other text is
    read by ``json.loads`` with the duplicate-key hook, with the same result and messages as
    before. Bytes must be UTF-8 without a BOM: ``json.loads`` would otherwise guess UTF-16/32,
    skip a BOM and let encoded surrogates through, so one event could be read in several ways.
    """
    value = fastjson.loads_exact(data)
    if value is not fastjson.UNPROVEN:
        return value
    if isinstance(data, bytes | bytearray):
        data = bytes(data).decode("utf-8")
    return json.loads(data, object_pairs_hook=_no_duplicates)


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

    def parse(self, stream, media_type=None, parser_context=None):
        data = body_read(stream, content_length=_content_length(parser_context))
        if not data.strip():
            raise ParseError("the request body is empty; a JSON document is required")
        try:
            return json_loads_strict(data)
        except DuplicateKeyError as exc:
            raise ParseError(str(exc)) from None
        except UnicodeDecodeError:
            raise ParseError("the request body is not valid UTF-8") from None
        except json.JSONDecodeError as exc:
            raise ParseError(
                f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        except RecursionError:
            raise ParseError("malformed JSON: nested too deeply") from None
        except ValueError:
            # What is left is int() refusing a literal beyond Python's digit limit (4300).
            raise ParseError("malformed JSON: a number has too many digits") from None


class RawBodyParser(BaseParser):
    """Hands over the raw bytes of a JSONL upload (``application/x-ndjson``) to verify."""

    media_type = "application/x-ndjson"

    def parse(self, stream, media_type=None, parser_context=None):
        return body_read(stream, content_length=_content_length(parser_context))
