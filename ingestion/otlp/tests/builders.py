"""OTLP export requests built by hand, in both encodings, for the receiver's tests."""

from __future__ import annotations

import gzip
import itertools
import json
import os
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

BASE_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
_ids = itertools.count(1)


def trace_id() -> str:
    return os.urandom(16).hex()


def span_id() -> str:
    return os.urandom(8).hex()


def span(
    trace: str,
    name: str,
    attributes: dict[str, Any] | None = None,
    *,
    parent: str | None = None,
    ident: str | None = None,
    start: int = 0,
    end: int = 1,
    error: str | None = None,
    exception: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A span as plain values; ``start``/``end`` in milliseconds after BASE_NS."""
    events = []
    if exception is not None:
        events.append(
            {
                "name": "exception",
                "time": BASE_NS + end * 1_000_000,
                "attributes": {
                    "exception.type": exception[0],
                    "exception.message": exception[1],
                    "exception.stacktrace": "Traceback (most recent call last): ...",
                },
            }
        )
    return {
        "trace_id": trace,
        "span_id": ident or span_id(),
        "parent": parent,
        "name": name,
        "attributes": attributes or {},
        "start": BASE_NS + start * 1_000_000,
        "end": BASE_NS + end * 1_000_000,
        "error": error,
        "events": events,
    }


def _pb_value(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, list):
        return common_pb2.AnyValue(
            array_value=common_pb2.ArrayValue(values=[_pb_value(v) for v in value])
        )
    if isinstance(value, dict):
        return common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=_pb_attrs(value)))
    return common_pb2.AnyValue(string_value=value)


def _pb_attrs(attributes: dict[str, Any]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=_pb_value(v)) for k, v in attributes.items()]


def protobuf_request(
    spans: list[dict[str, Any]], *, service: str = "support-agent", scope: str = "test.scope"
) -> bytes:
    pb_spans = []
    for s in spans:
        pb_spans.append(
            trace_pb2.Span(
                trace_id=bytes.fromhex(s["trace_id"]),
                span_id=bytes.fromhex(s["span_id"]),
                parent_span_id=bytes.fromhex(s["parent"]) if s["parent"] else b"",
                name=s["name"],
                kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=s["start"],
                end_time_unix_nano=s["end"],
                attributes=_pb_attrs(s["attributes"]),
                events=[
                    trace_pb2.Span.Event(
                        name=e["name"],
                        time_unix_nano=e["time"],
                        attributes=_pb_attrs(e["attributes"]),
                    )
                    for e in s["events"]
                ],
                status=trace_pb2.Status(code=2, message=s["error"])
                if s["error"] is not None
                else trace_pb2.Status(),
            )
        )
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource={"attributes": _pb_attrs({"service.name": service})},
                scope_spans=[
                    trace_pb2.ScopeSpans(
                        scope=common_pb2.InstrumentationScope(name=scope, version="1.0"),
                        spans=pb_spans,
                    )
                ],
            )
        ]
    )
    return request.SerializeToString()


def json_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [json_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": json_attrs(value)}}
    return {"stringValue": value}


def json_attrs(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": json_value(v)} for k, v in attributes.items()]


def json_request(
    spans: list[dict[str, Any]], *, service: str = "support-agent", scope: str = "test.scope"
) -> dict[str, Any]:
    out = []
    for s in spans:
        item: dict[str, Any] = {
            "traceId": s["trace_id"],
            "spanId": s["span_id"],
            "name": s["name"],
            "kind": 1,
            "startTimeUnixNano": str(s["start"]),
            "endTimeUnixNano": str(s["end"]),
            "attributes": json_attrs(s["attributes"]),
            "events": [
                {
                    "name": e["name"],
                    "timeUnixNano": str(e["time"]),
                    "attributes": json_attrs(e["attributes"]),
                }
                for e in s["events"]
            ],
            "status": {"code": 2, "message": s["error"]} if s["error"] is not None else {},
        }
        if s["parent"]:
            item["parentSpanId"] = s["parent"]
        out.append(item)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": json_attrs({"service.name": service})},
                "scopeSpans": [{"scope": {"name": scope, "version": "1.0"}, "spans": out}],
            }
        ]
    }


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


def json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def genai_agent_run(conversation: str | None = None, *, fail_tool: bool = False) -> list[dict]:
    """A GenAI-conventions agent run: agent > chat (asks for a tool) > tool > chat (answers),
    children first, as a batch processor exports them. The root agent span is last."""
    trace = trace_id()
    root = span_id()
    common = {"gen_ai.conversation.id": conversation} if conversation else {}
    agent = {"gen_ai.agent.name": "refund-agent", **common}
    chat1 = span(
        trace,
        "chat gpt-4o",
        {
            **common,
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": "Refund order 42"}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [
                            {
                                "type": "tool_call",
                                "id": "call_1",
                                "name": "lookup_order",
                                "arguments": {"order_id": 42},
                            }
                        ],
                        "finish_reason": "tool_call",
                    }
                ]
            ),
            "gen_ai.response.finish_reasons": ["tool_call"],
            "gen_ai.usage.input_tokens": 31,
            "gen_ai.usage.output_tokens": 12,
        },
        parent=root,
        start=10,
        end=200,
    )
    tool = span(
        trace,
        "execute_tool lookup_order",
        {
            **common,
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "lookup_order",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": json.dumps({"order_id": 42}),
            "gen_ai.tool.call.result": json.dumps({"status": "shipped"}),
        },
        parent=root,
        start=210,
        end=260,
        error="order service timed out" if fail_tool else None,
        exception=("TimeoutError", "order service timed out") if fail_tool else None,
    )
    chat2 = span(
        trace,
        "chat gpt-4o",
        {
            **common,
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.finish_reasons": ["stop"],
        },
        parent=root,
        start=270,
        end=400,
    )
    root_span = span(
        trace,
        "invoke_agent refund-agent",
        {**agent, "gen_ai.operation.name": "invoke_agent"},
        ident=root,
        start=0,
        end=410,
    )
    return [chat1, tool, chat2, root_span]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field in protobuf's wire format."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def deeply_nested_request(depth: int) -> bytes:
    """One span whose attribute nests ``depth`` arrays, written in the wire format by hand
    (the protobuf runtime refuses to build a message that deep)."""
    value = _field(1, b"leaf")  # AnyValue.string_value
    for _ in range(depth):
        value = _field(5, _field(1, value))  # AnyValue.array_value(ArrayValue.values)
    attribute = _field(1, b"deep") + _field(2, value)  # KeyValue(key, value)
    plain = trace_pb2.Span(
        trace_id=bytes.fromhex(trace_id()), span_id=bytes.fromhex(span_id()), name="deep"
    ).SerializeToString()
    span_bytes = plain + _field(9, attribute)  # Span.attributes
    scope_spans = _field(2, span_bytes)  # ScopeSpans.spans
    resource_spans = _field(2, scope_spans)  # ResourceSpans.scope_spans
    return _field(1, resource_spans)  # ExportTraceServiceRequest.resource_spans
