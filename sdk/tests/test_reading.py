"""Reading evidence (``agentops_sdk.reading``): one rule for each oddity, with a stable reason."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk import reading
from agentops_sdk.reading import LogFormatError
from hypothesis import given, settings
from hypothesis import strategies as st

CORPUS = Path(__file__).resolve().parent / "corpus"


def refusal(call, *args: Any, **kwargs: Any) -> tuple[str, int | None]:
    with pytest.raises(LogFormatError) as refused:
        result = call(*args, **kwargs)
        if not isinstance(result, dict | list):
            list(result)
    return refused.value.reason, refused.value.line


def lines(data: bytes, **options: Any) -> list[dict[str, Any]]:
    return list(reading.iter_lines(io.BytesIO(data), **options))


@pytest.mark.parametrize(
    ("data", "reason", "line"),
    [
        (b'\xef\xbb\xbf{"a":1}\n', reading.BYTE_ORDER_MARK, 1),
        (b'{"a":1}\n\xef\xbb\xbf{"a":1}\n', reading.BYTE_ORDER_MARK, 2),
        (b'{"a":1}\r{"a":2}\r', reading.LONE_CR, 1),
        (b'{"a":1}\n \r \n', reading.LONE_CR, 2),
        (b'{"a":\r1}\n', reading.LONE_CR, 1),
        (b'{"a":1}\r', reading.LONE_CR, 1),
        (b'{"a":NaN}\n', reading.NON_FINITE_NUMBER, 1),
        (b'{"a":[Infinity]}\n', reading.NON_FINITE_NUMBER, 1),
        (b'{"a":-Infinity}\n', reading.NON_FINITE_NUMBER, 1),
        (b'{"a":1,"a":1}\n', reading.DUPLICATE_KEY, 1),
        (b'{"a":{"b":1,"b":2}}\n', reading.DUPLICATE_KEY, 1),
        (b'{"a":"\xff"}\n', reading.INVALID_UTF8, 1),
        (b'{"a":"\xed\xa0\x80"}\n', reading.INVALID_UTF8, 1),
        (b"\n\n{oops\n", reading.INVALID_JSON, 3),
        (b'{"a":1} x\n', reading.TRAILING_DATA, 1),
        (b'{"a":1}{"b":2}\n', reading.TRAILING_DATA, 1),
        (b"[1, 2]\n", reading.NOT_AN_OBJECT, 1),
        (b'"text"\n', reading.NOT_AN_OBJECT, 1),
        (b'{"n":' + b"1" * 5000 + b"}\n", reading.INVALID_NUMBER, 1),
        (b'{"a":' + b"[" * 100_000 + b"\n", reading.NESTED_TOO_DEEPLY, 1),
    ],
)
def test_each_oddity_of_json_lines_has_its_reason_and_line(
    data: bytes, reason: str, line: int
) -> None:
    assert refusal(lines, data) == (reason, line)


def test_lf_crlf_and_blank_lines_are_read() -> None:
    expected = [{"a": 1}, {"b": [1, 2]}, {"c": "x"}]
    for data in (
        b'{"a":1}\n{"b":[1,2]}\n{"c":"x"}',
        b'{"a":1}\r\n{"b": [1, 2]}\r\n\r\n{"c":"x"}\r\n',
        b'\n \t\n{"a":1}\n\n  {"b":[1,2]}  \n{"c":"x"}\n\n',
    ):
        assert lines(data) == expected
    assert lines(b"") == []
    assert lines(b"\n \n\t\r\n") == []


def test_a_line_over_the_limit_is_refused_without_reading_all_of_it(tmp_path: Path) -> None:
    line = b'{"a":"' + b"x" * 94 + b'"}'  # 102 bytes
    assert lines(line + b"\r\n", max_line_bytes=102) == [{"a": "x" * 94}]
    assert refusal(lines, b"{}\n" + line + b"\n", max_line_bytes=101) == (reading.TOO_LARGE, 2)
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"{}\n" + line * 1000 + b"\n")
    assert refusal(reading.iter_file, path, max_line_bytes=101) == (reading.TOO_LARGE, 2)
    handle = io.BytesIO(b"{}\n" + line * 1000)
    with pytest.raises(LogFormatError):
        list(reading.bounded_lines(handle, 101))
    assert handle.tell() < 300  # read to the limit, no further


def test_a_document_follows_the_same_rules() -> None:
    assert reading.loads(b' {"a": [1, 2.5]}\r\n') == {"a": [1, 2.5]}
    for data, reason in [
        (b'\xef\xbb\xbf{"a":1}', reading.BYTE_ORDER_MARK),
        (b'{"a":1,"a":2}', reading.DUPLICATE_KEY),
        (b'{"a":NaN}', reading.NON_FINITE_NUMBER),
        (b'{"a":"\xff"}', reading.INVALID_UTF8),
        (b'{"a":1} {"b":2}', reading.TRAILING_DATA),
        (b" \n", reading.EMPTY_DOCUMENT),
        (b"{oops", reading.INVALID_JSON),
    ]:
        assert refusal(reading.loads, data) == (reason, None)
    assert refusal(reading.loads, b"{}", max_bytes=1) == (reading.TOO_LARGE, None)


def test_non_finite_numbers_are_read_only_when_asked_for() -> None:
    value = reading.loads(b'{"a": NaN, "b": -Infinity}', allow_non_finite=True)
    assert value["b"] == float("-inf") and value["a"] != value["a"]
    assert refusal(reading.loads, b'{"a":1,"a":2}', allow_non_finite=True)[0] == (
        reading.DUPLICATE_KEY
    )


def test_every_refusal_reason_is_a_syntax_reason_or_not_a_log() -> None:
    reasons = {
        value
        for name, value in vars(reading).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }
    assert reasons - reading.SYNTAX_REASONS == {reading.TOO_LARGE, reading.NOT_A_LOG}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=4), json_values, max_size=4), max_size=4))
def test_the_fast_path_reads_what_the_standard_library_reads(events: list[dict]) -> None:
    """Compact lines take ``fastjson``, spaced ones ``parse_line``: one reading either way."""
    compact = b"".join(
        json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
        + b"\n"
        for e in events
    )
    spaced = b"".join(json.dumps(e).encode() + b"\r\n" for e in events)
    expected = [json.loads(line) for line in spaced.splitlines()]
    assert lines(spaced) == expected
    try:
        compact.decode("utf-8")
    except UnicodeDecodeError:  # a lone surrogate: not UTF-8, refused either way
        assert refusal(lines, compact)[0] == reading.INVALID_UTF8
    else:
        assert lines(compact) == expected


@pytest.mark.parametrize("path", sorted(CORPUS.iterdir()), ids=lambda path: path.name)
def test_the_corpus_reads_alike_from_a_file_and_from_memory(path: Path) -> None:
    """The same file through ``iter_file`` and through ``iter_lines`` over its bytes."""

    def outcome(read):
        try:
            return list(read())
        except LogFormatError as exc:
            return (exc.reason, exc.line)

    assert outcome(lambda: reading.iter_file(path, max_line_bytes=16 * 1024)) == outcome(
        lambda: reading.iter_lines(io.BytesIO(path.read_bytes()), max_line_bytes=16 * 1024)
    )
