"""Benchmark: PII scanning and policy evaluation of one 10,000-event session.

Builds a realistic session (model traffic, tool calls with order lookups, CRM records,
timestamps, ids and prices, with personal data sprinkled through ~10% of events), then times
``policy_evaluate`` under the shipped default policy: PII scan of every payload string, tool
audit and every rule, all pure functions. Target: at most 2 s for the session.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Run as a script, bench/ is first on sys.path and this file would shadow the policy package.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from policy.rules import policy_default, policy_evaluate  # noqa: E402

EVENTS = 10_000
TARGET_SECONDS = 2.0
RUNS = 5

FIRST_NAMES = ["jane", "omar", "li", "maria", "tom", "anna", "kwame", "sofia", "raj", "eva"]
LAST_NAMES = ["doe", "haddad", "wei", "garcia", "smith", "schmidt", "mensah", "rossi", "patel"]
PII_SNIPPETS = [
    "my email is {first}.{last}@example.com",
    "call me back at (415) 555-{four}",
    "card 4242 4242 4242 4242 was charged twice",
    "my SSN is 536-90-4399, please verify",
    "refund to IBAN DE89 3704 0044 0532 0130 00",
    "I logged in from 203.0.113.{octet} yesterday",
    "reach me on +44 20 7946 0958",
]
BENIGN_SENTENCES = [
    "Where is my order? It was supposed to arrive on {date}.",
    "The package shows as delivered but I never received it.",
    "Can you explain the charge of ${price} on my last statement?",
    "I want to change the delivery address for order {order}.",
    "Thanks, that solved it.",
    "Please cancel the subscription at the end of the billing period.",
]
TOOLS = ["orders.lookup", "crm.customer_get", "kb.search", "payments.refund", "email.send"]


def wall(start: datetime, offset_ms: int) -> str:
    return (start + timedelta(milliseconds=offset_ms)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def session_build(rng: random.Random) -> list[dict]:
    session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    start = datetime(2026, 1, 25, 10, 0, tzinfo=UTC)
    clock = 0
    events: list[dict] = []

    def fill(template: str) -> str:
        return template.format(
            first=rng.choice(FIRST_NAMES),
            last=rng.choice(LAST_NAMES),
            four=f"{rng.randrange(10000):04d}",
            octet=rng.randrange(1, 255),
            date=f"2026-01-{rng.randrange(1, 28):02d}",
            price=f"{rng.randrange(5, 900)}.{rng.randrange(100):02d}",
            order=f"ORD-2026-{rng.randrange(10**6):06d}",
        )

    def text(sentences: int) -> str:
        parts = [fill(rng.choice(BENIGN_SENTENCES)) for _ in range(sentences)]
        if rng.random() < 0.10:
            parts.insert(rng.randrange(len(parts) + 1), fill(rng.choice(PII_SNIPPETS)))
        return " ".join(parts)

    def add(event_type: str, payload: dict) -> None:
        nonlocal clock
        clock += rng.randrange(5, 400)
        events.append(
            {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "session_id": session_id,
                "sequence_number": len(events),
                "timestamp_wall": wall(start, clock),
                "event_type": event_type,
                "payload": payload,
            }
        )

    add("SESSION_START", {"agent_id": "support-bot", "environment": "prod", "tags": ["bench"]})
    while len(events) < EVENTS - 1:
        add(
            "MODEL_REQUEST",
            {
                "model": "gpt-4o-2024-08-06",
                "messages": [
                    {"role": "system", "content": "You are a helpful support agent."},
                    {"role": "user", "content": text(3)},
                ],
            },
        )
        add(
            "MODEL_RESPONSE",
            {"model": "gpt-4o-2024-08-06", "finish_reason": "tool_calls", "content": text(2)},
        )
        tool = rng.choice(TOOLS)
        tool_id = f"call_{rng.getrandbits(48):012x}"
        add(
            "TOOL_CALL",
            {
                "tool_name": tool,
                "tool_id": tool_id,
                "args": {
                    "order_id": f"ORD-2026-{rng.randrange(10**6):06d}",
                    "customer_id": rng.randrange(10**8),
                    "query": text(1),
                    "requested_at": wall(start, clock),
                },
            },
        )
        if rng.random() < 0.05:
            add(
                "ERROR",
                {"error_type": "Timeout", "message": f"{tool} timed out", "fatal": False},
            )
        else:
            add(
                "TOOL_RESULT",
                {
                    "tool_name": tool,
                    "tool_id": tool_id,
                    "status": "success",
                    "result": {
                        "records": [
                            {
                                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                "updated_at": wall(start, clock - rng.randrange(10**9)),
                                "amount": f"{rng.randrange(5, 900)}.{rng.randrange(100):02d}",
                                "epoch": 1_700_000_000 + rng.randrange(10**7),
                                "note": text(1),
                                "sha256": f"{rng.getrandbits(256):064x}",
                            }
                            for _ in range(rng.randrange(1, 4))
                        ]
                    },
                },
            )
        if rng.random() < 0.1:
            add("AGENT_STATE_SNAPSHOT", {"step": len(events), "memory": text(2)})
    del events[EVENTS - 1 :]
    add("SESSION_END", {"status": "success", "duration_ms": clock})
    return events


def main() -> int:
    events = session_build(random.Random(20260125))
    policy = policy_default()
    payload_bytes = sum(len(json.dumps(e["payload"])) for e in events)
    timings = []
    report = None
    for _ in range(RUNS):
        began = time.perf_counter()
        report = policy_evaluate(policy=policy, events=events)
        timings.append(time.perf_counter() - began)
    # The first run is the figure that counts: it pays for loading phone metadata, as the
    # first evaluation in a fresh worker process does.
    first, median = timings[0], statistics.median(timings)
    met = first <= TARGET_SECONDS
    summary = report.summary()
    print(
        f"session: {len(events)} events, {payload_bytes / 1e6:.1f} MB of payload JSON, "
        f"{summary['tool_calls']} tool calls"
    )
    print(f"findings: {summary['pii_findings']} PII ({summary['pii_by_kind']})")
    print(
        f"policy_evaluate, default policy: first run {first:.3f} s, median of {RUNS} {median:.3f} s"
    )
    print(f"target <= {TARGET_SECONDS:.1f} s: {'met' if met else 'NOT met'}")
    figures = [
        ["10k-event evaluation, first run (s)", round(first, 3), TARGET_SECONDS, met],
        [
            f"10k-event evaluation, median of {RUNS} (s)",
            round(median, 3),
            TARGET_SECONDS,
            median <= TARGET_SECONDS,
        ],
    ]
    print(json.dumps({"bench": "policy", "figures": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
