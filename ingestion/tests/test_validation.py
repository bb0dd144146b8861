"""Shape validation: the quick pass for ordinary proposals agrees with the detailed one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from agentops_sdk import chain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion import validation

from .factories import DEFAULT_PAYLOADS, proposal_build

SESSION_ID = "7c4f3a52-0b8e-4d61-9a57-3f2e8c1d6b90"

# Values that break one rule or another, or nearly do, for any envelope field.
odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.sampled_from([0, -1, chain.MAX_SAFE_INTEGER, chain.MAX_SAFE_INTEGER + 1, 1.5]),
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "x" * 201,
            "sdk\x00",
            "sdk\ud800",
            SESSION_ID,
            SESSION_ID.upper(),
            str(uuid.uuid4()),
            "{" + SESSION_ID + "}",
            SESSION_ID.replace("-", "") + "----",  # a UUID to uuid.UUID, yet not canonical
            "2026-01-25T10:00:00Z",
            "2026-01-25T10:00:00+00:00",
            "v0.5",
            chain.SPEC_VERSION,
            "TOOL_CALL",
            "CHAIN_SEAL",
            "a" * 64,
            "A" * 64,
        ]
    ),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from([dict(payload) for payload in DEFAULT_PAYLOADS.values()]),
)
field_names = st.sampled_from([*chain.PRODUCER_FIELDS, *chain.SERVER_OWNED_FIELDS, "unknown_field"])


@st.composite
def proposals(draw: st.DrawFn) -> dict[str, Any]:
    event_type = draw(st.sampled_from(sorted(DEFAULT_PAYLOADS)))
    event = proposal_build(SESSION_ID, draw(st.integers(0, 5)), event_type)
    if draw(st.booleans()):
        event["payload_hash"] = chain.payload_hash(event["payload"])
    for _ in range(draw(st.integers(0, 3))):
        name = draw(field_names)
        if draw(st.integers(0, 3)) == 0:
            event.pop(name, None)
        else:
            event[name] = draw(odd_values)
    return event


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(proposals())
def test_the_quick_pass_finds_what_the_detailed_check_finds(event: dict[str, Any]) -> None:
    assert validation._event_problems(event, session_id=SESSION_ID) == (
        validation._detailed_problems(event, session_id=SESSION_ID)
    )


@pytest.mark.parametrize("event_type", sorted(DEFAULT_PAYLOADS))
@pytest.mark.parametrize("with_hash", [False, True])
def test_ordinary_proposals_take_the_quick_pass(event_type: str, with_hash: bool) -> None:
    event = proposal_build(SESSION_ID, 1, event_type)
    if with_hash:
        event["payload_hash"] = chain.payload_hash(event["payload"])
    assert validation._ordinary(event, SESSION_ID)
    assert validation._event_problems(event, session_id=SESSION_ID) == []


@pytest.mark.parametrize(
    "event_id",
    [
        SESSION_ID.upper(),
        "7c4f3a520b8e-4d61-9a57-3f2e-8c1d6b90",  # hyphens elsewhere
        SESSION_ID.replace("-", "") + "----",
    ],
)
def test_an_event_id_spelled_otherwise_than_canonically_is_refused(event_id: str) -> None:
    """Each is a UUID to ``uuid.UUID``, but the id enters the hash as text."""
    assert chain.is_uuid(event_id)
    event = proposal_build(SESSION_ID, 1, "TOOL_CALL")
    event["event_id"] = event_id
    assert validation._event_problems(event, session_id=SESSION_ID) == [
        ("event_id", "event_id must be a UUID in canonical form (lowercase, 8-4-4-4-12)")
    ]


@pytest.mark.parametrize(
    "timestamp",
    [
        "\uff12\uff10\uff12\uff16-01-25T10:00:00Z",  # fullwidth digits in the year
        "2026-01-25T10:00:00.\u0661\u0662\u0663Z",  # Arabic-Indic digits in the fraction
        "2026-01-25T1\u0966:00:00Z",  # a Devanagari zero in the hour
    ],
)
def test_a_timestamp_in_digits_other_than_ascii_is_refused(timestamp: str) -> None:
    """RFC 3339 digits are ASCII; a regular expression's ``\\d`` would take any script's."""
    assert not chain.is_rfc3339_utc(timestamp)
    event = proposal_build(SESSION_ID, 1, "TOOL_CALL")
    event["timestamp_wall"] = timestamp
    assert validation._event_problems(event, session_id=SESSION_ID) == [
        ("timestamp_wall", "timestamp_wall must be an RFC 3339 UTC timestamp ending in Z")
    ]
