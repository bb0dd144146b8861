"""POST /v1/traces through Django's test client: decoding, mapping, idempotency, sealing."""

from __future__ import annotations

import json

import pytest
from agentops_sdk.verify import verify_session
from django.test import Client
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from ingestion import keys, selectors, services
from ingestion.models import Event, Session, SpanReceipt
from ingestion.otlp.services import session_id_for
from ingestion.otlp.views import status_from_bytes

from . import builders as b

pytestmark = pytest.mark.django_db

PROTOBUF = "application/x-protobuf"


@pytest.fixture
def key():
    _, plaintext = services.api_key_create(project_name="acme", name="otel")
    return plaintext


class Otlp:
    def __init__(self, key: str | None, path: str = "/v1/traces"):
        self.client = Client()
        self.path = path
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}

    def protobuf(self, spans, gzip: bool = False, raw: bytes | None = None, **kw):
        data = raw if raw is not None else b.protobuf_request(spans, **kw)
        headers = dict(self.headers)
        if gzip:
            data = b.gzipped(data)
            headers["HTTP_CONTENT_ENCODING"] = "gzip"
        return self.client.post(self.path, data, content_type=PROTOBUF, **headers)

    def json(self, spans, gzip: bool = False, raw: bytes | None = None, **kw):
        data = raw if raw is not None else b.json_bytes(b.json_request(spans, **kw))
        headers = dict(self.headers)
        if gzip:
            data = b.gzipped(data)
            headers["HTTP_CONTENT_ENCODING"] = "gzip"
        return self.client.post(self.path, data, content_type="application/json", **headers)


@pytest.fixture
def otlp(key):
    return Otlp(key)


def _events(session_pk) -> list[dict]:
    return list(selectors.session_envelopes(session=Session.objects.get(pk=session_pk)))


def _session(conversation: str) -> Session:
    project = Session.objects.first().project
    return Session.objects.get(
        pk=session_id_for(project=project, kind="conversation_id", value=conversation)
    )


def test_protobuf_agent_run_becomes_a_sealed_authoritative_session(otlp):
    response = otlp.protobuf(b.genai_agent_run("conv-1"), gzip=True)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == PROTOBUF
    answer = trace_service_pb2.ExportTraceServiceResponse()
    answer.ParseFromString(response.content)
    assert answer.partial_success.rejected_spans == 0

    session = _session("conv-1")
    assert session.sealed and session.agent_id == "refund-agent"
    events = _events(session.pk)
    types = [e["event_type"] for e in events]
    assert types == [
        "SESSION_START",
        "MODEL_REQUEST",
        "MODEL_RESPONSE",
        "TOOL_CALL",
        "TOOL_RESULT",
        "MODEL_REQUEST",
        "MODEL_RESPONSE",
        "ANNOTATION",
        "SESSION_END",
        "CHAIN_SEAL",
    ]
    assert all(e["chain_authority"] == "server" for e in events)
    assert events[1]["source_sdk_ver"] == "otlp:test.scope/1.0"
    report = verify_session(events, trusted_keys=keys.trusted_public_keys())
    assert report["status"] == "PASS", report["violations"]
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"


def test_payloads_carry_model_tool_and_span_identity(otlp):
    spans = b.genai_agent_run("conv-2")
    otlp.json(spans)
    events = _events(_session("conv-2").pk)
    request, response, call, result = (e["payload"] for e in events[1:5])
    assert request["model"] == "gpt-4o" and request["provider"] == "openai"
    assert request["messages"][0]["parts"][0]["content"] == "Refund order 42"
    assert response["model"] == "gpt-4o-2024-08-06"
    assert response["finish_reason"] == "tool_call"
    assert response["usage"] == {"input_tokens": 31, "output_tokens": 12}
    assert response["latency_ms"] == 190
    assert call["tool_name"] == "lookup_order" and call["call_id"] == "call_1"
    assert call["args"] == {"order_id": 42}
    assert result["status"] == "success" and result["result"] == {"status": "shipped"}
    chat = spans[0]
    assert request["otel"]["trace_id"] == chat["trace_id"]
    assert request["otel"]["span_id"] == chat["span_id"]
    assert request["otel"]["parent_span_id"] == spans[3]["span_id"]
    assert request["otel"]["start_time"] == "2026-01-01T00:00:00.010000000Z"
    assert response["otel"]["end_time"] == "2026-01-01T00:00:00.200000000Z"
    # Each event carries the span's identity and times; what describes the span is said once:
    # name, kind and scope in its first event, status in its last.
    identity = {"trace_id", "span_id", "parent_span_id", "start_time", "end_time"}
    for first, last in ((request, response), (call, result)):
        assert first["otel"].keys() == identity | {"span_name", "span_kind", "scope"}
        assert last["otel"].keys() == identity | {"status"}
        assert {k: first["otel"][k] for k in identity} == {k: last["otel"][k] for k in identity}
    assert request["otel"]["span_name"] == chat["name"]
    assert request["otel"]["scope"] == {"name": "test.scope", "version": "1.0"}
    assert response["otel"]["status"] == {"code": "UNSET"}
    agent = next(e["payload"] for e in events if e["event_type"] == "ANNOTATION")
    assert agent["otel"].keys() == identity | {"span_name", "span_kind", "scope", "status"}
    # The session's end and its duration come from the root agent span.
    assert events[-2]["payload"]["status"] == "success"
    assert events[-2]["payload"]["duration_ms"] == 410


def test_error_status_and_exception_become_error_events(otlp):
    otlp.protobuf(b.genai_agent_run("conv-err", fail_tool=True))
    events = _events(_session("conv-err").pk)
    errors = [e["payload"] for e in events if e["event_type"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["error_type"] == "TimeoutError"
    assert errors[0]["message"] == "order service timed out"
    assert errors[0]["fatal"] is False
    assert "Traceback" not in json.dumps(errors[0])
    result = next(e["payload"] for e in events if e["event_type"] == "TOOL_RESULT")
    assert result["status"] == "error"


def test_spans_in_many_requests_and_any_order_form_one_chain(otlp):
    chat1, tool, chat2, root = b.genai_agent_run("conv-3")
    for batch in ([tool], [chat2, chat1], [root]):
        assert otlp.json(batch).status_code == 200
    session = _session("conv-3")
    assert session.sealed
    events = _events(session.pk)
    report = verify_session(events, trusted_keys=keys.trusted_public_keys())
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    # Arrival order in the chain; the spans' times give the causal order back.
    starts = [e["payload"]["otel"]["start_time"] for e in events[1:-2] if "otel" in e["payload"]]
    assert starts != sorted(starts)
    assert sorted(starts)[0] == "2026-01-01T00:00:00.000000000Z"


def test_a_resent_batch_adds_nothing(otlp):
    spans = b.genai_agent_run("conv-4")
    head, last = spans[:3], spans[3:]
    assert otlp.protobuf(head).status_code == 200
    count = Event.objects.count()
    again = otlp.protobuf(head)
    assert again.status_code == 200
    answer = trace_service_pb2.ExportTraceServiceResponse()
    answer.ParseFromString(again.content)
    assert answer.partial_success.rejected_spans == 0
    assert Event.objects.count() == count
    otlp.protobuf(last)
    # A retry after the session was sealed is still a duplicate, not a rejection.
    retry = otlp.json(last)
    assert retry.json() == {}
    assert SpanReceipt.objects.count() == 4


def test_a_span_id_resent_with_other_content_is_rejected_in_partial_success(otlp):
    spans = b.genai_agent_run("conv-5")
    otlp.json(spans[:1])
    count = Event.objects.count()
    altered = dict(spans[0], name="chat something-else")
    response = otlp.json([altered, spans[1]])
    body = response.json()
    assert response.status_code == 200
    assert body["partialSuccess"]["rejectedSpans"] == "1"
    assert spans[0]["span_id"] in body["partialSuccess"]["errorMessage"]
    assert Event.objects.count() == count + 2  # only the tool span's two events
    proto = otlp.protobuf([altered])
    answer = trace_service_pb2.ExportTraceServiceResponse()
    answer.ParseFromString(proto.content)
    assert answer.partial_success.rejected_spans == 1


def test_spans_of_a_sealed_session_are_rejected(otlp):
    spans = b.genai_agent_run("conv-6")
    otlp.json(spans)
    late = b.span(spans[0]["trace_id"], "late", {"gen_ai.conversation.id": "conv-6"})
    body = otlp.json([late]).json()
    assert body["partialSuccess"]["rejectedSpans"] == "1"
    assert "sealed" in body["partialSuccess"]["errorMessage"]


def test_without_conversation_the_trace_is_the_session(otlp, key):
    spans = b.genai_agent_run(None)
    otlp.json(spans[:2])
    otlp.json(spans[2:])
    project = Session.objects.get().project
    session = Session.objects.get(
        pk=session_id_for(project=project, kind="trace_id", value=spans[0]["trace_id"])
    )
    assert session.sealed and session.event_count == 9


def test_a_span_naming_a_conversation_brings_its_trace_along(otlp):
    chat1, _tool, _chat2, root = b.genai_agent_run(None)
    root["attributes"]["gen_ai.conversation.id"] = "conv-7"
    otlp.json([chat1, root])
    assert Session.objects.count() == 1
    assert _session("conv-7").event_count == 5


def test_openinference_spans(otlp):
    trace = b.trace_id()
    root = b.span_id()
    common = {"session.id": "oi-1"}
    spans = [
        b.span(
            trace,
            "ChatOpenAI",
            {
                **common,
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.provider": "openai",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "What is 2+2?",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "4",
                "llm.token_count.prompt": 9,
                "llm.token_count.completion": 1,
            },
            parent=root,
            start=5,
            end=50,
        ),
        b.span(
            trace,
            "calculator",
            {
                **common,
                "openinference.span.kind": "TOOL",
                "tool.name": "calculator",
                "input.value": json.dumps({"expression": "2+2"}),
                "output.value": "4",
            },
            parent=root,
            start=60,
            end=70,
        ),
        b.span(
            trace,
            "retrieve",
            {**common, "openinference.span.kind": "RETRIEVER", "input.value": "docs"},
            parent=root,
            start=71,
            end=72,
        ),
        b.span(
            trace,
            "agent",
            {**common, "openinference.span.kind": "AGENT", "input.value": "What is 2+2?"},
            ident=root,
            start=0,
            end=80,
        ),
    ]
    assert otlp.protobuf(spans, service="oi-agent").status_code == 200
    session = _session("oi-1")
    assert session.sealed and session.agent_id == "oi-agent"
    events = _events(session.pk)
    by_type = {}
    for e in events:
        by_type.setdefault(e["event_type"], e["payload"])
    assert by_type["MODEL_REQUEST"]["messages"] == [{"role": "user", "content": "What is 2+2?"}]
    assert by_type["MODEL_RESPONSE"]["content"] == [{"role": "assistant", "content": "4"}]
    assert by_type["MODEL_RESPONSE"]["usage"] == {"input_tokens": 9, "output_tokens": 1}
    assert by_type["TOOL_CALL"]["args"] == {"expression": "2+2"}
    assert by_type["TOOL_RESULT"]["result"] == 4
    annotations = [e["payload"] for e in events if e["event_type"] == "ANNOTATION"]
    # The retriever span is unknown to the mapping: kept, with its attributes.
    assert annotations[0]["content"]["span_type"] == "other"
    assert annotations[0]["content"]["attributes"]["openinference.span.kind"] == "RETRIEVER"


def test_the_api_path_and_bearer_keys(key):
    assert Otlp(key, "/api/v1/otlp/v1/traces").json(b.genai_agent_run("c")).status_code == 200
    missing = Otlp(None).json(b.genai_agent_run("d"))
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "UNAUTHENTICATED"
    wrong = Otlp("nope.nope").protobuf(b.genai_agent_run("e"))
    assert wrong.status_code == 401
    assert wrong["Content-Type"] == PROTOBUF
    assert status_from_bytes(wrong.content) == {
        "code": 16,
        "message": "UNAUTHENTICATED: invalid API key",
    }
    assert Session.objects.count() == 1


def test_rate_limited_exports_are_told_when_to_retry(otlp, settings):
    settings.AGENTOPS_API_RATE = "1/min"
    otlp.json(b.genai_agent_run("r1"))
    limited = otlp.protobuf(b.genai_agent_run("r2"))
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert status_from_bytes(limited.content)["message"].startswith("RATE_LIMITED")
