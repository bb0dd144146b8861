"""Helpers shared by the integration tests."""

from __future__ import annotations

import uuid
from typing import Any

from ingestion import selectors
from ingestion.models import Session

#: Client settings that keep fault tests fast: short waits, quick flushes, small batches.
FAST = {
    "flush_interval": 0.05,
    "backoff_base": 0.02,
    "backoff_cap": 0.2,
    "retry_budget": 20.0,
    "connect_timeout": 2.0,
    "read_timeout": 10.0,
    "batch_size": 5,
}


def stored_events(session_id: str) -> list[dict[str, Any]]:
    """The session's envelopes as the service stored them, in sequence order."""
    session = Session.objects.get(pk=uuid.UUID(session_id))
    return list(selectors.session_envelopes(session=session))


def agent_payloads(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """``(event_type, payload)`` of the events an agent records (not the SDK's own), without
    the random nonce the client adds to each payload."""
    own = {"SESSION_START", "SESSION_END", "LOG_DROP", "CHAIN_SEAL"}
    return [
        (event["event_type"], {k: v for k, v in event["payload"].items() if k != "nonce"})
        for event in events
        if event["event_type"] not in own
    ]


def record_tool_round_trips(session: Any, count: int) -> list[tuple[str, Any]]:
    """Record ``count`` tool calls with their results; returns what the service must store."""
    expected: list[tuple[str, Any]] = []
    for number in range(count):
        args = {"order_id": 1000 + number}
        result = {"order_id": 1000 + number, "state": "shipped"}
        tool_id = session.tool_call("lookup_order", args)
        session.tool_result("lookup_order", result, tool_id=tool_id)
        expected.append(
            ("TOOL_CALL", {"tool_name": "lookup_order", "tool_id": tool_id, "args": args})
        )
        expected.append(
            (
                "TOOL_RESULT",
                {
                    "tool_name": "lookup_order",
                    "tool_id": tool_id,
                    "status": "success",
                    "result": result,
                },
            )
        )
    return expected


def assert_stored_exactly_once(session_id: str, expected: list[tuple[str, Any]]) -> list[Any]:
    """Every recorded event stored once, in order, no gap, sealed; returns the envelopes."""
    events = stored_events(session_id)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert len({e["event_id"] for e in events}) == len(events)
    assert events[0]["event_type"] == "SESSION_START"
    assert [e["event_type"] for e in events[-2:]] == ["SESSION_END", "CHAIN_SEAL"]
    assert "LOG_DROP" not in {e["event_type"] for e in events}
    assert agent_payloads(events) == expected
    return events
