"""Benchmark: OTLP/HTTP span ingestion beside the SDK path, end to end on PostgreSQL.

Creates a fresh PostgreSQL database (``BENCH_DB``), migrates it and starts the real service
under gunicorn, as ``bench/ingest.py`` does (its helpers are reused). In the same run, against
the same service, both paths are measured the same way:

- the SDK path: 8 concurrent client processes append batches of 500 proposed events
  (``POST /api/v1/sessions/{id}/events``), as ``bench/ingest.py`` sends them, then seal their
  session (``POST /api/v1/sessions/{id}/seal``);
- the OTLP path: 8 concurrent processes, each with the OpenTelemetry SDK's own OTLP/HTTP
  protobuf exporter, send batches of 512 spans (the batch span processor's default) of
  GenAI-conventions chat and tool spans (one session per process, named by
  ``gen_ai.conversation.id``); each process's last batch holds its root agent span, whose end
  closes and seals the session. The spans are made by a real ``TracerProvider``.

Request bodies are encoded before the clock starts on both paths: the SDK path's JSON, and
the OTLP bodies by the encoder ``OTLPSpanExporter.export`` calls, sent through the exporter's
own HTTP client (what ``export`` does with them). The clock of each path runs from the first
request to the last answer, the seals (and their policy evaluation) included on both. The
paths run in rounds that alternate which goes first, so that a load that rises or falls on a
shared machine weighs on both alike.

Each chat or tool span becomes two events. Afterwards every session is verified through the
API; a run whose chains do not all verify as AUTHORITATIVE_EVIDENCE reports failure, not a
speed. Target: OTLP spans/s at least 50 % of the SDK path's events/s in the same run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ingest
from _common import summary_print, table_print, usable_cpus
from agentops_sdk import seal

TARGET_RATIO = 0.50
SPAN_BATCH = 512


def _spans(process: int, spans: int) -> list[Any]:
    """``spans`` finished spans of one agent run (chat and tool spans, the root agent last)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench.instrumentation", "1.0.0")
    common = {"gen_ai.conversation.id": f"bench-{process}"}
    with tracer.start_as_current_span(
        "invoke_agent support-bot",
        attributes={
            **common,
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support-bot",
        },
    ):
        for i in range(spans - 1):
            order = f"ORD-2026-{process:02d}{i:06d}"
            if i % 2 == 0:
                attributes = {
                    **common,
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.input.messages": json.dumps(
                        [
                            {
                                "role": "user",
                                "parts": [
                                    {"type": "text", "content": f"Where is my order {order}?"}
                                ],
                            }
                        ]
                    ),
                    "gen_ai.output.messages": json.dumps(
                        [
                            {
                                "role": "assistant",
                                "parts": [{"type": "text", "content": f"Let me look up {order}."}],
                                "finish_reason": "stop",
                            }
                        ]
                    ),
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 31,
                }
                name = "chat gpt-4o"
            else:
                attributes = {
                    **common,
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "orders.lookup",
                    "gen_ai.tool.call.id": f"call_{i}",
                    "gen_ai.tool.call.arguments": json.dumps({"order_id": order}),
                    "gen_ai.tool.call.result": json.dumps({"order_id": order, "state": "shipped"}),
                }
                name = "execute_tool orders.lookup"
            with tracer.start_as_current_span(name, attributes=attributes):
                pass
    finished = list(memory.get_finished_spans())
    provider.shutdown()
    return finished


def exporter_run(url, api_key, process, spans, ready, start, results) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    finished = _spans(process, spans)
    exporter = OTLPSpanExporter(
        endpoint=f"{url}/v1/traces", headers={"Authorization": f"Bearer {api_key}"}, timeout=120
    )
    # The bodies ``OTLPSpanExporter.export`` would send, encoded before the clock starts (as
    # the SDK path's are) by the encoder it calls; they go out through the exporter's own
    # HTTP client, which is what ``export`` does with them.
    bodies = [
        encode_spans(finished[i : i + SPAN_BATCH]).SerializePartialToString()
        for i in range(0, len(finished), SPAN_BATCH)
    ]
    ready.wait()
    start.wait()
    for body in bodies:
        outcome = exporter._client.export(body)
        if not outcome.success:
            results.put(("error", process, f"export: {outcome.status_code} {outcome.error}"))
            return
    exporter.shutdown()
    results.put(("ok", process, len(finished)))


def otlp_end_to_end(
    port: int, api_key: str, per_process: list[int], first: int = 0
) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    ready = ctx.Barrier(len(per_process) + 1)
    start = ctx.Barrier(len(per_process) + 1)
    results = ctx.Queue()
    url = f"http://127.0.0.1:{port}"
    procs = [
        ctx.Process(
            target=exporter_run, args=(url, api_key, first + i, spans, ready, start, results)
        )
        for i, spans in enumerate(per_process)
    ]
    for proc in procs:
        proc.start()
    ready.wait(timeout=600)
    start.wait()
    began = time.perf_counter()
    outcomes = [results.get(timeout=3600) for _ in procs]
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.join()
    errors = [f"exporter {p}: {what}" for kind, p, what in outcomes if kind == "error"]
    return {"elapsed": elapsed, "errors": errors}


def otlp_verify(port: int, api_key: str, processes: int) -> list[str]:
    """Every OTLP session sealed and AUTHORITATIVE_EVIDENCE, found by its conversation id."""
    status, page = ingest.request(port, "GET", "/api/v1/sessions?limit=500", None, api_key)
    by_conversation = {
        (s.get("metadata") or {}).get("otel_session_key", {}).get("conversation_id"): s
        for s in page["results"]
    }
    failures = []
    for process in range(processes):
        session = by_conversation.get(f"bench-{process}")
        if session is None or not session["sealed"]:
            failures.append(f"bench-{process}: no sealed session")
            continue
        status, report = ingest.request(
            port,
            "POST",
            "/api/v1/verify",
            json.dumps({"session_id": session["session_id"]}).encode(),
            api_key,
        )
        if status != 200 or report.get("evidence_class") != "AUTHORITATIVE_EVIDENCE":
            failures.append(f"bench-{process}: {status} {report}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=40_000, help="SDK-path events in total")
    parser.add_argument("--spans", type=int, default=20_000, help="OTLP spans in total")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients per path")
    parser.add_argument("--batch", type=int, default=500, help="events per SDK request")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of both paths, alternating which goes first"
    )
    args = parser.parse_args()
    base_url = os.environ.get("BENCH_PG_URL", ingest.DEFAULT_PG_URL)
    ingest.DB_NAME = os.environ.get("BENCH_DB", "agentops_bench_otlp")
    try:
        with ingest.pg_connect(base_url, "postgres") as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure: there is nothing to measure against
        print(f"PostgreSQL is not reachable at {base_url} ({exc}); not run.", file=sys.stderr)
        return 2

    per_session = ingest.split(args.events // args.rounds, args.clients)
    per_process = ingest.split(args.spans // args.rounds, args.clients)
    ingest.database_recreate(base_url)
    with tempfile.TemporaryDirectory(prefix="agentops-bench-") as tmp:
        key_file = Path(tmp) / "seal-key.pem"
        seal.private_key_generate(key_file)
        env = ingest.service_env(base_url, key_file)
        ingest.manage(env, "migrate", "--noinput")
        api_key = ingest.manage(env, "create_api_key", "--project", "bench").strip()
        port = ingest.free_port()
        service = ingest.service_start(env, port, args.workers)
        sdk_elapsed = otlp_elapsed = 0.0
        sdk_sessions: list[str] = []
        failures: list[str] = []
        loads = [os.getloadavg()[0]]
        try:
            for r in range(args.rounds):
                # Rounds alternate which path goes first (SDK, OTLP, then OTLP, SDK...), so
                # that a load rising or falling on the shared machine weighs on both alike.
                order = ("sdk", "otlp") if r % 2 == 0 else ("otlp", "sdk")
                for path in order:
                    if path == "sdk":
                        sdk = ingest.end_to_end(
                            port,
                            api_key,
                            per_session,
                            args.batch,
                            seal=True,
                            first_seed=1000 + r * args.clients,
                        )
                        sdk_elapsed += sdk["elapsed"]
                        sdk_sessions += sdk["sessions"]
                        failures += sdk["errors"]
                    else:
                        otlp = otlp_end_to_end(port, api_key, per_process, r * args.clients)
                        otlp_elapsed += otlp["elapsed"]
                        failures += otlp["errors"]
                    loads.append(os.getloadavg()[0])
            expected = {
                ingest.session_proposals(2, 1000 + i)[0]["session_id"]: per_session[
                    i % args.clients
                ]
                for i in range(args.rounds * args.clients)
            }
            if not failures:
                failures = ingest.seal_and_verify(port, api_key, sdk_sessions, expected)
                failures += otlp_verify(port, api_key, args.rounds * args.clients)
        finally:
            service.terminate()
            service.wait(timeout=30)
    if failures:
        print("FAILED: the run did not store verifiable chains:")
        for failure in failures:
            print("  " + failure)
        return 1

    events = args.rounds * sum(per_session)
    spans = args.rounds * sum(per_process)
    sdk_rate = events / sdk_elapsed
    span_rate = spans / otlp_elapsed
    ratio = span_rate / sdk_rate
    print(
        f"SDK path: {events:,} events in {args.rounds * args.clients} sessions, batches of "
        f"{args.batch}, each session sealed; OTLP path: {spans:,} spans from "
        f"{args.rounds * args.clients} exporters, batches of {SPAN_BATCH}, 2 events per span, "
        f"each session sealed by its root agent span; {args.rounds} rounds of {args.clients} "
        f"clients per path, alternating; gunicorn -w {args.workers}; {usable_cpus()} usable "
        f"CPUs; 1-minute load average {', '.join(f'{x:.2f}' for x in loads)} (before, then "
        "after each phase)"
    )
    print(
        f"all {2 * args.rounds * args.clients} sessions sealed and verified: AUTHORITATIVE_EVIDENCE"
    )
    table_print(
        ["measure", "value"],
        [
            ["SDK path", f"{sdk_rate:,.0f} events/s ({sdk_elapsed:.1f} s)"],
            ["OTLP path", f"{span_rate:,.0f} spans/s ({otlp_elapsed:.1f} s)"],
            ["OTLP path, events", f"{2 * span_rate:,.0f} events/s"],
            ["OTLP spans/s / SDK events/s", f"{ratio:.0%}"],
        ],
    )
    summary_print(
        "otlp",
        [
            ["SDK path events/s", round(sdk_rate), None, True],
            ["OTLP spans/s", round(span_rate), None, True],
            ["OTLP spans/s / SDK events/s", round(ratio, 3), TARGET_RATIO, ratio >= TARGET_RATIO],
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
