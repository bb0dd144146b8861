"""Small builders of §2 event dicts for policy tests (only the fields policy reads)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

SESSION_ID = "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6"
_START = datetime(2026, 1, 25, 10, 0, 0, tzinfo=UTC)


def wall_clock(offset_ms: float) -> str:
    moment = _START + timedelta(milliseconds=offset_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_make(
    sequence_number: int,
    event_type: str,
    payload: dict[str, Any] | None,
    *,
    at_ms: float | None = None,
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.UUID(int=sequence_number + 1)),
        "session_id": SESSION_ID,
        "sequence_number": sequence_number,
        "timestamp_wall": wall_clock(sequence_number * 10 if at_ms is None else at_ms),
        "event_type": event_type,
        "payload": payload,
    }


def session_make(*specs: tuple[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Events numbered from 0 in the order given, 10 ms apart."""
    return [event_make(n, event_type, payload) for n, (event_type, payload) in enumerate(specs)]
