"""Helpers of the security suite: proposals, the two-tenant world, the error shape."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.test import Client

from ingestion import services
from ingestion.models import Event, Session


def proposal(session_id: str, seq: int, event_type: str = "TOOL_CALL", /, **fields: Any) -> dict:
    """A valid producer proposal (spec §5); ``fields`` override any envelope field."""
    payloads = {
        "SESSION_START": {"agent_id": "support-bot"},
        "TOOL_CALL": {"tool_name": "lookup_order", "args": {"order_id": seq}},
        "SESSION_END": {"status": "success", "duration_ms": 1200},
    }
    event = {
        "event_id": str(uuid.uuid4()),
        "session_id": session_id,
        "sequence_number": seq,
        "timestamp_wall": f"2026-01-25T10:00:{seq % 60:02d}.123456Z",
        "timestamp_monotonic": seq * 10,
        "event_type": event_type,
        "source_sdk_ver": "agentops-sdk/0.1.0",
        "schema_ver": "v0.6",
        "payload": payloads.get(event_type, {}),
    }
    event.update(fields)
    return event


@dataclass
class World:
    """Project "acme" (the caller) and project "globex" (another tenant).

    ``own`` and ``other`` hold two events each (SESSION_START, TOOL_CALL), ``empty`` none.
    """

    own_key: str
    other_key: str
    revoked_key: str
    own: str
    other: str
    empty: str

    def client(self, key: str | None) -> Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return Client(headers=headers, raise_request_exception=False)


def session_with_two_events(project_name: str) -> str:
    api_key, _ = services.api_key_create(project_name=project_name, name="fixture")
    session, _ = services.session_start(project=api_key.project, agent_id="support-bot")
    session_id = str(session.pk)
    services.events_append(
        session=session,
        proposals=[proposal(session_id, 0, "SESSION_START"), proposal(session_id, 1)],
    )
    return session_id


def stored_state() -> dict[str, Any]:
    """What a refused request must leave as it found: every session row, the event count and
    the export ledger's size."""
    sessions = {
        str(row["id"]): row
        for row in Session.objects.values(
            "id", "head_sequence", "head_hash", "event_count", "sealed_at", "metadata"
        )
    }
    state = {"sessions": sessions, "events": Event.objects.count()}
    if apps.is_installed("compliance"):
        state["exports"] = apps.get_model("compliance.ExportRecord").objects.count()
    return state


def error_of(response) -> dict:
    """The ``error`` object of an API error response, checked for the one documented shape."""
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], dict), error
    return error
