"""Reading the arrays of a large JSON text one element at a time.

Policy findings store their tool audit and PII findings as JSON documents that grow with the
session (16 MB for 100,000 events, several times that once parsed into Python objects). An
export only copies them, so it reads the stored text and walks its arrays element by element
with the standard decoder: it holds the text, never the whole parsed document. Values are
read for re-serialization with RFC 8785 (see ``_number``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from agentops_sdk import chain


def _number(text: str) -> int | float:
    """A JSON number with a fraction or exponent, as an int when it is a safe integer.

    RFC 8785 writes 342.0 as 342, exactly as it writes the integer, so the canonical bytes
    are the same either way; as an int the value stays on ``chain.canonicalize``'s fast
    path, which leaves integral floats to the much slower reference serializer.
    """
    value = float(text)
    if value.is_integer() and abs(value) <= chain.MAX_SAFE_INTEGER:
        return int(value)
    return value


_DECODER = json.JSONDecoder(parse_float=_number)
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, position: int) -> int:
    return _WHITESPACE.match(text, position).end()


def _expect(text: str, position: int, char: str) -> int:
    if text[position : position + 1] != char:
        raise ValueError(f"expected {char!r} at position {position} of the JSON text")
    return position + 1


class LazyArray:
    """A JSON array read one element at a time; iterating again reads it again.

    ``elements`` produces a fresh iterator over the elements on every call.
    """

    def __init__(self, elements: Callable[[], Iterator[Any]]) -> None:
        self._elements = elements

    def __iter__(self) -> Iterator[Any]:
        return self._elements()


def decode(text: str) -> Any:
    """``json.loads`` with numbers read as ``_number`` reads them."""
    return _DECODER.decode(text)


def _text_elements(text: str, start: int) -> Iterator[tuple[Any, int]]:
    """(element, position after it) for each element of the array at ``start``."""
    position = _skip(text, _expect(text, start, "["))
    if text[position : position + 1] == "]":
        return
    while True:
        value, position = _DECODER.raw_decode(text, position)
        yield value, position
        position = _skip(text, position)
        if text[position : position + 1] == "]":
            return
        position = _skip(text, _expect(text, position, ","))


def _text_array(text: str, start: int) -> tuple[LazyArray, int]:
    """The array at ``start`` and the position after its closing bracket (found by walking
    its elements once)."""
    position = _skip(text, start + 1)
    for _, after in _text_elements(text, start):
        position = after
    end = _expect(text, _skip(text, position), "]")
    return LazyArray(lambda: (value for value, _ in _text_elements(text, start))), end


def lazy_document(text: str) -> Any:
    """The JSON value of ``text``, with a top-level array, or each array directly inside a
    top-level object, left as a ``LazyArray``; everything else is parsed as usual."""
    position = _skip(text, 0)
    if text[position : position + 1] == "[":
        return _text_array(text, position)[0]
    if text[position : position + 1] != "{":
        return _DECODER.decode(text)
    members: dict[str, Any] = {}
    position = _skip(text, position + 1)
    if text[position : position + 1] == "}":
        return members
    while True:
        key, position = _DECODER.raw_decode(text, position)
        position = _skip(text, _expect(text, _skip(text, position), ":"))
        if text[position : position + 1] == "[":
            members[key], position = _text_array(text, position)
        else:
            members[key], position = _DECODER.raw_decode(text, position)
        position = _skip(text, position)
        if text[position : position + 1] == "}":
            return members
        position = _skip(text, _expect(text, position, ","))
