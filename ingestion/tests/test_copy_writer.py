"""A stored batch holds exactly the text producers sent, whatever characters it holds.

On PostgreSQL the batch travels as COPY text written by ``copy_writer`` (elsewhere as an
INSERT), so every character COPY gives a meaning to is sent here in every field a producer
chooses, and read back through the ORM.
"""

from __future__ import annotations

import pytest
from agentops_sdk import chain
from agentops_sdk.verify import verify_session
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion import keys, selectors, services
from ingestion.models import Event
from ingestion.services.copy_writer import copy_text

from .factories import api_key_create, proposal_build, session_create

pytestmark = pytest.mark.django_db

# What COPY's text format reads specially, alone and together, and text around them.
HOSTILE = [
    "\\",
    "\\N",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "a\tb\\nc",
    "\\\\t",
    "end\\",
    "\\.",
    "é\u2028\u00a0\U0001f600",
    "\x01\x1f\x7f",
]


def _stored(session) -> list[Event]:
    return list(Event.objects.filter(session=session).order_by("sequence_number"))


def _append_and_read_back(source_sdk_ver: str, text: str) -> None:
    session = session_create()
    api_key, _ = api_key_create(session.project)
    payloads = [
        {"agent_id": f"agent {text}", text: [text, {"k": text}]},
        {"tool_name": f"tool {text}", "args": {"q": text}, "call_id": text},
    ]
    proposals = [
        proposal_build(session.id, 0, "SESSION_START", payloads[0], source_sdk_ver=source_sdk_ver),
        proposal_build(session.id, 1, "TOOL_CALL", payloads[1], source_sdk_ver=source_sdk_ver),
    ]
    services.events_append(session=session, proposals=proposals, api_key=api_key)
    stored = _stored(session)
    assert [event.source_sdk_ver for event in stored] == [source_sdk_ver] * 2
    assert [event.payload_jcs for event in stored] == [
        chain.canonicalize(payload).decode() for payload in payloads
    ]
    assert {event.api_key_id for event in stored} == {api_key.pk}
    assert {event.authority_id for event in stored} == {keys.service_id()}
    report = verify_session(selectors.session_envelopes(session=session))
    assert report["status"] == "PASS", report["violations"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_producer_text_is_stored_as_sent(text):
    _append_and_read_back(f"sdk/{text}/1", text)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sdk_ver=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=40,
    ),
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
)
def test_any_storable_text_is_stored_as_sent(sdk_ver, text):
    _append_and_read_back(sdk_ver, text)


@pytest.mark.parametrize("service_id", ["svc\tone", "svc\\N", "svc\nline"])
def test_the_authority_id_is_stored_as_configured(service_id):
    with override_settings(AGENTOPS_INGESTION_SERVICE_ID=service_id):
        _append_and_read_back("sdk/1", "x")


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain", "plain"),
        ("a\\b", "a\\\\b"),
        ("\t\n\r", "\\t\\n\\r"),
        ("\\N", "\\\\N"),
        ("é\U0001f600", "é\U0001f600"),
    ],
)
def test_copy_text_escapes_the_four_characters_copy_reads(value, written):
    assert copy_text(value) == written
