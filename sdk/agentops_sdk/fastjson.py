"""Reading compact JSON with orjson, only when the result is provably the standard library's.

Evidence must be read one way only: a JSON object with a duplicate key is refused, because
two parsers could read two different events from it. The standard library can refuse them
only through a Python hook called for every object, which costs more than the parse itself.

``loads_exact`` parses with orjson (the ``fast`` extra) and then writes the value back with
orjson: when that gives back the very bytes it read, the text held no duplicate key (each
object written back has one member per distinct key, so a text that repeated one would be
longer), no whitespace, no escape the writer would not use and no number in another spelling
than the shortest one that reads back as the same value; the value is then exactly what
``json.loads`` reads from it. Anything else, including every text orjson refuses (NaN,
integers beyond 64 bits, lone surrogates, invalid UTF-8, nesting past its limits), returns
``UNPROVEN`` and is left to the caller's standard-library path, whose answer and messages do
not change. Compact JSON is what the SDK writes and sends, so the usual event takes this path.
"""

from __future__ import annotations

from typing import Any

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the server and the test suite install it
    # The name keeps orjson's own types where it is installed; None says it is not.
    _orjson = None  # type: ignore[assignment]

#: Returned by ``loads_exact`` when the text must be read by the standard library instead.
UNPROVEN: Any = object()

AVAILABLE = _orjson is not None

if _orjson is not None:
    _loads = _orjson.loads
    _dumps = _orjson.dumps
    _ERRORS = (_orjson.JSONDecodeError, _orjson.JSONEncodeError)

    def loads_exact(data: bytes | str) -> Any:
        """The value of ``data`` (compact JSON, bytes or text), or ``UNPROVEN``."""
        try:
            value = _loads(data)
            again = _dumps(value)
        except _ERRORS:
            return UNPROVEN
        if type(data) is str:
            try:
                data = data.encode("utf-8")
            except UnicodeEncodeError:  # pragma: no cover - orjson refuses such text first
                return UNPROVEN
        return value if again == data else UNPROVEN

else:  # pragma: no cover - the server and the test suite install orjson

    def loads_exact(data: bytes | str) -> Any:
        return UNPROVEN
