"""The streamed RFC 8785 writer and the lazy JSON reader agree with the reference."""

from __future__ import annotations

import json

import rfc8785
from agentops_sdk import chain
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.canonical import (
    Canonical,
    canonical_array,
    canonical_write,
    envelope_canonical,
)
from compliance.lazyjson import LazyArray, lazy_document

# JSON values RFC 8785 can represent: safe integers, the floats the chain accepts, any text
# (keys included, astral characters too, which sort differently in UTF-16 than in code points).
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda number: chain.number_problem(number) is None
    )
    | _text
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


def _written(value) -> bytes:
    parts: list[bytes] = []
    canonical_write(value, parts.append)
    return b"".join(parts)


def _streamed(value):
    """``value`` with its arrays (inside objects) turned into streams of canonical items."""
    if isinstance(value, dict):
        return {key: _streamed(child) for key, child in value.items()}
    if isinstance(value, list):
        return canonical_array(chain.canonicalize(item) for item in value)
    return value


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_text, json_values, max_size=6))
def test_streamed_document_is_the_reference_serialization(document):
    assert _written(_streamed(document)) == rfc8785.dumps(document)


def test_keys_are_ordered_by_utf16_code_units():
    # U+FFFF sorts after U+1F600 in code points but before it in UTF-16 code units.
    document = {"\U0001f600": 1, "\uffff": Canonical([b"[", b"2", b"]"]), "a": 3}
    assert _written(document) == rfc8785.dumps({"\U0001f600": 1, "\uffff": [2], "a": 3})


def test_a_document_without_streams_is_canonicalized_whole():
    assert _written({"b": [1.0, "x"], "a": None}) == b'{"a":null,"b":[1,"x"]}'


def _envelope(payload):
    return {
        "event_id": "0b0e9f1c-4d55-4e4e-9a0c-3c1f8f2d6a10",
        "session_id": "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
        "sequence_number": 3,
        "timestamp_wall": "2026-01-25T10:00:00.000001Z",
        "timestamp_monotonic": 3,
        "event_type": "TOOL_CALL",
        "source_sdk_ver": "agentops-sdk/0.1.0",
        "schema_ver": "v0.6",
        "payload": payload,
        "payload_hash": chain.payload_hash(payload),
        "prev_event_hash": "a" * 64,
        "event_hash": "b" * 64,
        "chain_authority": "server",
        "authority_id": 'svc "quoted",\\"payload_hash":',
    }


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_text, json_values, max_size=5))
def test_envelope_with_its_stored_payload_text_is_the_canonical_envelope(payload):
    envelope = _envelope(payload)
    stored = chain.canonicalize(payload).decode("utf-8")
    assert envelope_canonical(envelope, stored) == rfc8785.dumps(envelope)


def test_a_stored_text_that_does_not_match_its_hash_is_not_reused():
    envelope = _envelope({"tool_name": "lookup", "n": 1})
    not_canonical = '{"n": 1, "tool_name": "lookup"}'  # a different text, a different hash
    assert envelope_canonical(envelope, not_canonical) == rfc8785.dumps(envelope)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_lazy_document_reads_what_json_reads(value):
    for text in (json.dumps(value), json.dumps(value, indent=2), json.dumps({"k": value})):
        assert _materialized(lazy_document(text)) == json.loads(text)


def _materialized(value):
    if isinstance(value, LazyArray):
        return [_materialized(item) for item in value]
    if isinstance(value, dict):
        return {key: _materialized(child) for key, child in value.items()}
    return value


def test_lazy_arrays_of_an_object_are_walked_lazily_and_can_be_repeated():
    document = lazy_document('{"calls": [{"a": 1}, {"b": [2, 3]}], "totals": [], "n": 7}')
    assert isinstance(document["calls"], LazyArray)
    assert list(document["calls"]) == list(document["calls"]) == [{"a": 1}, {"b": [2, 3]}]
    assert list(document["totals"]) == []
    assert document["n"] == 7


def test_integral_numbers_are_read_as_the_integers_they_serialize_to():
    [value] = list(lazy_document("[[342.0, -0.0, 1.5, 1e300]]"))
    assert value == [342, 0, 1.5, 1e300]
    assert [type(v) for v in value] == [int, int, float, float]
    assert chain.canonicalize(value) == rfc8785.dumps([342.0, -0.0, 1.5, 1e300])
