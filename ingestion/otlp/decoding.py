"""Reading an OTLP/HTTP trace export: gzip, protobuf or OTLP JSON, into plain ``OtlpSpan``s.

Both encodings end in the same plain values, so that the mapping and the idempotency check
never see where a span came from. Anything that cannot be read exactly, or that exceeds a
limit, refuses the whole request (``IngestionError``, 4xx): nothing of it is stored.

OTLP JSON differs from the protobuf JSON mapping in two ways that matter here: trace and span
ids are hex (not base64), and 64-bit integers may come as strings or numbers.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass, field
from typing import Any

from agentops_sdk import chain, reading
from django.conf import settings
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from ..errors import IngestionError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

_STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_KINDS = {
    0: "UNSPECIFIED",
    1: "INTERNAL",
    2: "SERVER",
    3: "CLIENT",
    4: "PRODUCER",
    5: "CONSUMER",
}
_KIND_NAMES = {f"SPAN_KIND_{name}": number for number, name in _KINDS.items()}
_UINT64_MAX = 2**64 - 1
#: Values stored in columns as well as payloads (agent id, session metadata, source_sdk_ver):
#: a database text column cannot hold NUL.
_COLUMN_ATTRIBUTES = ("gen_ai.conversation.id", "session.id", "gen_ai.agent.name", "agent.name")


@dataclass(frozen=True)
class Limits:
    """What one request may hold; each is a setting (see ``limits``)."""

    decompressed_bytes: int
    spans: int
    attributes: int
    string_chars: int
    depth: int


def limits() -> Limits:
    return Limits(
        decompressed_bytes=settings.AGENTOPS_OTLP_MAX_DECOMPRESSED_BYTES,
        spans=settings.AGENTOPS_OTLP_MAX_SPANS_PER_REQUEST,
        attributes=settings.AGENTOPS_OTLP_MAX_ATTRIBUTES,
        string_chars=settings.AGENTOPS_OTLP_MAX_STRING_CHARS,
        depth=settings.AGENTOPS_OTLP_MAX_VALUE_DEPTH,
    )


@dataclass
class OtlpSpan:
    """One span with its resource and scope, as plain JSON values."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: str  # UNSET, OK or ERROR
    status_message: str
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
    digest: str = ""  # content_hash(), computed once when the span is read

    def content(self) -> dict[str, Any]:
        """Everything the exporter said about the span: what a re-send must repeat."""
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "kind": self.kind,
            "start_time_unix_nano": str(self.start_ns),
            "end_time_unix_nano": str(self.end_ns),
            "attributes": self.attributes,
            "status": {"code": self.status_code, "message": self.status_message},
            "events": self.events,
            "links": self.links,
            "resource": self.resource,
            "scope": {"name": self.scope_name, "version": self.scope_version},
        }

    def content_hash(self) -> str:
        if not self.digest:
            self.digest = chain.sha256_hex(chain.canonicalize(self.content()))
        return self.digest


def _invalid(message: str, **details: Any) -> IngestionError:
    return IngestionError("VALIDATION_ERROR", message, status=400, details=details)


def _too_large(message: str, **details: Any) -> IngestionError:
    return IngestionError("PAYLOAD_TOO_LARGE", message, status=413, details=details)


def _malformed(message: str) -> IngestionError:
    return IngestionError("MALFORMED_OTLP", message, status=400, details={})


def body_decompress(data: bytes, *, encoding: str, cap: int) -> bytes:
    """The body without its Content-Encoding; more than ``cap`` bytes once inflated is 413."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding != "gzip":
        raise IngestionError(
            "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Encoding {encoding!r} is not supported; send gzip or none",
            status=415,
            details={"content_encoding": encoding},
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        # Never more than cap + 1 bytes are inflated, whatever the ratio of the input.
        out = inflater.decompress(data, cap + 1)
    except zlib.error as exc:
        raise _malformed(f"the gzip body cannot be inflated: {exc}") from None
    if len(out) > cap:
        raise _too_large(
            f"the body inflates to more than {cap} bytes", limit=cap, reason="decompressed size"
        )
    if not inflater.eof:
        raise _malformed("the gzip body is truncated")
    return out


class _Reader:
    """Checks the limits while turning attribute values into JSON values."""

    def __init__(self, lim: Limits) -> None:
        self.lim = lim

    def text(self, value: Any, where: str) -> str:
        if type(value) is not str:
            raise _invalid(f"{where} must be a string", field=where)
        if len(value) > self.lim.string_chars:
            raise _too_large(
                f"{where} holds {len(value)} characters; the limit is {self.lim.string_chars}",
                field=where,
                limit=self.lim.string_chars,
            )
        return value

    def count(self, n: int, where: str) -> None:
        if n > self.lim.attributes:
            raise _too_large(
                f"{where} holds {n} entries; the limit is {self.lim.attributes}",
                field=where,
                limit=self.lim.attributes,
            )

    def deep(self, depth: int, where: str) -> None:
        if depth > self.lim.depth:
            raise _invalid(
                f"{where} nests values deeper than {self.lim.depth} levels",
                field=where,
                limit=self.lim.depth,
            )

    # -- protobuf ---------------------------------------------------------------------------

    def pb_value(self, value: common_pb2.AnyValue, where: str, depth: int) -> Any:
        self.deep(depth, where)
        kind = value.WhichOneof("value")
        if kind is None:
            return None
        if kind == "string_value":
            return self.text(value.string_value, where)
        if kind == "bool_value":
            return value.bool_value
        if kind == "int_value":
            return value.int_value
        if kind == "double_value":
            return value.double_value
        if kind == "bytes_value":
            return self.text(base64.b64encode(value.bytes_value).decode("ascii"), where)
        if kind == "array_value":
            items = value.array_value.values
            self.count(len(items), where)
            return [self.pb_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(items)]
        return self.pb_attributes(value.kvlist_value.values, where, depth + 1)

    def pb_attributes(self, pairs: Any, where: str, depth: int = 0) -> dict[str, Any]:
        self.count(len(pairs), where)
        out: dict[str, Any] = {}
        chars = self.lim.string_chars
        for pair in pairs:
            key = pair.key
            if len(key) > chars:
                self.text(key, f"{where} key")
            value = pair.value
            # Most values are short strings, integers or booleans: taken as they are, without
            # naming where they are (a name is only needed for an error, which ``pb_value``
            # words).
            if depth <= self.lim.depth:
                kind = value.WhichOneof("value")
                if kind == "string_value":
                    text = value.string_value
                    if len(text) <= chars:
                        out[key] = text
                        continue
                elif kind == "int_value":
                    out[key] = value.int_value
                    continue
                elif kind == "bool_value":
                    out[key] = value.bool_value
                    continue
            out[key] = self.pb_value(value, f"{where}.{key}", depth)
        return out

    # -- JSON -------------------------------------------------------------------------------

    def js_value(self, value: Any, where: str, depth: int) -> Any:
        self.deep(depth, where)
        obj = _object(value, where)
        if not obj:
            return None
        if len(obj) != 1:
            raise _invalid(f"{where} must hold exactly one value field", field=where)
        ((kind, inner),) = obj.items()
        if kind == "stringValue":
            return self.text(inner, where)
        if kind == "boolValue":
            if type(inner) is not bool:
                raise _invalid(f"{where}.boolValue must be a boolean", field=where)
            return inner
        if kind == "intValue":
            return _int64(inner, f"{where}.intValue", signed=True)
        if kind == "doubleValue":
            return _double(inner, f"{where}.doubleValue")
        if kind == "bytesValue":
            self.text(inner, where)
            try:
                base64.b64decode(inner, validate=True)
            except (binascii.Error, ValueError):
                raise _invalid(f"{where}.bytesValue must be base64", field=where) from None
            return inner
        if kind == "arrayValue":
            items = _list(_object(inner, where).get("values", []), f"{where}.values")
            self.count(len(items), where)
            return [self.js_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(items)]
        if kind == "kvlistValue":
            pairs = _list(_object(inner, where).get("values", []), f"{where}.values")
            return self.js_attributes(pairs, where, depth + 1)
        raise _invalid(f"{where}: unknown value field {kind!r}", field=where)

    def js_attributes(self, pairs: Any, where: str, depth: int = 0) -> dict[str, Any]:
        pairs = _list(pairs, where)
        self.count(len(pairs), where)
        out: dict[str, Any] = {}
        for pair in pairs:
            pair = _object(pair, where)
            key = self.text(pair.get("key"), f"{where} key")
            out[key] = self.js_value(pair.get("value", {}), f"{where}.{key}", depth)
        return out


def _object(value: Any, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise _invalid(f"{where} must be an object", field=where)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if type(value) is not list:
        raise _invalid(f"{where} must be a list", field=where)
    return value


def _int64(value: Any, where: str, *, signed: bool) -> int:
    if type(value) is str:
        try:
            number = int(value, 10)
        except ValueError:
            raise _invalid(f"{where} must be an integer", field=where) from None
    elif type(value) is int:
        number = value
    else:
        raise _invalid(f"{where} must be an integer (or its decimal string)", field=where)
    low, high = (-(2**63), 2**63 - 1) if signed else (0, _UINT64_MAX)
    if not low <= number <= high:
        raise _invalid(f"{where} is out of range", field=where)
    return number


def _double(value: Any, where: str) -> float:
    if type(value) is str and value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    if type(value) in (int, float):
        return float(value)
    raise _invalid(f"{where} must be a number", field=where)


def _hex_id(value: Any, size: int, where: str, *, optional: bool = False) -> str | None:
    if optional and value in (None, ""):
        return None
    if type(value) is not str or len(value) != size * 2:
        raise _invalid(f"{where} must be {size * 2} hex digits", field=where)
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise _invalid(f"{where} must be {size * 2} hex digits", field=where) from None
    if raw == bytes(size):
        if optional:
            return None
        raise _invalid(f"{where} must not be all zeros", field=where)
    return raw.hex()


def _bytes_id(raw: bytes, size: int, where: str, *, optional: bool = False) -> str | None:
    if optional and (not raw or raw == bytes(size)):
        return None
    if len(raw) != size or raw == bytes(size):
        raise _invalid(f"{where} must be {size} bytes, not all zeros", field=where)
    return raw.hex()


def _enum(value: Any, names: dict[str, int], where: str) -> int:
    if type(value) is str and value in names:
        return names[value]
    if type(value) is int:
        return value
    raise _invalid(f"{where} must be an enum number or name", field=where)


class _Counter:
    def __init__(self, cap: int) -> None:
        self.cap, self.n = cap, 0

    def add(self, n: int) -> None:
        self.n += n
        if self.n > self.cap:
            raise _too_large(f"a request holds at most {self.cap} spans", limit=self.cap)


def spans_from_protobuf(data: bytes, lim: Limits) -> list[OtlpSpan]:
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        request.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise _malformed(f"the body is not an ExportTraceServiceRequest: {exc}") from None
    reader, counter, spans = _Reader(lim), _Counter(lim.spans), []
    for r, resource_spans in enumerate(request.resource_spans):
        resource = reader.pb_attributes(
            resource_spans.resource.attributes, f"resource_spans[{r}].resource.attributes"
        )
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope
            counter.add(len(scope_spans.spans))
            for i, span in enumerate(scope_spans.spans):
                where = f"resource_spans[{r}].scope_spans[{s}].spans[{i}]"
                events = []
                reader.count(len(span.events), f"{where}.events")
                for e, event in enumerate(span.events):
                    events.append(
                        {
                            "name": reader.text(event.name, f"{where}.events[{e}].name"),
                            "time_unix_nano": str(event.time_unix_nano),
                            "attributes": reader.pb_attributes(
                                event.attributes, f"{where}.events[{e}].attributes"
                            ),
                        }
                    )
                reader.count(len(span.links), f"{where}.links")
                links = [
                    {
                        "trace_id": _bytes_id(link.trace_id, 16, f"{where}.links.trace_id"),
                        "span_id": _bytes_id(link.span_id, 8, f"{where}.links.span_id"),
                    }
                    for link in span.links
                ]
                spans.append(
                    OtlpSpan(
                        trace_id=_bytes_id(span.trace_id, 16, f"{where}.trace_id") or "",
                        span_id=_bytes_id(span.span_id, 8, f"{where}.span_id") or "",
                        parent_span_id=_bytes_id(
                            span.parent_span_id, 8, f"{where}.parent_span_id", optional=True
                        ),
                        name=reader.text(span.name, f"{where}.name"),
                        kind=_KINDS.get(span.kind, str(span.kind)),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano or span.start_time_unix_nano,
                        attributes=reader.pb_attributes(span.attributes, f"{where}.attributes"),
                        status_code=_STATUS_CODES.get(span.status.code, "UNSET"),
                        status_message=reader.text(span.status.message, f"{where}.status"),
                        events=events,
                        links=links,
                        resource=resource,
                        scope_name=reader.text(scope.name, f"{where} scope name"),
                        scope_version=reader.text(scope.version, f"{where} scope version"),
                    )
                )
    return spans


def _js_span(
    reader: _Reader, span: Any, where: str, resource: dict[str, Any], scope: dict[str, Any]
) -> OtlpSpan:
    span = _object(span, where)
    events = []
    raw_events = _list(span.get("events", []), f"{where}.events")
    reader.count(len(raw_events), f"{where}.events")
    for e, event in enumerate(raw_events):
        event = _object(event, f"{where}.events[{e}]")
        events.append(
            {
                "name": reader.text(event.get("name", ""), f"{where}.events[{e}].name"),
                "time_unix_nano": str(
                    _int64(event.get("timeUnixNano", 0), f"{where}.events[{e}]", signed=False)
                ),
                "attributes": reader.js_attributes(
                    event.get("attributes", []), f"{where}.events[{e}].attributes"
                ),
            }
        )
    raw_links = _list(span.get("links", []), f"{where}.links")
    reader.count(len(raw_links), f"{where}.links")
    links = [
        {
            "trace_id": _hex_id(_object(link, where).get("traceId"), 16, f"{where}.links"),
            "span_id": _hex_id(link.get("spanId"), 8, f"{where}.links"),
        }
        for link in raw_links
    ]
    status = _object(span.get("status", {}), f"{where}.status")
    start = _int64(span.get("startTimeUnixNano", 0), f"{where}.startTimeUnixNano", signed=False)
    end = _int64(span.get("endTimeUnixNano", 0), f"{where}.endTimeUnixNano", signed=False)
    kind = _enum(span.get("kind", 0), _KIND_NAMES, f"{where}.kind")
    code = _enum(status.get("code", 0), _STATUS_NAMES, f"{where}.status.code")
    return OtlpSpan(
        trace_id=_hex_id(span.get("traceId"), 16, f"{where}.traceId") or "",
        span_id=_hex_id(span.get("spanId"), 8, f"{where}.spanId") or "",
        parent_span_id=_hex_id(span.get("parentSpanId"), 8, f"{where}.parentSpanId", optional=True),
        name=reader.text(span.get("name", ""), f"{where}.name"),
        kind=_KINDS.get(kind, str(kind)),
        start_ns=start,
        end_ns=end or start,
        attributes=reader.js_attributes(span.get("attributes", []), f"{where}.attributes"),
        status_code=_STATUS_CODES.get(code, "UNSET"),
        status_message=reader.text(status.get("message", ""), f"{where}.status.message"),
        events=events,
        links=links,
        resource=resource,
        scope_name=reader.text(scope.get("name", ""), f"{where} scope name"),
        scope_version=reader.text(scope.get("version", ""), f"{where} scope version"),
    )


def spans_from_json(data: bytes, lim: Limits) -> list[OtlpSpan]:
    try:
        document = reading.loads(data, where="the request body")
    except reading.LogFormatError as exc:
        raise IngestionError(
            "MALFORMED_JSON", str(exc), status=400, details={"reason": exc.reason}
        ) from None
    reader, counter, spans = _Reader(lim), _Counter(lim.spans), []
    top = _object(document, "the body")
    for r, resource_spans in enumerate(_list(top.get("resourceSpans", []), "resourceSpans")):
        where_r = f"resourceSpans[{r}]"
        resource_spans = _object(resource_spans, where_r)
        resource_obj = _object(resource_spans.get("resource", {}), f"{where_r}.resource")
        resource = reader.js_attributes(
            resource_obj.get("attributes", []), f"{where_r}.resource.attributes"
        )
        scopes = _list(resource_spans.get("scopeSpans", []), f"{where_r}.scopeSpans")
        for s, scope_spans in enumerate(scopes):
            where_s = f"{where_r}.scopeSpans[{s}]"
            scope_spans = _object(scope_spans, where_s)
            scope = _object(scope_spans.get("scope", {}), f"{where_s}.scope")
            raw = _list(scope_spans.get("spans", []), f"{where_s}.spans")
            counter.add(len(raw))
            for i, span in enumerate(raw):
                spans.append(_js_span(reader, span, f"{where_s}.spans[{i}]", resource, scope))
    return spans


def _span_check(index: int, span: OtlpSpan) -> None:
    """NUL in a value that is also stored in a text column, which cannot hold it. (Times need
    no check: an unsigned 64-bit count of nanoseconds ends in the year 2554.)"""
    named = [
        span.scope_name,
        span.scope_version,
        span.resource.get("service.name"),
        *(span.attributes.get(key) for key in _COLUMN_ATTRIBUTES),
    ]
    if any(isinstance(value, str) and "\x00" in value for value in named):
        raise _invalid(
            f"span {index} ({span.span_id}): a scope, service, agent or conversation name "
            "contains NUL",
            span=index,
        )


def spans_decode(data: bytes, *, media_type: str, encoding: str = "") -> list[OtlpSpan]:
    """The spans of an export request body, or ``IngestionError`` and nothing read.

    Every span's content is canonicalized here, so that a value RFC 8785 cannot represent
    exactly (NaN, an integer beyond 2^53 - 1, a lone surrogate) refuses the request at the door
    with NON_CANONICAL_VALUE instead of being changed.
    """
    lim = limits()
    body = body_decompress(data, encoding=encoding, cap=lim.decompressed_bytes)
    spans = spans_from_protobuf(body, lim) if media_type == PROTOBUF else spans_from_json(body, lim)
    for index, span in enumerate(spans):
        _span_check(index, span)
        try:
            span.content_hash()
        except chain.NonCanonicalValueError as exc:
            raise IngestionError(
                "NON_CANONICAL_VALUE",
                f"span {index} ({span.span_id}): {exc.reason} at {exc.path}",
                status=422,
                details={"span_id": span.span_id, "path": exc.path, "reason": exc.reason},
            ) from None
    return spans
