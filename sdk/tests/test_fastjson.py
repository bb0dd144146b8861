"""``fastjson.loads_exact``: orjson's reading is used only where it is the standard library's."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from agentops_sdk import fastjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .conftest import payload_for
from .test_chain import json_values

# Beyond the chain's own domain: big and negative-zero numbers, integral floats.
numbers = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, -2.0, 1e16, 1e21, 1e-7, 2**63, -(2**63), 2**64]),
)
values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equal, with equal types all the way down (1 is not 1.0, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return math.copysign(1.0, a) == math.copysign(1.0, b) and a == b
    return a == b


def spellings(value: Any) -> list[str]:
    """The same value written several ways: compact or not, escaped or raw."""
    return [
        json.dumps(value, ensure_ascii=False, separators=(",", ":")),
        json.dumps(value, ensure_ascii=True, separators=(",", ":")),
        json.dumps(value),
        json.dumps(value, ensure_ascii=False, indent=1),
    ]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(values, json_values))
@example({"a": [1.0, -0.0, 0.1, 1e16, 1e-7, 2**53, 2**64, "\x7f\u2028\U0001f600"]})
def test_a_proven_reading_is_exactly_the_standard_librarys(value: Any) -> None:
    for text in spellings(value):
        for data in (text, text.encode("utf-8")):
            fast = fastjson.loads_exact(data)
            if fast is not fastjson.UNPROVEN:
                assert same(fast, json.loads(text)), text


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.text(), values, min_size=1, max_size=5),
    st.data(),
)
def test_a_repeated_key_is_never_proven(obj: dict[str, Any], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(obj)))
    other = data.draw(values)
    compact = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    member = json.dumps({key: other}, ensure_ascii=False, separators=(",", ":"))[1:-1]
    # The key again, with the same or another value, first or last; nested one level too.
    for text in (
        "{" + member + "," + compact[1:],
        compact[:-1] + "," + member + "}",
        '{"outer":' + compact[:-1] + "," + member + "}}",
    ):
        assert fastjson.loads_exact(text) is fastjson.UNPROVEN, text
        assert fastjson.loads_exact(text.encode("utf-8")) is fastjson.UNPROVEN


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"a":1}',  # the very same member twice
        '{"a":NaN}',
        '{"a":Infinity}',
        '{"a":1e2}',  # read as 100.0, written back as 100.0
        '{"a":-0}',
        '{"a":1.50}',
        '{"a":"\\u00e9"}',  # an escape the writer would not use
        '{"a":"\\/"}',
        '{"a":"\\ud800"}',  # a lone surrogate
        '{"a":123456789012345678901234567890}',  # beyond 64 bits
        '{"a": 1}',
        '{"a":1}\n',
        '\ufeff{"a":1}',
        "[" * 300 + "]" * 300,  # deeper than orjson writes
    ],
)
def test_texts_the_standard_library_must_read(text: str) -> None:
    assert fastjson.loads_exact(text) is fastjson.UNPROVEN


def test_invalid_utf8_is_left_to_the_standard_library() -> None:
    assert fastjson.loads_exact(b'{"a":"\xff"}') is fastjson.UNPROVEN


@pytest.mark.parametrize(
    "event_type",
    ["SESSION_START", "MODEL_REQUEST", "MODEL_RESPONSE", "TOOL_CALL", "TOOL_RESULT", "SESSION_END"],
)
def test_what_the_sdk_writes_takes_the_fast_path(event_type: str) -> None:
    event = {"event_type": event_type, "sequence_number": 3, "payload": payload_for(event_type, 3)}
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    assert fastjson.AVAILABLE
    assert same(fastjson.loads_exact(text), event)
