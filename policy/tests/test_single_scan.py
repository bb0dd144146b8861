"""The seal hook scans a session's payloads once: findings and subject fingerprints alike."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from agentops_sdk import chain

from ingestion import services as ingestion
from ingestion.models import Project
from ingestion.selectors import session_envelopes
from policy import pii, subjects
from policy.models import Findings, SubjectFingerprint

pytestmark = pytest.mark.django_db


def _proposal(session, seq, event_type, payload):
    return {
        "event_id": str(uuid.uuid4()),
        "session_id": str(session.pk),
        "sequence_number": seq,
        "timestamp_wall": f"2026-01-25T10:00:{seq:02d}.000000Z",
        "timestamp_monotonic": seq,
        "event_type": event_type,
        "source_sdk_ver": "agentops-sdk/0.1.0",
        "schema_ver": chain.SPEC_VERSION,
        "payload": payload,
    }


@pytest.fixture
def sealed_with_people(settings, django_capture_on_commit_callbacks, monkeypatch):
    """A session naming two people, sealed with the seal hook; how many times the seal
    walked each payload's strings, by event type."""
    settings.AGENTOPS_SEAL_HOOKS = ["policy.services.seal_hook"]
    settings.AGENTOPS_SUBJECT_KEY = "single-scan-key"
    project = Project.objects.create(name="people")
    session, _ = ingestion.session_start(project=project, agent_id="support-bot")
    payloads = [
        ("SESSION_START", {"agent_id": "support-bot"}),
        ("TOOL_CALL", {"tool_name": "crm", "args": {"email": "Jane.Roe@Example.com"}}),
        ("MODEL_RESPONSE", {"content": "Call me at +1 415 555 2671 or mail jo@example.org"}),
        ("SESSION_END", {"status": "success", "duration_ms": 5}),
    ]
    ingestion.events_append(
        session=session,
        proposals=[_proposal(session, n, kind, body) for n, (kind, body) in enumerate(payloads)],
    )
    walks: Counter[str] = Counter()
    original = pii._strings
    kinds = {json.dumps(body, sort_keys=True): kind for kind, body in payloads}

    def counting(payload):
        walks[kinds.get(json.dumps(payload, sort_keys=True), "other")] += 1
        return original(payload)

    monkeypatch.setattr(pii, "_strings", counting)
    with django_capture_on_commit_callbacks(execute=True):
        ingestion.session_seal(session=session)
    monkeypatch.undo()
    return session, walks


def test_every_payload_is_scanned_once_at_seal(sealed_with_people):
    _, walks = sealed_with_people
    assert walks == {"SESSION_START": 1, "TOOL_CALL": 1, "MODEL_RESPONSE": 1, "SESSION_END": 1}


def test_the_fingerprints_at_seal_are_those_of_the_backfill(sealed_with_people):
    session, _ = sealed_with_people
    stored = set(
        SubjectFingerprint.objects.filter(session=session).values_list(
            "sequence_number", "kind", "fingerprint"
        )
    )
    backfill = subjects.events_fingerprints(scanner=None, events=session_envelopes(session=session))
    assert stored == backfill
    assert {(seq, kind) for seq, kind, _ in stored} == {(1, "email"), (2, "phone"), (2, "email")}
    email = subjects.subject_fingerprint(kind="email", value="jane.roe@example.com")
    assert (1, "email", email) in stored
    assert Findings.objects.get(session=session).pii_count == 3
