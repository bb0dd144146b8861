"""Reading evidence: JSON Lines event logs and JSON documents, one way wherever it is read.

``agentops-verify``, the verification endpoint of the ingestion service and the service's
request parser read JSON here, so that one file gives one reading everywhere. The rules:

- UTF-8 only, strictly (no encoded surrogates). A byte order mark is refused: producers of
  JSON and JSON Lines must not write one (RFC 8259 §8.1), and the SDK and the service never do.
- A JSON Lines log is split at LF; a CR right before the LF is part of the line end (CRLF).
  Any other CR is refused: it is not a line end here, and files that use it as one would
  otherwise be read as one long line by some tools and as many lines by others.
- Lines holding only spaces and tabs are skipped; every other line is one JSON object.
- An object that repeats a key is refused: two parsers could read two different events from
  it. ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON and are refused, except where the
  caller asks for them (the service's request parser, whose canonical-value check then names
  their exact path).
- A line (without its line end) or a document longer than the caller's limit is refused.

Every refusal is a ``LogFormatError`` with a stable ``reason`` (the constants below) and, for
JSON Lines, the ``line`` it was found on. Compact JSON, as the SDK and the exports write it,
is read by ``fastjson.loads_exact``, which proves the text held no duplicate key and gives
exactly what the standard library reads; anything else takes the standard library's path,
which explains what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from . import chain, fastjson

#: The default limit of one JSON Lines line, line end excluded, in bytes. Far above any event
#: the service accepts (payloads are limited to 256 KiB by default), low enough that a file
#: that is not JSON Lines cannot make a reader hold gigabytes at once.
MAX_LINE_BYTES = 64 * 1024 * 1024

# Why a text is refused: stable values of ``LogFormatError.reason``.
BYTE_ORDER_MARK = "byte_order_mark"
DUPLICATE_KEY = "duplicate_key"
INVALID_JSON = "invalid_json"
INVALID_NUMBER = "invalid_number"
INVALID_UTF8 = "invalid_utf8"
LONE_CR = "lone_cr"
NESTED_TOO_DEEPLY = "nested_too_deeply"
NON_FINITE_NUMBER = "non_finite_number"
NOT_AN_OBJECT = "not_an_object"
TOO_LARGE = "too_large"
TRAILING_DATA = "trailing_data"
EMPTY_DOCUMENT = "empty_document"
#: Not a reading problem: well-formed JSON that is not an event log or a compliance export.
NOT_A_LOG = "not_a_log"

#: The reasons that mean the text is not valid JSON (or not JSON Lines) as these rules read it.
SYNTAX_REASONS = frozenset(
    {
        BYTE_ORDER_MARK,
        DUPLICATE_KEY,
        INVALID_JSON,
        INVALID_NUMBER,
        INVALID_UTF8,
        LONE_CR,
        NESTED_TOO_DEEPLY,
        NON_FINITE_NUMBER,
        NOT_AN_OBJECT,
        TRAILING_DATA,
        EMPTY_DOCUMENT,
    }
)

_BOM = b"\xef\xbb\xbf"
_WHITESPACE = " \t\r\n"  # JSON's whitespace (RFC 8259 §2)
_JSON_BLANK = b" \t\r\n"


class LogFormatError(ValueError):
    """The input is neither a JSONL event log nor a compliance export (or is damaged).

    ``reason`` is one of this module's reason constants; ``line`` the JSON Lines line the
    problem is on, or None for a whole document.
    """

    def __init__(self, message: str, *, reason: str = NOT_A_LOG, line: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.line = line


class _DuplicateKey(ValueError):
    pass


class _NonFinite(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"duplicate key {chain.shown(key)}")
            seen.add(key)
    return obj


def _refuse_constant(name: str) -> Any:
    raise _NonFinite(f"{name} is not a JSON value")


_STRICT = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
# NaN and the infinities read as floats; RFC 8785 refuses them later, naming their path.
_LENIENT = json.JSONDecoder(object_pairs_hook=_unique_keys)


def _decode(
    text: str, start: int, where: str, line: int | None, decoder: json.JSONDecoder
) -> tuple[Any, int]:
    """``decoder.raw_decode`` from ``start``, its errors as ``LogFormatError``."""
    try:
        return decoder.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno}, column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        problem = f"{where} is not valid JSON ({exc.msg} at {at})"
        raise LogFormatError(problem, reason=INVALID_JSON, line=line) from None
    except _DuplicateKey as exc:
        raise LogFormatError(f"{where}: {exc}", reason=DUPLICATE_KEY, line=line) from None
    except _NonFinite as exc:
        raise LogFormatError(f"{where}: {exc}", reason=NON_FINITE_NUMBER, line=line) from None
    except ValueError as exc:  # what is left: int() refusing more than 4300 digits
        raise LogFormatError(f"{where}: {exc}", reason=INVALID_NUMBER, line=line) from None
    except RecursionError:
        raise LogFormatError(
            f"{where} is nested too deeply", reason=NESTED_TOO_DEEPLY, line=line
        ) from None


def _text(data: bytes, where: str, line: int | None) -> str:
    """``data`` as strict UTF-8 text without a byte order mark."""
    if data[:3] == _BOM:
        raise LogFormatError(
            f"{where} starts with a byte order mark (U+FEFF); evidence is UTF-8 without one",
            reason=BYTE_ORDER_MARK,
            line=line,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if line is None:
            near = data.count(b"\n", 0, exc.start) + 1
            message = f"{where} is not UTF-8 text (near line {near})"
        else:
            message = f"{where} is not UTF-8 text"
        raise LogFormatError(message, reason=INVALID_UTF8, line=line) from None


def _too_large(where: str, size: int | None, limit: int, line: int | None) -> LogFormatError:
    """``size`` None: longer than ``limit``, by how much is not read."""
    length = f"is {size} bytes long" if size is not None else f"is longer than {limit} bytes"
    return LogFormatError(f"{where} {length}; the limit is {limit}", reason=TOO_LARGE, line=line)


# --------------------------------------------------------------------------------------
# One JSON document
# --------------------------------------------------------------------------------------


def loads(
    data: bytes | str,
    *,
    max_bytes: int | None = None,
    allow_non_finite: bool = False,
    where: str = "the document",
) -> Any:
    """The value of one JSON document; ``LogFormatError`` says why it cannot be read.

    ``allow_non_finite`` reads ``NaN`` and the infinities as floats, for a caller whose own
    check refuses them with more precision.
    """
    if type(data) is not bytes:
        data = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if max_bytes is not None and len(data) > max_bytes:
        raise _too_large(where, len(data), max_bytes, None)
    value = fastjson.loads_exact(data)
    if value is not fastjson.UNPROVEN:
        return value
    text = _text(data, where, None)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    if start == len(text):
        raise LogFormatError(f"{where} is empty", reason=EMPTY_DOCUMENT)
    value, end = _decode(text, start, where, None, _LENIENT if allow_non_finite else _STRICT)
    if text[end:].strip(_WHITESPACE):
        raise LogFormatError(f"{where} holds more than one JSON value", reason=TRAILING_DATA)
    return value


def load_file(path: str | Path, *, max_bytes: int | None = None) -> Any:
    """The value of the JSON document in the file ``path``."""
    with open(path, "rb") as handle:
        data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    return loads(data, max_bytes=max_bytes, where="the file")


# --------------------------------------------------------------------------------------
# JSON Lines
# --------------------------------------------------------------------------------------


def _content(line: bytes, number: int) -> bytes:
    """The line without its line end (LF or CRLF); a CR anywhere else is refused."""
    if line[-1:] == b"\n":
        line = line[:-2] if line[-2:-1] == b"\r" else line[:-1]
    if b"\r" in line:
        raise LogFormatError(
            f"line {number} holds a carriage return that does not end the line; "
            "lines end with LF or CRLF",
            reason=LONE_CR,
            line=number,
        )
    return line


def check_line_size(line: bytes, number: int, limit: int) -> None:
    """Refuse ``line`` if its content, without the line end, is longer than ``limit``."""
    size = len(line)
    if line[-1:] == b"\n":
        size -= 2 if line[-2:-1] == b"\r" else 1
    if size > limit:
        raise _too_large(f"line {number}", size, limit, number)


def is_blank(line: bytes, number: int) -> bool:
    """A line with nothing but spaces and tabs before its line end; a lone CR is refused."""
    if line.strip(_JSON_BLANK):
        return False
    _content(line, number)
    return True


def parse_line(line: bytes | str, number: int) -> dict[str, Any]:
    """One JSON Lines line (its line end included or not) as an object.

    ``LogFormatError`` says what is wrong with it; a blank line is not an object either.
    """
    if type(line) is not bytes:
        line = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else bytes(line)
    where = f"line {number}"
    text = _text(_content(line, number), where, number)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    if text[start : start + 1] != "{":
        raise LogFormatError(f"{where} is not a JSON object", reason=NOT_AN_OBJECT, line=number)
    event, end = _decode(text, start, where, number, _STRICT)
    if text[end:].strip(_WHITESPACE):
        raise LogFormatError(
            f"{where} holds more than one JSON value", reason=TRAILING_DATA, line=number
        )
    return event


def iter_lines(
    lines: Iterable[bytes | str], first_line: int = 1, *, max_line_bytes: int | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the objects of JSON Lines given line by line (line ends kept or not).

    Blank lines are skipped. An ordinary line, compact JSON of an object as the SDK and the
    exports write it, takes ``fastjson.loads_exact``; any other, ``parse_line``.
    """
    limit = MAX_LINE_BYTES if max_line_bytes is None else max_line_bytes
    exact = fastjson.loads_exact
    unproven = fastjson.UNPROVEN
    for number, line in enumerate(lines, start=first_line):
        if type(line) is not bytes:
            line = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else bytes(line)
        if len(line) > limit:
            check_line_size(line, number, limit)
        if line[:1] == b"{":
            event = exact(line[:-1] if line[-1:] == b"\n" else line)
            if event is not unproven:
                yield event
                continue
        elif is_blank(line, number):
            continue
        yield parse_line(line, number)


def bounded_lines(handle: Any, limit: int | None = None, first_line: int = 1) -> Iterator[bytes]:
    """The lines of a binary stream, none read beyond ``limit`` bytes (plus its line end)."""
    bound = (MAX_LINE_BYTES if limit is None else limit) + 2
    readline = handle.readline
    number = first_line
    while True:
        line = readline(bound)
        if not line:
            return
        if len(line) == bound and line[-1:] != b"\n":
            raise _too_large(f"line {number}", None, bound - 2, number)
        yield line
        number += 1


def iter_file(path: str | Path, *, max_line_bytes: int | None = None) -> Iterator[dict[str, Any]]:
    """Yield the objects of a JSON Lines file one at a time, holding one line in memory."""
    limit = MAX_LINE_BYTES if max_line_bytes is None else max_line_bytes
    with open(path, "rb") as handle:
        yield from iter_lines(bounded_lines(handle, limit), max_line_bytes=limit)
