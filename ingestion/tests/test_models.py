from __future__ import annotations

import pytest
from agentops_sdk import chain
from django.utils import timezone

from ingestion import services
from ingestion.errors import AppendOnlyError
from ingestion.models import Event, Session

from .factories import proposal_build, session_create, session_with_events

pytestmark = pytest.mark.django_db


def test_envelope_has_exactly_the_spec_fields_in_export_order():
    session = session_with_events(2)
    event = Event.objects.get(session=session, sequence_number=1)
    envelope = event.envelope()
    assert tuple(envelope) == chain.ENVELOPE_FIELDS
    assert envelope["session_id"] == str(session.id)
    assert envelope["payload"] == proposal_build(session.id, 1)["payload"]
    assert chain.event_hash(envelope) == envelope["event_hash"]


def test_envelope_of_a_withheld_payload_is_null():
    event = Event(payload_jcs=None, session_id=session_create().id)
    assert event.envelope()["payload"] is None


def test_stored_payload_text_reproduces_its_hash_exactly():
    session = session_create()
    payload = {"agent_id": "a", "big": 1e300, "neg_zero": -0.0, "float_int": 2.0, "é": "ü"}
    services.events_append(
        session=session, proposals=[proposal_build(session.id, 0, payload=payload)]
    )
    event = Event.objects.get(session=session)
    assert event.payload_jcs == chain.canonicalize(payload).decode()
    assert chain.payload_hash(event.envelope()["payload"]) == event.payload_hash


def test_saving_a_stored_event_again_is_refused():
    event = Event.objects.get(session=session_with_events(1))
    event.event_type = "ERROR"
    with pytest.raises(AppendOnlyError):
        event.save()
    assert Event.objects.get(pk=event.pk).event_type == "SESSION_START"


def test_deleting_an_event_is_refused():
    event = Event.objects.get(session=session_with_events(1))
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert Event.objects.filter(pk=event.pk).exists()


def test_deleting_a_session_is_refused():
    session = session_create()
    with pytest.raises(AppendOnlyError):
        session.delete()
    assert Session.objects.filter(pk=session.pk).exists()


def test_sealed_follows_sealed_at():
    session = session_create()
    assert session.sealed is False
    session.sealed_at = timezone.now()
    assert session.sealed is True


def test_string_forms():
    session = session_create(agent_id="bot")
    assert str(session.project) == session.project.name
    assert str(session) == f"bot {session.id}"
