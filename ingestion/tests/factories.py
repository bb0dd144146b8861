"""Small builders for ingestion tests: plain functions, valid defaults, override what matters."""

from __future__ import annotations

import itertools
import json
import uuid
from pathlib import Path
from typing import Any

from agentops_sdk import chain

from ingestion import services
from ingestion.models import ApiKey, Project, Session

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "spec" / "vectors"

_names = itertools.count(1)

DEFAULT_PAYLOADS: dict[str, dict[str, Any]] = {
    "SESSION_START": {"agent_id": "support-bot", "environment": "dev"},
    "SESSION_END": {"status": "success", "duration_ms": 1234},
    "MODEL_REQUEST": {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
    "MODEL_RESPONSE": {"model": "gpt-test", "finish_reason": "stop", "content": "hello"},
    "TOOL_CALL": {"tool_name": "lookup_order", "args": {"order_id": 1000}},
    "TOOL_RESULT": {"tool_name": "lookup_order", "status": "success", "result": {"n": 1}},
    "AGENT_STATE_SNAPSHOT": {"step": 1},
    "ERROR": {"error_type": "Timeout", "message": "the tool timed out", "fatal": False},
    "LOG_DROP": {"dropped_count": 3, "cumulative_drops": 3, "drop_reason": "BUFFER_FULL"},
}


def project_create(name: str | None = None) -> Project:
    return Project.objects.create(name=name or f"project-{next(_names)}")


def api_key_create(project: Project | None = None, name: str = "test") -> tuple[ApiKey, str]:
    project = project or project_create()
    return ApiKey.objects.create_key(name=name, project=project)


def session_create(project: Project | None = None, **fields: Any) -> Session:
    session, _ = services.session_start(
        project=project or project_create(),
        agent_id=fields.pop("agent_id", "support-bot"),
        **fields,
    )
    return session


def proposal_build(
    session_id: uuid.UUID | str,
    seq: int,
    event_type: str | None = None,
    payload: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A producer's proposal (spec §5); SESSION_START at 0 and TOOL_CALL after by default."""
    event_type = event_type or ("SESSION_START" if seq == 0 else "TOOL_CALL")
    proposal = {
        "event_id": str(uuid.uuid4()),
        "session_id": str(session_id),
        "sequence_number": seq,
        "timestamp_wall": f"2026-01-25T10:00:{seq % 60:02d}.{seq:06d}Z",
        "timestamp_monotonic": seq * 37,
        "event_type": event_type,
        "source_sdk_ver": "agentops-sdk/0.1.0",
        "schema_ver": chain.SPEC_VERSION,
        "payload": payload if payload is not None else dict(DEFAULT_PAYLOADS[event_type]),
    }
    proposal.update(fields)
    return proposal


def proposals_build(
    session_id: uuid.UUID | str, count: int, *, start: int = 0, end: bool = False
) -> list[dict[str, Any]]:
    """``count`` proposals from ``start``; the last one is SESSION_END when ``end``."""
    batch = [proposal_build(session_id, seq) for seq in range(start, start + count)]
    if end and batch:
        last = batch[-1]["sequence_number"]
        batch[-1] = proposal_build(session_id, last, "SESSION_END")
    return batch


def session_with_events(
    n: int, *, project: Project | None = None, end: bool = False, **fields: Any
) -> Session:
    """A session holding ``n`` events appended through the service."""
    session = session_create(project, **fields)
    if n:
        services.events_append(session=session, proposals=proposals_build(session.id, n, end=end))
    return session


def vector_load(name: str) -> list[dict[str, Any]]:
    lines = (VECTORS / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
