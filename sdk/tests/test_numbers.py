"""The JSON number rule: every number the chain accepts verifies once stored and read back.

``chain.number_problem`` is the rule. These tests derive it from the reference serializer
(``rfc8785``) and a JSON parser, then check the consequence that matters: a payload that is
accepted, stored as its canonical text, exported and read by the real verifier, passes.
"""

from __future__ import annotations

import json
import math
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from agentops_sdk import chain, seal, verify
from agentops_sdk.client import Client
from agentops_sdk.events import PayloadError, payload_snapshot
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .conftest import SessionBuilder, export_document

SAFE = chain.MAX_SAFE_INTEGER
TWO_53 = 2.0**53
LARGEST_BELOW_1E21 = math.nextafter(1e21, 0.0)
LARGEST_SUBNORMAL = math.nextafter(2.2250738585072014e-308, 0.0)

# The edges of the number space: where ECMAScript changes notation, where doubles stop
# holding every integer, and the extremes of the double range.
EDGE_FLOATS = [
    0.0,
    -0.0,
    5e-324,
    -5e-324,
    LARGEST_SUBNORMAL,
    2.2250738585072014e-308,
    1e-7,
    1e-6,
    0.5,
    2.0,
    4503599627370495.5,
    2.0**52,
    TWO_53 - 1,
    -(TWO_53 - 1),
    TWO_53,
    -TWO_53,
    TWO_53 + 2,
    1e16,
    -1e16,
    1e20,
    LARGEST_BELOW_1E21,
    -LARGEST_BELOW_1E21,
    1e21,
    -1e21,
    1e22,
    1e300,
    -1e300,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    math.nan,
    math.inf,
    -math.inf,
]
EDGE_INTS = [0, 1, -1, SAFE, -SAFE, SAFE + 1, -SAFE - 1, 2**53, 2**63, 2**64, -(2**64), 10**400]

any_int = st.one_of(
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.integers(-SAFE - 2**10, -SAFE + 2**10),
    st.integers(SAFE - 2**10, SAFE + 2**10),
    st.sampled_from(EDGE_INTS),
)
any_float = st.one_of(
    st.floats(),
    st.floats(min_value=2.0**52, max_value=1e22),
    st.floats(min_value=-1e22, max_value=-(2.0**52)),
    st.floats(min_value=-1e-300, max_value=1e-300),
    st.sampled_from(EDGE_FLOATS),
    st.builds(lambda m, e: float(f"{m}e{e}"), st.integers(-999, 999), st.integers(-330, 310)),
)
any_number = st.one_of(any_int, any_float)
# Numbers on the accepted side of every edge, so that most payloads reach the verifier.
near_edges_inside = st.one_of(
    st.integers(-SAFE, SAFE),
    st.floats(-(TWO_53 - 1), TWO_53 - 1),
    st.floats(min_value=1e21, allow_infinity=False),
    st.floats(max_value=-1e21, allow_infinity=False),
    st.floats(-1e-300, 1e-300),
)
json_with_numbers = st.recursive(
    st.none() | st.booleans() | st.text(max_size=5) | any_number | near_edges_inside,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


def round_trips(number: int | float) -> bool:
    """The rule derived from its definition, with no help from ``chain``.

    A number is acceptable when the reference writes it, the text parses back, and what
    parses back is written by the reference as the same text (the reference refuses NaN,
    ±Infinity and integers beyond ±(2^53-1), as spec §3 does).
    """
    try:
        text = rfc8785.dumps(number)
        return rfc8785.dumps(json.loads(text)) == text
    except (rfc8785.IntegerDomainError, rfc8785.FloatDomainError):
        return False


# --- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (TWO_53 - 1, b"9007199254740991"),
        (-(TWO_53 - 1), b"-9007199254740991"),
        (2.0**52, b"4503599627370496"),
        (4503599627370495.5, b"4503599627370495.5"),
        (-0.0, b"0"),
        (2.0, b"2"),
        (1e21, b"1e+21"),
        (-1e21, b"-1e+21"),
        (1e22, b"1e+22"),
        (1e300, b"1e+300"),
        (1.7976931348623157e308, b"1.7976931348623157e+308"),
        (5e-324, b"5e-324"),
        (LARGEST_SUBNORMAL, b"2.225073858507201e-308"),
        (1e-7, b"1e-7"),
        (SAFE, b"9007199254740991"),
        (-SAFE, b"-9007199254740991"),
    ],
)
def test_accepted_edges_keep_their_text_when_read_back(number: int | float, text: bytes) -> None:
    assert chain.number_problem(number) is None
    assert chain.canonicalize(number) == text
    assert chain.canonicalize(json.loads(text)) == text


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (TWO_53, "float in [2^53, 1e21)"),
        (-TWO_53, "float in [2^53, 1e21)"),
        (1e16, "float in [2^53, 1e21)"),
        (-1e16, "float in [2^53, 1e21)"),
        (LARGEST_BELOW_1E21, "float in [2^53, 1e21)"),
        (-LARGEST_BELOW_1E21, "float in [2^53, 1e21)"),
        (SAFE + 1, "integer outside"),
        (-SAFE - 1, "integer outside"),
        (10**400, "integer outside"),
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "Infinity"),
    ],
)
def test_refused_edges(number: int | float, reason: str) -> None:
    problem = chain.number_problem(number)
    assert problem is not None and reason in problem


@settings(max_examples=3000, deadline=None)
@given(any_number)
def test_the_rule_is_exactly_the_round_trip_through_canonical_text(number: int | float) -> None:
    assert (chain.number_problem(number) is None) == round_trips(number)


@settings(max_examples=500, deadline=None)
@given(any_float)
def test_no_float_from_two_to_the_53_below_1e21_is_accepted(number: float) -> None:
    # Stated directly, so that the property above cannot pass by both sides drifting alike.
    refused = math.isnan(number) or math.isinf(number) or TWO_53 <= abs(number) < 1e21
    assert (chain.number_problem(number) is not None) == refused


@settings(max_examples=1000, deadline=None)
@given(any_number)
def test_every_number_within_the_safe_range_is_accepted(number: int | float) -> None:
    # The SDK's snapshot passes such numbers without asking the rule; this keeps that sound.
    if -SAFE <= number <= SAFE:
        assert chain.number_problem(number) is None


# --- accepted => verifies ---------------------------------------------------------------------

_KEY = Ed25519PrivateKey.generate()
_BUILDER = SessionBuilder(_KEY)


def _verify_written(path: Path) -> dict[str, Any]:
    return verify.verify_file(path, trusted_keys=[_KEY.public_key()], workers=1)


def _stored_session(payload: Any) -> list[dict[str, Any]]:
    """A sealed session holding ``payload``, as the service stores it and reads it back.

    The service keeps each payload as its canonical text and parses that text again for the
    seal's verification and for exports; the events here carry the parsed text likewise.
    """
    events = _BUILDER.build(
        ["SESSION_START", "TOOL_CALL", "AGENT_STATE_SNAPSHOT", "SESSION_END"],
        payloads={1: {"tool_name": "t", "args": {"v": payload}}, 2: {"state": payload}},
    )
    for event in events:
        event["payload"] = json.loads(chain.canonicalize(event["payload"]))
    events.append(_BUILDER.seal(events))
    return events


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(json_with_numbers)
@example({"amount": 1e16})
@example([TWO_53 - 1, -0.0, 1e21, 5e-324, LARGEST_SUBNORMAL, 1e300, SAFE, -SAFE])
@example({"edges": EDGE_FLOATS[:12] + EDGE_INTS[:5]})
def test_an_accepted_payload_verifies_after_storage_export_and_reading_back(value: Any) -> None:
    try:
        canonical = chain.canonicalize(value)
    except chain.NonCanonicalValueError as refused:
        # The SDK refuses it too, so it is never sent (it becomes an INVALID_EVENT error).
        with pytest.raises(PayloadError):
            payload_snapshot(value)
        assert refused.path.startswith("$")
        return

    # What the service stores, read back, canonicalizes to the very same bytes.
    assert chain.canonicalize(json.loads(canonical)) == canonical
    # What the SDK sends, parsed by the service, hashes as the agent's value does.
    assert chain.canonicalize(json.loads(payload_snapshot(value))) == canonical

    events = _stored_session(value)
    with tempfile.TemporaryDirectory() as directory:
        export = Path(directory) / "export.json"
        export.write_bytes(export_document(events, seal.public_key_b64(_KEY.public_key())))
        jsonl = Path(directory) / "session.jsonl"
        jsonl.write_bytes(b"".join(chain.canonicalize(event) + b"\n" for event in events))
        for path in (export, jsonl):
            report = _verify_written(path)
            assert report["status"] == "PASS", report["violations"]
        # The export built here is not itself signed, so only the log reaches the top class.
        assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE", report["partial_reasons"]


# --- the regression: {"amount": 1e16} ---------------------------------------------------------


def test_amount_1e16_is_refused_where_it_would_be_stored_unverifiable() -> None:
    payload = {"amount": 1e16}
    with pytest.raises(chain.NonCanonicalValueError) as caught:
        chain.payload_hash(payload)
    assert caught.value.path == "$.amount"
    with pytest.raises(PayloadError, match=r"2\^53"):
        payload_snapshot(payload)


def test_the_client_records_amount_1e16_as_an_invalid_event_and_the_file_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("AGENTOPS_"):
            monkeypatch.delenv(name)
    client = Client(local_dir=tmp_path, flush_interval=60.0, seal=True)
    with client.session("bot", session_id=str(uuid.uuid4())) as session:
        session.record("AGENT_STATE_SNAPSHOT", {"amount": 1e16})
        session.tool_call("refund", {"amount": 9007199254740991.0, "fee": 1e21})
    client.close()

    assert session.path is not None
    with session.path.open(encoding="utf-8") as handle:
        events = [json.loads(line) for line in handle]
    errors = [e["payload"] for e in events if e["event_type"] == "ERROR"]
    assert [e["error_type"] for e in errors] == ["INVALID_EVENT"]
    assert errors[0]["rejected_event_type"] == "AGENT_STATE_SNAPSHOT"
    assert "AGENT_STATE_SNAPSHOT" not in {e["event_type"] for e in events}
    assert client.stats()["invalid"] == 1
    report = verify.verify_file(session.path, workers=1)
    assert report["status"] == "PASS", report["violations"]
