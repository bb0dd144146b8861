"""The envelope rules live in ``chain``; the verifier's quick per-event test agrees with them."""

from __future__ import annotations

import uuid
from typing import Any

from agentops_sdk import chain
from agentops_sdk.verify import codes, events
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import SessionBuilder

_UUID = str(uuid.UUID(int=7))
_SAMPLES = [None, True, 0, -1, 1.5, chain.MAX_SAFE_INTEGER, chain.MAX_SAFE_INTEGER + 1, ""]
_SAMPLES += [_UUID, _UUID.upper(), "{" + _UUID + "}", "v0.5", "v0.4", "TOOL_CALL", "CHAIN_SEAL"]
_SAMPLES += ["2026-01-25T10:00:00Z", "2026-01-25T10:00:00+00:00", "server", "sdk", "a" * 64]
ODD_VALUES = (
    st.sampled_from(_SAMPLES)
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.text(max_size=12)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)
)
FIELDS = st.sampled_from([*chain.ENVELOPE_FIELDS, "unknown_field"])
EVENTS = SessionBuilder(Ed25519PrivateKey.generate()).session(6)


def _envelope_messages(event: dict[str, Any]) -> list[str]:
    """The verifier's MISSING_FIELD message for malformed envelope fields, if any."""
    checked = events._event_checks(event)
    event_type = event.get("event_type")
    return [
        message
        for code, message in checked.problems
        if code == codes.MISSING_FIELD
        and not message.startswith("missing field(s):")
        and not (isinstance(event_type, str) and message.startswith(f"{event_type} payload:"))
    ]


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_quick_test_of_an_event_finds_what_the_envelope_rules_find(
    data: st.DataObject,
) -> None:
    event = dict(data.draw(st.sampled_from(EVENTS)))
    for _ in range(data.draw(st.integers(0, 3))):
        name = data.draw(FIELDS)
        if data.draw(st.integers(0, 3)) == 0:
            event.pop(name, None)
        else:
            event[name] = data.draw(ODD_VALUES)
    found = events._field_problems(event)
    assert _envelope_messages(event) == (["; ".join(found)] if found else [])


def test_the_verifier_and_the_service_share_the_envelope_rules() -> None:
    event = {
        "event_id": "not-a-uuid",
        "sequence_number": -1,
        "payload": [],
        "payload_hash": "x",
        "schema_ver": 6,
        "chain_authority": "agent",
    }
    assert chain.envelope_field_problems(event) == [
        ("event_id", "event_id must be a UUID string"),
        ("sequence_number", "sequence_number must be an integer >= 0"),
        ("schema_ver", "schema_ver must be a string"),
        ("payload", "payload must be an object (or null when withheld)"),
        ("payload_hash", "payload_hash must be 64 lowercase hex characters"),
        ("chain_authority", "chain_authority must be 'server' or 'sdk'"),
    ]
    # A verifier judges the hashes by comparison and the schema version by its own code.
    assert events._field_problems(event) == [
        "event_id must be a UUID string",
        "sequence_number must be an integer >= 0",
        "payload must be an object (or null when withheld)",
        "chain_authority must be 'server' or 'sdk'",
    ]
    withheld = {"payload": None, "payload_hash": "x"}
    assert events._field_problems(withheld) == ["payload_hash must be 64 lowercase hex characters"]


def test_missing_and_unknown_names_are_found_once() -> None:
    event = {"b": 1, "x": 2, "a": 3, "y": 4}
    assert chain.field_name_problems(
        event, required=("a", "b", "c", "d"), allowed=frozenset({"a", "b", "c", "d"})
    ) == (["c", "d"], ["x", "y"])


def test_canonical_uuid_is_one_rule() -> None:
    value = str(uuid.uuid4())
    assert chain.is_canonical_uuid(value)
    assert not chain.is_canonical_uuid(value.upper())
    assert chain.is_uuid(value.upper())
    assert codes._canonical_uuid.__self__ is chain.CANONICAL_UUID


def test_an_event_after_its_own_checks_has_named_fields(builder: SessionBuilder) -> None:
    first = builder.session(3)[0]
    checked = events._event_checks(first)
    assert isinstance(checked, events._Checked) and len(checked) == 15
    assert (checked.sequence, checked.event_id, checked.problems) == (0, first["event_id"], ())
    assert checked.stored_hash == first["event_hash"] and checked.genesis_problem is None
    assert events._event_checks([1]) == events._NOT_AN_OBJECT
