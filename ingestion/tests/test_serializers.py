"""Request and response shapes of the API (ingestion/api/serializers.py)."""

from __future__ import annotations

import uuid

import pytest
from django.http import QueryDict
from django.test import RequestFactory

from ingestion.api import serializers as s

from .factories import session_create, session_with_events

pytestmark = pytest.mark.django_db


def errors_of(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    assert not serializer.is_valid()
    return serializer.errors


def message(error) -> str:
    return str(error) if isinstance(error, str) else " ".join(map(str, error))


# --- query parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query_class", "name"),
    [
        (s.SessionListQuery, "agent_id"),
        (s.SessionListQuery, "sealed"),
        (s.SessionListQuery, "evidence_class"),
        (s.SessionListQuery, "created_after"),
        (s.SessionListQuery, "created_before"),
        (s.SessionListQuery, "limit"),
        (s.SessionListQuery, "offset"),
        (s.EventListQuery, "after"),
        (s.EventListQuery, "limit"),
    ],
)
def test_an_empty_query_parameter_is_refused_not_read_as_absent(query_class, name):
    errors = errors_of(query_class, QueryDict(f"{name}="))
    assert set(errors) == {name}
    assert message(errors[name]).startswith("must not be empty")


def test_an_empty_choice_names_the_values_allowed():
    errors = errors_of(s.SessionListQuery, QueryDict("evidence_class="))
    named = message(errors["evidence_class"])
    for value in (
        "AUTHORITATIVE_EVIDENCE",
        "PARTIAL_AUTHORITATIVE_EVIDENCE",
        "NON_AUTHORITATIVE_EVIDENCE",
        "FAILED",
    ):
        assert value in named


def test_absent_query_parameters_take_their_defaults():
    sessions = s.SessionListQuery(data=QueryDict(""))
    assert sessions.is_valid()
    assert sessions.validated_data == {"sealed": None, "limit": 50, "offset": 0}
    events = s.EventListQuery(data=QueryDict(""))
    assert events.is_valid()
    assert events.validated_data == {"after": -1, "limit": 100}


@pytest.mark.parametrize(
    "query", ["after=-2", "after=9007199254740992", "limit=0", "limit=1001", "after=x"]
)
def test_an_event_page_out_of_bounds_is_refused(query):
    assert errors_of(s.EventListQuery, QueryDict(query))


# --- request bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("agent_id", [5, True, None, ["bot"], {"a": 1}])
def test_agent_id_must_be_a_json_string(agent_id):
    assert "agent_id" in errors_of(s.SessionCreateSerializer, {"agent_id": agent_id})


def test_unknown_fields_are_refused():
    errors = errors_of(s.SessionCreateSerializer, {"agent_id": "bot", "colour": "red"})
    assert set(errors["colour"]) == {"unknown field"}


@pytest.mark.parametrize(
    "session_id",
    [
        "6513270e269e4d37b2a74de452e6b438",
        "{6513270e-269e-4d37-b2a7-4de452e6b438}",
        "urn:uuid:6513270e-269e-4d37-b2a7-4de452e6b438",
        134515431786513246,
    ],
)
def test_a_session_id_is_only_the_hyphenated_text_form(session_id):
    assert "session_id" in errors_of(
        s.SessionCreateSerializer, {"agent_id": "bot", "session_id": session_id}
    )
    form = "6513270e-269e-4d37-b2a7-4de452e6b438"
    accepted = s.SessionCreateSerializer(data={"agent_id": "bot", "session_id": form})
    assert accepted.is_valid()
    assert accepted.validated_data["session_id"] == uuid.UUID(form)


@pytest.mark.parametrize(
    "metadata",
    [{"n": float("nan")}, {"n": 2**53}, {"text": "a\x00b"}, {"\x00": 1}, {"big": "x" * 17000}],
    ids=["nan", "huge integer", "NUL in a value", "NUL in a key", "over 16 KiB"],
)
def test_metadata_must_be_canonical_storable_and_small(metadata):
    assert "metadata" in errors_of(
        s.SessionCreateSerializer, {"agent_id": "bot", "metadata": metadata}
    )


# --- the session -----------------------------------------------------------------------------


def test_a_session_links_to_its_findings_absolute_with_a_request():
    session = session_create()
    path = f"/api/v1/sessions/{session.pk}/findings"
    assert s.SessionSerializer(session).data["findings_url"] == path
    request = RequestFactory().get("/api/v1/sessions")
    data = s.SessionSerializer(session, context={"request": request}).data
    assert data["findings_url"] == f"http://testserver{path}"


def test_a_session_shows_its_head_and_no_verdict_while_open():
    session = session_with_events(3)
    data = s.SessionSerializer(session).data
    assert data["head"] == {"sequence_number": 2, "event_hash": session.head_hash}
    assert data["evidence_class"] is None
    assert data["latest_verification"] is None
