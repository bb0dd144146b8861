"""Helpers shared by the benchmarks: realistic sessions, peak memory, tables, summaries.

Sessions are generated as a stream, so writing a million events costs no more memory than
writing ten; the chain is built with the SDK's own rules (``chain.chain_event`` and
``seal.seal_payload_build``), exactly as the ingestion service builds it.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agentops_sdk import chain, seal
from agentops_sdk.events import time_ordered_id
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SERVICE_ID = "bench-ingest-01"
SOURCE_SDK_VER = "agentops-sdk/0.1.0"
_START = datetime(2026, 1, 25, 10, 0, tzinfo=UTC)

_QUESTIONS = [
    "Where is my order {order}? It was supposed to arrive on Monday.",
    "Can you explain the charge of ${price} on my last statement?",
    "I want to change the delivery address for order {order}.",
    "The package shows as delivered but I never received it.",
]
_ANSWERS = [
    "Let me look up order {order} for you.",
    "I can see the charge of ${price}; checking the payment history now.",
    "Your order {order} left the warehouse yesterday and is with the carrier.",
]
_TOOLS = ["orders.lookup", "crm.customer_get", "kb.search", "payments.refund"]


def _wall(offset_ms: int) -> str:
    return (_START + timedelta(milliseconds=offset_ms)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _payloads(rng: random.Random) -> Iterator[tuple[str, dict[str, Any]]]:
    """An endless agent loop: model request, model response, tool call, tool result."""
    while True:
        order = f"ORD-2026-{rng.randrange(10**6):06d}"
        price = f"{rng.randrange(5, 900)}.{rng.randrange(100):02d}"
        call_id = f"call_{rng.getrandbits(48):012x}"
        tool = rng.choice(_TOOLS)
        yield (
            "MODEL_REQUEST",
            {
                "model": "gpt-4o-2024-08-06",
                "messages": [
                    {
                        "role": "system",
                        "content": "You are a support agent for an online shop. Be brief, "
                        "and look orders up before answering.",
                    },
                    {
                        "role": "user",
                        "content": rng.choice(_QUESTIONS).format(order=order, price=price),
                    },
                ],
                "temperature": 0.2,
                "max_tokens": 512,
            },
        )
        yield (
            "MODEL_RESPONSE",
            {
                "model": "gpt-4o-2024-08-06",
                "finish_reason": "tool_calls",
                "content": rng.choice(_ANSWERS).format(order=order, price=price),
                "tool_calls": [{"id": call_id, "name": tool, "arguments": {"order_id": order}}],
                "usage": {"prompt_tokens": rng.randrange(100, 900), "completion_tokens": 31},
            },
        )
        yield (
            "TOOL_CALL",
            {
                "tool_name": tool,
                "call_id": call_id,
                "args": {
                    "order_id": order,
                    "customer_id": rng.randrange(10**8),
                    "fields": ["status", "carrier", "eta", "amount", "items", "history"],
                    "include_history": True,
                },
                "timeout_ms": 5000,
            },
        )
        yield (
            "TOOL_RESULT",
            {
                "tool_name": tool,
                "call_id": call_id,
                "status": "success",
                "result": {
                    "order_id": order,
                    "status": "shipped",
                    "carrier": "DHL",
                    "eta": "2026-01-27",
                    "amount": float(price),
                    "currency": "EUR",
                    "items": rng.randrange(1, 6),
                    "history": [
                        {"at": "2026-01-24T08:12:00Z", "event": "packed"},
                        {"at": "2026-01-24T17:40:00Z", "event": "handed to carrier"},
                    ],
                },
                "duration_ms": rng.randrange(20, 900),
            },
        )


_START_MS = int(_START.timestamp() * 1000)


def _id_maker(rng: random.Random, ids: str) -> Callable[[int], str]:
    """Ids as a producer makes them: ``"sdk"``, time-ordered as the SDK's (its layout, random
    bits from ``rng``); ``"random"``, random UUIDs (version 4) as other producers may send."""
    if ids == "sdk":
        return lambda unix_ms: time_ordered_id(unix_ms, rng.getrandbits(74))
    if ids == "random":
        return lambda unix_ms: str(uuid.UUID(int=rng.getrandbits(128), version=4))
    raise ValueError(f"ids must be 'sdk' or 'random', not {ids!r}")


def session_events(
    count: int,
    *,
    private_key: Ed25519PrivateKey | None = None,
    seed: int = 20260125,
    ids: str = "sdk",
) -> Iterator[dict[str, Any]]:
    """Yield a server-authority session of ``count`` events, the last one its CHAIN_SEAL.

    SESSION_START, then the agent loop, then SESSION_END and the seal (signed when
    ``private_key`` is given). Nothing is kept but the previous event's hash. The session id
    depends on ``seed`` alone; event ids are made as ``ids`` says (``_id_maker``), time-ordered
    by default, as the SDK makes them.
    """
    if count < 3:
        raise ValueError("a sealed session needs at least 3 events")
    rng = random.Random(seed)
    new_id = _id_maker(rng, ids)
    session_id = new_id(_START_MS)  # the same for the same seed: benchmarks find it again
    loop = _payloads(rng)
    prev_hash: str | None = None
    clock = 0
    for sequence in range(count - 1):
        if sequence == 0:
            event_type, payload = (
                "SESSION_START",
                {"agent_id": "support-bot", "environment": "prod", "tags": ["bench"]},
            )
        elif sequence == count - 2:
            event_type, payload = "SESSION_END", {"status": "success", "duration_ms": clock}
        else:
            event_type, payload = next(loop)
        clock += rng.randrange(5, 400)
        event = chain.chain_event(
            {
                "event_id": new_id(time.time_ns() // 1_000_000),
                "session_id": session_id,
                "sequence_number": sequence,
                "timestamp_wall": _wall(clock),
                "timestamp_monotonic": clock,
                "event_type": event_type,
                "source_sdk_ver": SOURCE_SDK_VER,
                "schema_ver": chain.SPEC_VERSION,
                "payload": payload,
            },
            prev_event_hash=prev_hash,
            chain_authority=chain.AUTHORITY_SERVER,
            authority_id=SERVICE_ID,
        )
        prev_hash = event["event_hash"]
        yield event
    assert prev_hash is not None
    seal_time = _wall(clock + 1000)
    yield chain.chain_event(
        {
            "event_id": new_id(time.time_ns() // 1_000_000),
            "session_id": session_id,
            "sequence_number": count - 1,
            "timestamp_wall": seal_time,
            "timestamp_monotonic": clock + 1000,
            "event_type": chain.SEAL_EVENT_TYPE,
            "source_sdk_ver": SOURCE_SDK_VER,
            "schema_ver": chain.SPEC_VERSION,
            "payload": seal.seal_payload_build(
                private_key=private_key,
                session_id=session_id,
                ingestion_service_id=SERVICE_ID,
                seal_timestamp=seal_time,
                final_event_hash=prev_hash,
                event_count=count - 1,
                complete=True,
                total_drops=0,
            ),
        },
        prev_event_hash=prev_hash,
        chain_authority=chain.AUTHORITY_SERVER,
        authority_id=SERVICE_ID,
    )


def jsonl_write(events: Iterable[dict[str, Any]], path: Path) -> tuple[int, int]:
    """Write events one per line, as an export does; returns (events, bytes)."""
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
            handle.write("\n")
            count += 1
        size = handle.tell()
    return count, size


def _rss_mb(who: int) -> float:
    peak = resource.getrusage(who).ru_maxrss  # Linux reports KiB, macOS bytes
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return _rss_mb(resource.RUSAGE_SELF)


def peak_rss_children_mb() -> float:
    """Peak resident memory of the largest finished child process (e.g. a worker), in MB."""
    return _rss_mb(resource.RUSAGE_CHILDREN)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def table_print(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print rows under headers, each column as wide as its widest cell."""
    body = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in [list(headers), *body]) for i in range(len(headers))]
    for row in [list(headers), *body]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def summary_print(bench: str, figures: Sequence[Sequence[Any]]) -> None:
    """The last line ``run_all.py`` reads: ``[label, value, target, met]`` per figure."""
    print(json.dumps({"bench": bench, "figures": [list(figure) for figure in figures]}))


def postgres_bench_url(url: str, suffix: str) -> tuple[str, str]:
    """The URL and name of a scratch database beside the one ``url`` names (+ ``suffix``)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") + suffix
    return urlunsplit(parts._replace(path="/" + name)), name


def postgres_admin(url: str, *statements: str) -> None:
    """Run ``statements`` on the server of ``url`` through its ``postgres`` database."""
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)
