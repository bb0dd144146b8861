"""Event and session ids: UUID version 7 (RFC 9562), ordered by the time they were made."""

from __future__ import annotations

import time
import uuid

from agentops_sdk import chain, events
from hypothesis import given
from hypothesis import strategies as st

millis = st.integers(min_value=0, max_value=2**48 - 1)
randoms = st.integers(min_value=0, max_value=2**74 - 1)


def test_the_example_of_rfc_9562_is_reproduced() -> None:
    # RFC 9562, Appendix A.6: unix_ts_ms 0x017F22E279B0, rand_a 0xCC3, rand_b 0x18C4DC0C0C07398F.
    bits = 0xCC3 << 62 | 0x18C4DC0C0C07398F
    assert events.time_ordered_id(0x017F22E279B0, bits) == "017f22e2-79b0-7cc3-98c4-dc0c0c07398f"


@given(millis, randoms)
def test_an_id_keeps_its_time_and_its_random_bits(unix_ms: int, bits: int) -> None:
    text = events.time_ordered_id(unix_ms, bits)
    parsed = uuid.UUID(text)
    assert chain.is_canonical_uuid(text)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == unix_ms
    assert (parsed.int >> 64) & 0xFFF == bits >> 62
    assert parsed.int & (2**62 - 1) == bits & (2**62 - 1)
    assert str(uuid.UUID(int=parsed.int)) == text


@given(millis, randoms)
def test_a_derived_id_is_version_8_in_the_same_layout(unix_ms: int, bits: int) -> None:
    text = events.time_ordered_id(unix_ms, bits, version=8)
    parsed = uuid.UUID(text)
    assert (parsed.version, parsed.variant) == (8, uuid.RFC_4122)
    assert parsed.int ^ uuid.UUID(events.time_ordered_id(unix_ms, bits)).int == 0xF << 76


@given(millis, millis, randoms, randoms)
def test_ids_of_later_milliseconds_sort_later_as_text(a: int, b: int, x: int, y: int) -> None:
    if a < b:
        assert events.time_ordered_id(a, x) < events.time_ordered_id(b, y)


def test_new_ids_carry_the_current_time_and_differ() -> None:
    before = time.time_ns() // 1_000_000
    made = [events.new_id() for _ in range(10_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(made)) == len(made)
    for text in made[:: len(made) // 10]:
        assert before <= uuid.UUID(text).int >> 80 <= after
        assert uuid.UUID(text).version == 7
    assert made == sorted(made, key=lambda text: uuid.UUID(text).int >> 80)
