"""OpenTelemetry's own SDK and OTLP/HTTP exporters (protobuf and JSON) against the live service.

Spans are made by a real ``TracerProvider``, shaped as the GenAI semantic conventions and as
OpenInference describe them, and sent by the real exporters over HTTP to pytest-django's live
server on a loopback port: in order through a batch processor, or collected first and then
exported out of order and retried. Each sealed session is written out as JSONL and verified
offline by ``agentops-verify`` with the service's published key.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.json.http.trace_exporter import (
    OTLPSpanExporter as JsonSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as ProtobufSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from ingestion import keys, selectors
from ingestion.models import Project, Session
from ingestion.otlp.services import session_id_for

pytestmark = pytest.mark.django_db(transaction=True)

VERIFY = Path(sys.executable).with_name("agentops-verify")


def _provider(processor: Any, service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(processor)
    return provider


def _exporter(kind: str, url: str, key: str) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    if kind == "json":
        return JsonSpanExporter(endpoint=f"{url}/v1/traces", headers=headers, timeout=10)
    return ProtobufSpanExporter(
        endpoint=f"{url}/v1/traces", headers=headers, timeout=10, compression=Compression.Gzip
    )


def genai_agent(tracer: Any, conversation: str) -> None:
    """A GenAI-conventions agent: a chat that calls a tool, a tool that fails, a nested agent."""
    common = {"gen_ai.conversation.id": conversation}
    with tracer.start_as_current_span(
        "invoke_agent refund-agent",
        attributes={
            **common,
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "refund-agent",
        },
    ):
        with tracer.start_as_current_span(
            "chat gpt-4o",
            attributes={
                **common,
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": "Refund order 42"}]}]
                ),
            },
        ) as chat:
            chat.set_attribute(
                "gen_ai.output.messages",
                json.dumps(
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
            )
            chat.set_attribute("gen_ai.response.finish_reasons", ["tool_call"])
            chat.set_attribute("gen_ai.usage.input_tokens", 31)
            chat.set_attribute("gen_ai.usage.output_tokens", 12)
        with tracer.start_as_current_span(
            "execute_tool lookup_order",
            attributes={
                **common,
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_order",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.call.arguments": json.dumps({"order_id": 42}),
            },
        ) as tool:
            tool.set_attribute("gen_ai.tool.call.result", json.dumps({"status": "shipped"}))
        with tracer.start_as_current_span(
            "execute_tool issue_refund",
            attributes={
                **common,
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "issue_refund",
                "gen_ai.tool.call.id": "call_2",
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as failing:
            failing.record_exception(TimeoutError("the payments service timed out"))
            failing.set_status(Status(StatusCode.ERROR, "the payments service timed out"))
        with (
            tracer.start_as_current_span(
                "invoke_agent notifier",
                attributes={
                    **common,
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": "notifier",
                },
            ),
            tracer.start_as_current_span(
                "chat gpt-4o-mini",
                attributes={
                    **common,
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.finish_reasons": ["stop"],
                },
            ),
        ):
            pass


def openinference_agent(tracer: Any, session: str) -> None:
    """The same run as OpenInference describes it (session.id on every span)."""
    common = {"session.id": session}
    with tracer.start_as_current_span(
        "agent", attributes={**common, "openinference.span.kind": "AGENT", "input.value": "hi"}
    ):
        with tracer.start_as_current_span(
            "ChatOpenAI",
            attributes={
                **common,
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "What is 2+2?",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "calc",
                "llm.token_count.prompt": 9,
                "llm.token_count.completion": 3,
            },
        ):
            pass
        with tracer.start_as_current_span(
            "calc",
            attributes={
                **common,
                "openinference.span.kind": "TOOL",
                "tool.name": "calc",
                "input.value": json.dumps({"expression": "2+2"}),
                "output.value": "4",
            },
        ):
            pass
        with (
            tracer.start_as_current_span(
                "sub-chain", attributes={**common, "openinference.span.kind": "CHAIN"}
            ),
            tracer.start_as_current_span(
                "broken", attributes={**common, "openinference.span.kind": "TOOL", "tool.name": "x"}
            ) as broken,
        ):
            broken.set_status(Status(StatusCode.ERROR, "tool x exploded"))


@pytest.fixture
def collected() -> Iterator[Callable[[Callable[[Any, str], None], str, str], list[ReadableSpan]]]:
    providers: list[TracerProvider] = []

    def collect(agent: Callable[[Any, str], None], key: str, service: str) -> list[ReadableSpan]:
        memory = InMemorySpanExporter()
        provider = _provider(SimpleSpanProcessor(memory), service)
        providers.append(provider)
        agent(provider.get_tracer("demo.instrumentation", "2.1.0"), key)
        return list(memory.get_finished_spans())

    yield collect
    for provider in providers:
        provider.shutdown()


def _session(conversation: str) -> Session:
    project = Project.objects.get(name="integration")
    return Session.objects.get(
        pk=session_id_for(project=project, kind="conversation_id", value=conversation)
    )


def _verified_offline(session: Session, tmp_path: Path) -> dict[str, Any]:
    events = list(selectors.session_envelopes(session=session))
    log = tmp_path / f"{session.pk}.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    key = keys.public_keys()[0]["public_key"]
    done = subprocess.run(
        [str(VERIFY), str(log), "--format", "json", "--trusted-key", key],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _causal(events: list[dict[str, Any]]) -> list[str]:
    """Span names in the order their spans started, read from the payloads alone (a span's
    name is in its first event)."""
    seen: dict[str, tuple[str, str]] = {}
    for event in events:
        otel = (event["payload"] or {}).get("otel") or {}
        if "span_name" in otel:
            seen.setdefault(otel["span_id"], (otel["start_time"], otel["span_name"]))
    return [name for _, name in sorted(seen.values())]


@pytest.mark.parametrize("kind", ["protobuf", "json"])
def test_batch_processor_exports_a_genai_agent(
    kind: str, live_server: Any, api_key: str, tmp_path: Path
) -> None:
    processor = BatchSpanProcessor(_exporter(kind, live_server.url, api_key))
    provider = _provider(processor, "refund-service")
    genai_agent(provider.get_tracer("demo.instrumentation", "2.1.0"), f"conv-{kind}")
    assert processor.force_flush(30_000)
    provider.shutdown()

    session = _session(f"conv-{kind}")
    assert session.sealed and session.agent_id == "refund-agent"
    report = _verified_offline(session, tmp_path)
    assert report["status"] == "PASS" and report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    events = list(selectors.session_envelopes(session=session))
    types = [e["event_type"] for e in events]
    assert types.count("MODEL_REQUEST") == 2 and types.count("TOOL_CALL") == 2
    assert types.count("ERROR") == 1 and types[-2:] == ["SESSION_END", "CHAIN_SEAL"]
    assert events[1]["source_sdk_ver"] == "otlp:demo.instrumentation/2.1.0"
    error = next(e["payload"] for e in events if e["event_type"] == "ERROR")
    assert error["error_type"] == "TimeoutError"
    assert _causal(events) == [
        "invoke_agent refund-agent",
        "chat gpt-4o",
        "execute_tool lookup_order",
        "execute_tool issue_refund",
        "invoke_agent notifier",
        "chat gpt-4o-mini",
    ]


@pytest.mark.parametrize("kind", ["protobuf", "json"])
def test_out_of_order_and_retried_exports_of_openinference_spans(
    kind: str, live_server: Any, api_key: str, tmp_path: Path, collected: Any
) -> None:
    spans = collected(openinference_agent, f"oi-{kind}", "calc-service")
    root = next(s for s in spans if s.parent is None)
    children = [s for s in spans if s is not root]
    random.Random(7).shuffle(children)
    exporter = _exporter(kind, live_server.url, api_key)
    batches = [children[:2], children[2:], children[:2], [root], [root, *children]]
    for batch in batches:  # the last two are retries of what was already sent
        assert exporter.export(batch).name == "SUCCESS"
    exporter.shutdown()

    session = _session(f"oi-{kind}")
    assert session.sealed and session.agent_id == "calc-service"
    assert session.span_receipts.count() == len(spans)
    report = _verified_offline(session, tmp_path)
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    events = list(selectors.session_envelopes(session=session))
    assert _causal(events) == ["agent", "ChatOpenAI", "calc", "sub-chain", "broken"]
    # The chain records arrival order, which differs here from the causal one.
    arrival = [
        e["payload"]["otel"]["span_name"]
        for e in events[1:-2]
        if "span_name" in e["payload"].get("otel", {})
    ]
    assert arrival[0] != "agent"
    errors = [e["payload"] for e in events if e["event_type"] == "ERROR"]
    assert [e["message"] for e in errors] == ["tool x exploded"]


@pytest.mark.postgres  # SQLite has no row locks: concurrent first appends race there
def test_concurrent_exporters_share_one_session(
    live_server: Any, api_key: str, tmp_path: Path, collected: Any
) -> None:
    """Four exporters send disjoint spans of one new conversation at once: one session is
    created, the chain stays linear, and the root agent span sent last seals it."""
    spans = collected(genai_agent, "conv-concurrent", "refund-service")
    root = next(s for s in spans if s.parent is None)
    children = [s for s in spans if s is not root]
    gate = threading.Barrier(len(children))
    outcomes: list[str] = []

    def send(span: ReadableSpan) -> None:
        exporter = _exporter("protobuf", live_server.url, api_key)
        gate.wait()
        outcomes.append(exporter.export([span]).name)
        exporter.shutdown()

    threads = [threading.Thread(target=send, args=(span,)) for span in children]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["SUCCESS"] * len(children)
    final = _exporter("json", live_server.url, api_key)
    assert final.export([root]).name == "SUCCESS"
    final.shutdown()

    session = _session("conv-concurrent")
    assert Session.objects.count() == 1 and session.sealed
    assert session.span_receipts.count() == len(spans)
    assert _verified_offline(session, tmp_path)["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
