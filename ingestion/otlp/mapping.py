"""From spans to proposed events: what each span means, under both conventions.

The OpenTelemetry GenAI semantic conventions (``gen_ai.*``) and OpenInference
(``openinference.span.kind``, ``llm.*``, ``tool.*``, ``input.value``...) are both read:

=====================================  ==========================================
span                                   events
=====================================  ==========================================
chat / text_completion / LLM           MODEL_REQUEST (start) + MODEL_RESPONSE (end)
execute_tool / TOOL                    TOOL_CALL (start) + TOOL_RESULT (end)
invoke_agent / AGENT / CHAIN, others   ANNOTATION (comment) with the span's attributes
error status or exception event        ERROR after the span's own events
=====================================  ==========================================

Every payload carries ``otel``: the span's trace id, span id, parent span id, start and end
times, so that the timeline reads in causal order whatever the arrival order. What describes
the span is said once: its name, kind and instrumentation scope in its first event, its status
in its last (a one-event span has both); no ``otel`` field is derived from another.
Attributes the mapping did not lift into a field of its own stay in the first event's
``attributes``: nothing the exporter sent is dropped, but stack traces, which an ERROR never
carries (spec §4), are kept only in the span's ``span_events`` of its first event.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from agentops_sdk import chain
from agentops_sdk.events import time_ordered_id

from .decoding import OtlpSpan

#: Names the event ids: the same span in the same session always yields the same ids.
EVENT_ID_NAMESPACE = uuid.UUID("0f6d8f5e-5a35-4a8e-9d8c-3b1f0c2a7e41")
MAX_SOURCE_CHARS = 200

MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
AGENT_OPERATIONS = frozenset({"invoke_agent", "create_agent"})

CONVERSATION_KEYS = ("gen_ai.conversation.id", "session.id")
AGENT_NAME_KEYS = ("gen_ai.agent.name", "agent.name")

# Attributes lifted into fields of their own (the rest is kept under "attributes").
_MODEL_KEYS = frozenset(
    {
        "gen_ai.request.model",
        "gen_ai.response.model",
        "llm.model_name",
        "gen_ai.provider.name",
        "gen_ai.system",
        "llm.provider",
        "llm.system",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.response.finish_reasons",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "llm.token_count.prompt",
        "llm.token_count.completion",
        "llm.token_count.total",
        "input.value",
        "output.value",
    }
)
_MODEL_PREFIXES = ("llm.input_messages.", "llm.output_messages.")
_TOOL_KEYS = frozenset(
    {
        "gen_ai.tool.name",
        "tool.name",
        "gen_ai.tool.call.id",
        "tool_call.id",
        "gen_ai.tool.call.arguments",
        "tool.parameters",
        "gen_ai.tool.call.result",
        "input.value",
        "output.value",
    }
)


def span_kind(span: OtlpSpan) -> str:
    """``model``, ``tool``, ``agent`` or ``other``."""
    attributes = span.attributes
    operation = attributes.get("gen_ai.operation.name")
    openinference = str(attributes.get("openinference.span.kind", "")).upper()
    if operation in MODEL_OPERATIONS or openinference == "LLM":
        return "model"
    if operation == "execute_tool" or openinference == "TOOL":
        return "tool"
    if operation in AGENT_OPERATIONS or openinference in ("AGENT", "CHAIN"):
        return "agent"
    return "other"


def ends_session(span: OtlpSpan) -> bool:
    """A root agent span: its end is the session's end."""
    return span.parent_span_id is None and span_kind(span) == "agent"


def conversation_of(span: OtlpSpan) -> str | None:
    for key in CONVERSATION_KEYS:
        value = span.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def agent_id_of(spans: list[OtlpSpan]) -> str:
    """The session's agent: the root span's agent name, else the service's name, else any
    span's agent name. Decided when the session's first spans arrive."""

    def agent_name(span: OtlpSpan) -> str | None:
        for key in AGENT_NAME_KEYS:
            value = span.attributes.get(key)
            if isinstance(value, str) and value:
                return value
        return None

    roots = [name for s in spans if s.parent_span_id is None and (name := agent_name(s))]
    services = [
        name
        for s in spans
        if isinstance(name := s.resource.get("service.name"), str)
        and name
        and not name.startswith("unknown_service")
    ]
    others = [name for s in spans if (name := agent_name(s))]
    for candidates in (roots, services, others):
        if candidates:
            return candidates[0][:200]
    return "otel-agent"


@functools.lru_cache(maxsize=4096)
def _second_text(seconds: int) -> str:
    # The spans of one export mostly share their seconds: each is formatted once.
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def rfc3339(ns: int) -> str:
    """Nanoseconds since the epoch as RFC 3339 UTC with all nine digits (spec §2 allows 1-9)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{_second_text(seconds)}.{rest:09d}Z"


@functools.lru_cache(maxsize=1024)
def _source_text(name: str, version: str) -> str:
    name = name or "unknown"
    text = f"otlp:{name}/{version}" if version else f"otlp:{name}"
    return text[:MAX_SOURCE_CHARS]


def source_of(span: OtlpSpan) -> str:
    """``source_sdk_ver``: the instrumentation scope that produced the span (worded once per
    scope)."""
    return _source_text(span.scope_name, span.scope_version)


_EVENT_ID_PREFIX = EVENT_ID_NAMESPACE.bytes


def event_id_for(name: str, ns: int) -> str:
    """The id of the event ``name`` (its session, span and role) at ``ns`` nanoseconds: the
    SDK's time-ordered layout (``time_ordered_id``, version 8) of the millisecond and 74
    bits of the SHA-1 of the name in this service's namespace. A re-sent span gets the same
    ids; a session's events get ids that sort by their times, as the SDK's do."""
    digest = hashlib.sha1(_EVENT_ID_PREFIX + name.encode("utf-8"), usedforsecurity=False)
    bits = int.from_bytes(digest.digest()[:10], "big")
    return time_ordered_id(ns // 1_000_000, bits, version=8)


def _otel(span: OtlpSpan) -> dict[str, Any]:
    """The span's identity and times, which every event of the span carries."""
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "start_time": rfc3339(span.start_ns),
        "end_time": rfc3339(span.end_ns),
    }


def _described(span: OtlpSpan, otel: dict[str, Any]) -> dict[str, Any]:
    """``otel`` of a span's first event: its identity, name, kind and scope."""
    return {
        **otel,
        "span_name": span.name,
        "span_kind": span.kind,
        "scope": {"name": span.scope_name, "version": span.scope_version},
    }


def _ended(span: OtlpSpan, otel: dict[str, Any]) -> dict[str, Any]:
    """``otel`` of a span's last event: its identity and status (a message only when the
    exporter sent one)."""
    status = {"code": span.status_code}
    if span.status_message:
        status["message"] = span.status_message
    return {**otel, "status": status}


def _first(attributes: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in attributes and attributes[key] not in (None, ""):
            return attributes[key]
    return None


def _json_or_text(value: Any) -> Any:
    """A JSON-encoded attribute (messages, arguments) as its value; other text as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _indexed(attributes: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """OpenInference's flattened lists (``llm.input_messages.0.message.role``) as objects."""
    items: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix) :].partition(".")
        if not index.isdigit():
            continue
        item = items.setdefault(int(index), {})
        rest = rest.removeprefix("message.")
        item[rest] = value
    return [items[i] for i in sorted(items)]


def _rest(span: OtlpSpan, keys: frozenset[str], prefixes: tuple[str, ...] = ()) -> dict:
    return {
        key: value
        for key, value in span.attributes.items()
        if key not in keys and not key.startswith(prefixes)
    }


def _span_events(span: OtlpSpan) -> list[dict[str, Any]]:
    return [event for event in span.events if event["name"] != "exception"]


def _common(span: OtlpSpan, attributes: dict[str, Any]) -> dict[str, Any]:
    """What the first event of a span keeps besides its own fields."""
    common: dict[str, Any] = {"attributes": attributes}
    if span.events:
        common["span_events"] = span.events
    if span.links:
        common["links"] = span.links
    return common


def _model_events(span: OtlpSpan, otel: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    attrs = span.attributes
    model = _first(attrs, "gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
    request_model = _first(attrs, "gen_ai.request.model", "llm.model_name") or model
    provider = _first(attrs, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
    messages = _json_or_text(attrs.get("gen_ai.input.messages"))
    if messages is None:
        messages = _indexed(attrs, "llm.input_messages.") or None
    if messages is None and "input.value" in attrs:
        messages = [{"role": "user", "content": _json_or_text(attrs["input.value"])}]
    request: dict[str, Any] = {
        "model": str(request_model or "unknown"),
        "messages": messages
        if isinstance(messages, list)
        else ([] if messages is None else [messages]),
        "content_captured": messages is not None,
        "provider": provider,
        "otel": _described(span, otel),
    }
    instructions = attrs.get("gen_ai.system_instructions")
    if instructions is not None:
        request["system_instructions"] = _json_or_text(instructions)
    request.update(_common(span, _rest(span, _MODEL_KEYS, _MODEL_PREFIXES)))

    output = _json_or_text(attrs.get("gen_ai.output.messages"))
    if output is None:
        output = _indexed(attrs, "llm.output_messages.") or None
    if output is None and "output.value" in attrs:
        output = _json_or_text(attrs["output.value"])
    reasons = attrs.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons:
        finish = str(reasons[0])
    elif isinstance(output, list) and output and isinstance(output[0], dict):
        finish = str(output[0].get("finish_reason") or "unknown")
    else:
        finish = "error" if span.status_code == "ERROR" else "unknown"
    usage = {
        "input_tokens": _first(attrs, "gen_ai.usage.input_tokens", "llm.token_count.prompt"),
        "output_tokens": _first(attrs, "gen_ai.usage.output_tokens", "llm.token_count.completion"),
    }
    response = {
        "model": str(model or "unknown"),
        "finish_reason": finish,
        "finish_reasons": reasons if isinstance(reasons, list) else [finish],
        "content": output,
        "content_captured": output is not None,
        "usage": {k: v for k, v in usage.items() if v is not None},
        "latency_ms": max(0, (span.end_ns - span.start_ns) // 1_000_000),
        "otel": _ended(span, otel),
    }
    return [("MODEL_REQUEST", span.start_ns, request), ("MODEL_RESPONSE", span.end_ns, response)]


def _tool_events(span: OtlpSpan, otel: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    attrs = span.attributes
    name = _first(attrs, "gen_ai.tool.name", "tool.name") or span.name or "unknown"
    call_id = _first(attrs, "gen_ai.tool.call.id", "tool_call.id")
    args = _json_or_text(_first(attrs, "gen_ai.tool.call.arguments", "input.value"))
    if args is None:
        args = _json_or_text(attrs.get("tool.parameters"))
    if not isinstance(args, dict):
        args = {} if args is None else {"value": args}
    result = _json_or_text(_first(attrs, "gen_ai.tool.call.result", "output.value"))
    call = {
        "tool_name": str(name),
        "call_id": call_id,
        "args": args,
        "otel": _described(span, otel),
        **_common(span, _rest(span, _TOOL_KEYS)),
    }
    outcome = {
        "tool_name": str(name),
        "call_id": call_id,
        "status": "error" if span.status_code == "ERROR" else "success",
        "result": result,
        "otel": _ended(span, otel),
    }
    return [("TOOL_CALL", span.start_ns, call), ("TOOL_RESULT", span.end_ns, outcome)]


def _annotation(span: OtlpSpan, kind: str, otel: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
    content = {"span_name": span.name, "span_type": kind, **_common(span, dict(span.attributes))}
    for key in ("input.value", "output.value"):
        if key in span.attributes:
            content[key.removesuffix(".value")] = _json_or_text(span.attributes[key])
    return (
        "ANNOTATION",
        span.start_ns,
        {
            "annotator_id": source_of(span),
            "annotation_type": "comment",
            "content": content,
            "otel": _ended(span, _described(span, otel)),
        },
    )


def _errors(span: OtlpSpan, otel: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    """An ERROR for each exception event, or one for an error status without any."""
    found = []
    fatal = span.parent_span_id is None
    for event in span.events:
        if event["name"] != "exception":
            continue
        attrs = event["attributes"]
        message = str(attrs.get("exception.message") or span.status_message or "exception")
        found.append(
            (
                "ERROR",
                int(event["time_unix_nano"]) or span.end_ns,
                {
                    "error_type": str(attrs.get("exception.type") or "exception"),
                    "message": message[: chain.MAX_ERROR_MESSAGE_CHARS],
                    "fatal": fatal,
                    "otel": otel,
                },
            )
        )
    if not found and span.status_code == "ERROR":
        message = span.status_message or f"span {span.name!r} ended with an error status"
        found.append(
            (
                "ERROR",
                span.end_ns,
                {
                    "error_type": str(span.attributes.get("error.type") or "SpanStatusError"),
                    "message": message[: chain.MAX_ERROR_MESSAGE_CHARS],
                    "fatal": fatal,
                    "otel": otel,
                },
            )
        )
    return found


def _proposal(
    session_id: str, span: OtlpSpan, role: str, event_type: str, ns: int, payload: dict
) -> dict[str, Any]:
    return {
        "event_id": event_id_for(f"{session_id}/{span.trace_id}/{span.span_id}/{role}", ns),
        "session_id": session_id,
        "sequence_number": 0,  # assigned under the session's lock (events_append, at_head)
        "timestamp_wall": rfc3339(ns),
        "timestamp_monotonic": ns // 1_000_000,
        "event_type": event_type,
        "source_sdk_ver": source_of(span),
        "schema_ver": chain.SPEC_VERSION,
        "payload": payload,
    }


def span_proposals(span: OtlpSpan, *, session_id: str) -> list[dict[str, Any]]:
    """The proposed events of one span, in the order they are appended."""
    kind = span_kind(span)
    otel = _otel(span)
    if kind == "model":
        events = _model_events(span, otel)
    elif kind == "tool":
        events = _tool_events(span, otel)
    else:
        events = [_annotation(span, kind, otel)]
    events += _errors(span, otel)
    return [
        _proposal(session_id, span, f"{index}:{event_type}", event_type, ns, payload)
        for index, (event_type, ns, payload) in enumerate(events)
    ]


def session_start_proposal(
    span: OtlpSpan, *, session_id: str, agent_id: str, key: dict[str, str], start_ns: int
) -> dict[str, Any]:
    environment = span.resource.get("deployment.environment.name") or span.resource.get(
        "deployment.environment"
    )
    payload: dict[str, Any] = {
        "agent_id": agent_id,
        "framework": "opentelemetry",
        "framework_version": span.resource.get("telemetry.sdk.version"),
        "sdk_version": source_of(span),
        "tags": ["otlp"],
        "otel": {"session_key": key, "resource": span.resource},
    }
    if environment in ("prod", "staging", "dev"):
        payload["environment"] = environment
    proposal = _proposal(session_id, span, "session-start", "SESSION_START", start_ns, payload)
    proposal["event_id"] = event_id_for(f"{session_id}/session-start", start_ns)
    return proposal


def session_end_proposal(span: OtlpSpan, *, session_id: str) -> dict[str, Any]:
    payload = {
        "status": "failure" if span.status_code == "ERROR" else "success",
        "duration_ms": max(0, (span.end_ns - span.start_ns) // 1_000_000),
        "otel": _otel(span),
    }
    proposal = _proposal(session_id, span, "session-end", "SESSION_END", span.end_ns, payload)
    proposal["event_id"] = event_id_for(f"{session_id}/session-end", span.end_ns)
    return proposal
