"""Chain rules: RFC 8785 canonicalization (fast path proven against the reference), hashes."""

from __future__ import annotations

import hashlib
import json
import math
import sys
import uuid
from typing import Any

import pytest
import rfc8785
from agentops_sdk import chain
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .conftest import payload_for

SAFE = chain.MAX_SAFE_INTEGER

# Floats of every kind JSON can carry: both zeros, subnormals, the extremes, and values
# around the points where ECMAScript and Python switch to exponent notation.
finite_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            0.0,
            -0.0,
            5e-324,
            -5e-324,
            2.2250738585072014e-308,
            1.7976931348623157e308,
            -1.7976931348623157e308,
            1e-7,
            1e-6,
            9.999999e-5,
            1e-4,
            0.0001234,
            1e15,
            1e16,
            123456789012345.6,
            4503599627370495.5,
            9007199254740993.0,
            1e20,
            1e21,
            1e22,
            0.1,
            2.5,
            -2.0,
            1.0,
        ]
    ),
    st.builds(
        lambda m, e: float(f"{m}e{e}"), st.integers(-999, 999), st.integers(-330, 310)
    ).filter(math.isfinite),
)
safe_ints = st.one_of(
    st.integers(-SAFE, SAFE),
    st.sampled_from([SAFE, -SAFE, SAFE - 1, 0, -1, 2**31, -(2**31), 2**32]),
)
# Text as producers send it: any code point but lone surrogates, with control characters,
# quotes, backslashes and astral characters (whose UTF-16 order differs) well represented.
texts = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from('\x00\x01\x1f\x7f"\\/\t\n\r\b\f aZ\u00e9\u2028\ufffd\uffff')),
    st.text(alphabet=st.sampled_from("a\u00e9\uff61\ue000\U0001f600\U00010000\U0010fffd")),
)
json_values = st.recursive(
    st.none() | st.booleans() | safe_ints | finite_floats | texts,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(texts, children, max_size=6),
    max_leaves=40,
)


def reference(value: Any) -> bytes:
    return rfc8785.dumps(value)


def reads_back_as_itself(value: Any) -> bool:
    """Whether the reference text of ``value``, parsed again, has the same reference text.

    The oracle for the number rule, built from ``rfc8785`` and ``json`` alone: a whole float
    from 2^53 up to 1e21 is written without an exponent and reads back as an integer the
    reference refuses (spec §3: integers beyond ±(2^53-1)).
    """
    text = reference(value)
    try:
        return reference(json.loads(text)) == text
    except rfc8785.IntegerDomainError:
        return False


def assert_reference_or_refused(value: Any) -> None:
    if reads_back_as_itself(value):
        assert chain.canonicalize(value) == reference(value)
    else:
        with pytest.raises(chain.NonCanonicalValueError, match=r"float in \[2\^53, 1e21\)"):
            chain.canonicalize(value)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
@example({"\U0001f600": 1, "\uff61": 2, "a": 3})
@example({"a": [-0.0, 1e21, 1e-7, 0.0001, 1e15, 2.0, 123456789012.5, 9007199254740991.0]})
@example({"a": [0.5, 1e16]})
@example({"ctl": 'tab\tnl\n\x01 quote" back\\ slash/'})
def test_canonicalize_is_byte_identical_to_rfc8785_where_the_text_reads_back(value: Any) -> None:
    assert_reference_or_refused(value)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, finite_floats, st.floats()))
@example(1e16 - 2)
@example(4503599627370495.5)
def test_the_fast_domain_holds_only_accepted_values(value: Any) -> None:
    # The fast path never runs the walk that refuses values, so it must not need to.
    if chain._fast_domain(value):
        assert chain._find_problem(value) is None


@pytest.mark.parametrize("encoder", ["_fast_encode", "_stdlib_encode"])
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
@example(value={"ctl": '\x00\x1f\x7f\u2028 tab\tnl\n quote" back\\ slash/'})
@example(value={"\uffff": 1, "\ue000": 2, "\u00e9": 3, "z": [0.0001, 1234567.5, -SAFE]})
def test_each_fast_encoder_writes_the_reference_bytes_inside_the_fast_domain(
    encoder: str, value: Any
) -> None:
    # orjson (when installed) and the stdlib C encoder each serve the fast domain alone;
    # both must produce exactly what rfc8785 writes there.
    if chain._fast_domain(value):
        assert getattr(chain, encoder)(value) == reference(value)


def test_orjson_serves_the_fast_domain() -> None:
    # The server's requirements install orjson; without it this suite would only ever check
    # the stdlib encoder through ``canonicalize``.
    assert chain._orjson is not None
    assert chain._fast_encode is not chain._stdlib_encode


@pytest.mark.parametrize("depth", [254, 255, 300, chain.MAX_NESTING_DEPTH - 1])
def test_nesting_beyond_orjsons_limit_still_serializes(depth: int) -> None:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    assert chain._fast_domain(value)
    assert chain.canonicalize(value) == b"[" * depth + b"1" + b"]" * depth


@pytest.mark.parametrize("container", [list, dict])
def test_the_fast_domain_ends_at_the_nesting_limit(container: type) -> None:
    def nested(levels: int) -> Any:
        value: Any = 1
        for _ in range(levels - 1):
            value = [value] if container is list else {"k": value}
        return value

    assert chain._fast_domain(nested(chain.MAX_NESTING_DEPTH))
    assert not chain._fast_domain(nested(chain.MAX_NESTING_DEPTH + 1))
    # Empty containers hold nothing below them, at the limit as anywhere.
    assert chain._fast_domain([nested(chain.MAX_NESTING_DEPTH - 1), [], {}])
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    assert not chain._fast_domain(cyclic)


def test_a_caller_deep_in_its_stack_gets_the_reference_path() -> None:
    # The fast-domain walk recurses; where the caller has all but used up the stack, the
    # value is left to the reference path instead of the walk failing.
    value: Any = 2.5
    for _ in range(100):
        value = {"a": [value]}  # 201 levels: within the limit
    assert chain._fast_domain(value)
    frames, frame = 0, sys._getframe()
    while frame is not None:
        frames, frame = frames + 1, frame.f_back

    def at_depth(more: int) -> tuple[bool, bool]:
        if more:
            return at_depth(more - 1)
        return chain._fast_domain(value), chain._fast_domain({"shallow": [0.5, "x"]})

    deep, shallow = at_depth(sys.getrecursionlimit() - frames - 60)
    assert not deep
    assert shallow


def test_a_lone_surrogate_inside_the_fast_domain_is_named_by_path() -> None:
    with pytest.raises(chain.NonCanonicalValueError) as caught:
        chain.canonicalize({"a": [{"b": "ok"}, {"c": "x\ud800y"}]})
    assert caught.value.path == "$.a[1].c"


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        finite_floats,
        st.floats(min_value=1e-5, max_value=1e17),
        st.floats(min_value=-1e17, max_value=-1e-5),
        st.floats(min_value=-1e-3, max_value=1e-3),
    )
)
def test_every_float_matches_rfc8785(number: float) -> None:
    # Floats are where the fast path relies on Python's repr agreeing with ECMAScript.
    assert_reference_or_refused({"n": number, "l": [number, -number]})


@settings(max_examples=1000, deadline=None)
@given(
    st.fixed_dictionaries(
        {name: st.one_of(texts, st.none(), safe_ints) for name in chain.SIGNED_FIELDS}
    )
)
@example(
    {
        "event_id": 'quote"',
        "session_id": "back\\slash",
        "sequence_number": -5,
        "timestamp_wall": "\x00",
        "event_type": "\U0001f600",
        "payload_hash": "",
        "prev_event_hash": None,
    }
)
def test_event_hash_is_sha256_of_the_reference_serialization(fields: dict[str, Any]) -> None:
    expected = hashlib.sha256(reference(fields)).hexdigest()
    assert chain.event_hash({**fields, "payload": {"ignored": True}}) == expected


def signed(**changes: Any) -> dict[str, Any]:
    """The seven signed fields of an ordinary event, with ``changes``."""
    return {
        "event_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "sequence_number": 3,
        "timestamp_wall": "2026-01-25T10:00:00Z",
        "event_type": "TOOL_CALL",
        "payload_hash": "a" * 64,
        "prev_event_hash": "b" * 64,
        **changes,
    }


@pytest.mark.parametrize("field", ["event_id", "session_id", "event_type", "prev_event_hash"])
def test_a_lone_surrogate_in_a_signed_field_is_named(field: str) -> None:
    fields = signed(**{field: "x\udc80y"})
    with pytest.raises(chain.NonCanonicalValueError) as caught:
        chain.event_hash(fields)
    assert caught.value.path == f"$.{field}"


@pytest.mark.parametrize("left_out", chain.SIGNED_FIELDS)
def test_a_signed_field_left_out_is_hashed_as_null(left_out: str) -> None:
    fields = signed()
    del fields[left_out]
    expected = hashlib.sha256(reference({**fields, left_out: None})).hexdigest()
    assert chain.event_hash(fields) == expected


@pytest.mark.parametrize(
    "event_type",
    ["SESSION_START", "MODEL_REQUEST", "MODEL_RESPONSE", "TOOL_CALL", "TOOL_RESULT", "SESSION_END"],
)
def test_typical_payloads_take_the_fast_path_with_reference_bytes(event_type: str) -> None:
    payload = payload_for(event_type, 7)
    assert chain._fast_domain(payload)
    assert chain.canonicalize(payload) == reference(payload)


@pytest.mark.parametrize(
    "value",
    [
        {"x": 2.0},  # integral floats print without ".0"
        {"x": 1e-7},  # ECMAScript exponent form
        {"x": 1e21},
        {"x": -0.0},
        {"\U0001f600": 1, "\uff61": 2},  # astral key: UTF-16 order differs from code points
        {"x": (1, 2)},  # tuples serialize as arrays, via the reference
    ],
)
def test_values_outside_the_fast_domain_go_to_the_reference(value: Any) -> None:
    assert not chain._fast_domain(value)
    assert chain.canonicalize(value) == reference(value)


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (float("nan"), "$"),
        ({"a": [1, {"b": float("inf")}]}, "$.a[1].b"),
        ({"a": float("-inf")}, "$.a"),
        ({"n": 2**53}, "$.n"),
        ({"n": -(2**53)}, "$.n"),
        ({"list": [0, 1, 10**30]}, "$.list[2]"),
        ({"amount": 1e16}, "$.amount"),
        ({"n": [0.5, 2.0**53]}, "$.n[1]"),
        ({"n": -1e20}, "$.n"),
        ({"n": 9.999999999999999e20}, "$.n"),
        ({"s": "ok \ud800 lone"}, "$.s"),
        ({"k\udfff": 1}, "$['k\udfff']"),
        ({"odd key": {1: "x"}}, "$['odd key']"),
        ({"when": object()}, "$.when"),
    ],
)
def test_unrepresentable_values_raise_naming_their_path(value: Any, path: str) -> None:
    with pytest.raises(chain.NonCanonicalValueError) as caught:
        chain.canonicalize(value)
    assert caught.value.path == path
    assert path in str(caught.value)


def test_nothing_is_coerced_at_the_integer_boundary() -> None:
    assert chain.canonicalize([SAFE, -SAFE]) == f"[{SAFE},{-SAFE}]".encode()
    with pytest.raises(chain.NonCanonicalValueError):
        chain.canonicalize([SAFE + 1])


def test_nothing_is_coerced_at_the_float_boundaries() -> None:
    edges = [9007199254740991.0, -9007199254740991.0, 1e21, -1e21, -0.0]
    assert chain.canonicalize(edges) == b"[9007199254740991,-9007199254740991,1e+21,-1e+21,0]"
    for refused in (2.0**53, -(2.0**53), 1e16, math.nextafter(1e21, 0.0)):
        with pytest.raises(chain.NonCanonicalValueError):
            chain.canonicalize([refused])


def test_payload_hash_rejects_what_canonicalize_rejects() -> None:
    with pytest.raises(chain.NonCanonicalValueError):
        chain.payload_hash({"amount": float("nan")})


def test_deeply_nested_and_cyclic_values_raise_instead_of_hanging() -> None:
    deep: Any = "leaf"
    for _ in range(chain.MAX_NESTING_DEPTH + 5):
        deep = [deep]
    with pytest.raises(chain.NonCanonicalValueError, match="nested deeper"):
        chain.canonicalize(deep)
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(chain.NonCanonicalValueError, match="nested deeper"):
        chain.canonicalize(cyclic)


def test_values_just_within_the_depth_limit_serialize() -> None:
    deep: Any = 1.5
    for _ in range(chain.MAX_NESTING_DEPTH - 1):
        deep = [deep]
    assert chain.canonicalize(deep) == reference(deep)


def test_chain_event_links_and_hashes_its_fields() -> None:
    proposal = {
        "event_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "sequence_number": 0,
        "timestamp_wall": "2026-01-25T10:00:00.000001Z",
        "timestamp_monotonic": 0,
        "event_type": "SESSION_START",
        "source_sdk_ver": "agentops-sdk/0.1.0",
        "schema_ver": "v0.6",
        "payload": {"agent_id": "bot"},
        "payload_hash": "0" * 64,  # a supplied hash is ignored
        "event_hash": "f" * 64,
    }
    event = chain.chain_event(
        proposal, prev_event_hash=None, chain_authority="server", authority_id="svc"
    )
    assert list(event) == list(chain.ENVELOPE_FIELDS)
    assert event["payload_hash"] == hashlib.sha256(b'{"agent_id":"bot"}').hexdigest()
    assert event["event_hash"] == hashlib.sha256(reference(chain.signed_fields(event))).hexdigest()
    assert chain.genesis_problem(event) is None


def test_event_hash_ignores_unsigned_fields() -> None:
    event = {name: "x" for name in chain.ENVELOPE_FIELDS} | {"sequence_number": 3}
    changed = dict(event, payload={"other": 1}, authority_id="elsewhere", timestamp_monotonic=9)
    assert chain.event_hash(event) == chain.event_hash(changed)
    assert chain.event_hash(event) != chain.event_hash(dict(event, timestamp_wall="y"))


def test_event_hash_from_parts_matches_event_hash() -> None:
    parts = {
        "event_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "sequence_number": 4,
        "timestamp_wall": "2026-01-25T10:00:00Z",
        "event_type": "TOOL_CALL",
        "payload_hash": "a" * 64,
        "prev_event_hash": "b" * 64,
    }
    assert chain.event_hash_from_parts(**parts) == chain.event_hash(parts)


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"event_type": "TOOL_CALL", "prev_event_hash": None}, "SESSION_START"),
        ({"event_type": "SESSION_START", "prev_event_hash": "a" * 64}, "null"),
    ],
)
def test_genesis_problem_names_the_rule(event: dict[str, Any], problem: str) -> None:
    assert problem in (chain.genesis_problem(event) or "")


@pytest.mark.parametrize(
    ("event_type", "payload", "expected"),
    [
        ("SESSION_START", {}, ["requires agent_id"]),
        ("SESSION_END", {"status": "done", "duration_ms": -1}, ["status must be one of"]),
        ("MODEL_REQUEST", {"model": "m"}, ["requires messages or prompt_hash"]),
        ("TOOL_CALL", {"tool_name": "t", "args_hash": "XYZ"}, ["args_hash must be lowercase hex"]),
        ("TOOL_RESULT", {"tool_name": "t", "status": ["success"]}, ["status must be one of"]),
        (
            "LOG_DROP",
            {"dropped_count": 3, "cumulative_drops": 1, "drop_reason": "SDK_CRASH"},
            ["cumulative_drops must be an integer >= dropped_count"],
        ),
        ("AGENT_STATE_SNAPSHOT", {"anything": [1, 2]}, []),
        ("TOOL_CALL", [], ["payload must be an object"]),
    ],
)
def test_payload_problems_describe_missing_requirements(
    event_type: str, payload: Any, expected: list[str]
) -> None:
    problems = chain.payload_problems(event_type, payload)
    assert len(problems) >= len(expected)
    for wanted, found in zip(expected, problems, strict=False):
        assert found.startswith(wanted)


@given(
    st.sampled_from(sorted(chain.EVENT_TYPES)),
    st.dictionaries(
        st.sampled_from(["status", "tool_name", "annotation_type", "drop_reason", "args", "x"]),
        json_values,
        max_size=5,
    ),
)
def test_payload_problems_never_raise_on_odd_values(event_type: str, payload: Any) -> None:
    assert isinstance(chain.payload_problems(event_type, payload), list)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("6513270e-269e-4d37-b2a7-4de452e6b438", True),
        ("6513270E-269E-4D37-B2A7-4DE452E6B438", True),
        ("6513270e-269e-4d37-b2a7-4de452e6b43", False),
        ("not-a-uuid-at-all-not-a-uuid-at-all-", False),
        (42, False),
    ],
)
def test_is_uuid(value: Any, valid: bool) -> None:
    assert chain.is_uuid(value) is valid
