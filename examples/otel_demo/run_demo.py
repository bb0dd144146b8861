"""The support agent of ``make demo``, instrumented only with OpenTelemetry.

No AgentOps SDK runs inside the agent: it emits spans as the OpenTelemetry GenAI semantic
conventions describe them (``invoke_agent``, ``chat`` with the messages captured,
``execute_tool``), and the OpenTelemetry SDK's OTLP/HTTP exporter (protobuf, gzip) sends them to
the ingestion service's ``/v1/traces`` with the project's API key as a Bearer token, as
``OTEL_EXPORTER_OTLP_HEADERS`` would. The service chains the spans into a session and seals it
when the agent's root span ends. The demo then finds the session, downloads its PDF report and
checks and verifies the compliance JSON it carries exactly as ``make demo`` does
(``examples/langchain_demo/run_demo.py``). It exits 1 unless the verdict is
AUTHORITATIVE_EVIDENCE.

    python examples/otel_demo/run_demo.py --server http://127.0.0.1:8000 --api-key KEY
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import requests
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode, Tracer

HERE = Path(__file__).resolve().parent
AGENT = "support-bot"


def _langchain_demo() -> Any:
    """The ``make demo`` agent's module: the same shop, script and evidence checks."""
    spec = importlib.util.spec_from_file_location(
        "langchain_demo_run", HERE.parent / "langchain_demo" / "run_demo.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _text(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "content": content}]


def run_agent(tracer: Tracer, conversation: str, shop: Any) -> str:
    """The tool-calling loop of the LangChain demo, as plain Python with GenAI spans."""
    common = {"gen_ai.conversation.id": conversation, "gen_ai.provider.name": "scripted"}
    tools = {t.name: t for t in shop.TOOLS}
    script = iter(shop.scripted_model().messages)
    messages: list[dict[str, Any]] = [
        {"role": "system", "parts": _text(shop.SYSTEM_PROMPT)},
        {"role": "user", "parts": _text(shop.CUSTOMER_MESSAGE)},
    ]
    with tracer.start_as_current_span(
        f"invoke_agent {AGENT}",
        attributes={
            **common,
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": AGENT,
            "ticket": "SUP-7731",
        },
    ):
        for _ in range(10):
            with tracer.start_as_current_span(
                "chat scripted-support-model",
                attributes={
                    **common,
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "scripted-support-model",
                    "gen_ai.input.messages": json.dumps(messages),
                },
            ) as chat:
                reply = next(script)
                parts: list[dict[str, Any]] = [
                    {"type": "tool_call", "id": c["id"], "name": c["name"], "arguments": c["args"]}
                    for c in reply.tool_calls
                ] or _text(reply.content)
                finish = "tool_call" if reply.tool_calls else "stop"
                answer = {"role": "assistant", "parts": parts, "finish_reason": finish}
                chat.set_attribute("gen_ai.output.messages", json.dumps([answer]))
                chat.set_attribute("gen_ai.response.finish_reasons", [finish])
                chat.set_attribute("gen_ai.usage.input_tokens", 40 * len(messages))
                chat.set_attribute("gen_ai.usage.output_tokens", 25)
            messages.append(answer)
            if not reply.tool_calls:
                return str(reply.content)
            for call in reply.tool_calls:
                with tracer.start_as_current_span(
                    f"execute_tool {call['name']}",
                    attributes={
                        **common,
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": call["name"],
                        "gen_ai.tool.call.id": call["id"],
                        "gen_ai.tool.call.arguments": json.dumps(call["args"]),
                    },
                ) as span:
                    try:
                        result = tools[call["name"]].invoke(call["args"])
                    except Exception as exc:
                        span.set_status(Status(StatusCode.ERROR, str(exc)))
                        raise
                    span.set_attribute("gen_ai.tool.call.result", json.dumps(result))
                messages.append(
                    {
                        "role": "tool",
                        "parts": [
                            {"type": "tool_call_response", "id": call["id"], "response": result}
                        ],
                    }
                )
    raise RuntimeError("the agent did not finish within 10 turns")


def find_session(server: str, api_key: str, conversation: str) -> str | None:
    """The sealed session the service made of this conversation (newest first)."""
    response = requests.get(
        f"{server}/api/v1/sessions",
        params={"agent_id": AGENT, "sealed": "true", "limit": 50},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    response.raise_for_status()
    for session in response.json()["results"]:
        key = (session.get("metadata") or {}).get("otel_session_key") or {}
        if key.get("conversation_id") == conversation:
            return str(session["session_id"])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="the ingestion service's base URL")
    parser.add_argument("--api-key", default=os.environ.get("AGENTOPS_API_KEY"))
    parser.add_argument("--out", type=Path, default=Path("out"), help="where files go (out/)")
    args = parser.parse_args(argv)
    shop = _langchain_demo()

    exporter = OTLPSpanExporter(
        endpoint=f"{args.server}/v1/traces",
        headers={"Authorization": f"Bearer {args.api_key}"},
        compression=Compression.Gzip,
        timeout=30,
    )
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": "support-service", "deployment.environment.name": "dev"}
        )
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("examples.otel_demo", "1.0.0")
    conversation = f"support-{uuid.uuid4()}"
    answer = run_agent(tracer, conversation, shop)
    print(f"agent answered: {answer}")
    provider.shutdown()  # exports every span still queued; the root span's end seals the session

    session_id = find_session(args.server, args.api_key, conversation)
    if session_id is None:
        print("error: the service holds no sealed session for this conversation", file=sys.stderr)
        return 1
    print(f"session {session_id} (conversation {conversation}) sealed by the ingestion service")
    return shop.evidence_report(args.server, args.api_key, session_id, args.out)


if __name__ == "__main__":
    sys.exit(main())
