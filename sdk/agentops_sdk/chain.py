"""The event-log rules of EVENT_LOG_SPEC v0.6: canonical JSON, hashes, envelopes.

This module is the one place where the chain is defined. The SDK, the verifier and the
ingestion service all import it; nothing else may hash events.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import rfc8785

from .jsonpath import child_path as _child_path

try:  # optional accelerator (the ``fast`` extra); the stdlib C encoder serves without it
    import orjson as _orjson
except ImportError:  # pragma: no cover - the server and the test suite install it
    _orjson = None  # type: ignore[assignment]

SPEC_VERSION = "v0.6"
ACCEPTED_SCHEMA_VERSIONS = frozenset({"v0.6", "v0.5"})

#: The producer's event types (spec §3), in the order a report lists them: a session's start,
#: the agent's work, then drops and the end.
PRODUCER_EVENT_ORDER = (
    "SESSION_START",
    "MODEL_REQUEST",
    "MODEL_RESPONSE",
    "TOOL_CALL",
    "TOOL_RESULT",
    "AGENT_STATE_SNAPSHOT",
    "DECISION_TRACE",
    "ERROR",
    "ANNOTATION",
    "LOG_DROP",
    "SESSION_END",
)
PRODUCER_EVENT_TYPES = frozenset(PRODUCER_EVENT_ORDER)
SEAL_EVENT_TYPE = "CHAIN_SEAL"
EVENT_TYPES = PRODUCER_EVENT_TYPES | {SEAL_EVENT_TYPE}

#: Every field of a stored or exported event, in the order exports write them.
ENVELOPE_FIELDS = (
    "event_id",
    "session_id",
    "sequence_number",
    "timestamp_wall",
    "timestamp_monotonic",
    "event_type",
    "source_sdk_ver",
    "schema_ver",
    "payload",
    "payload_hash",
    "prev_event_hash",
    "event_hash",
    "chain_authority",
    "authority_id",
)
#: The fields covered by ``event_hash`` (spec §3). Nothing else is signed.
SIGNED_FIELDS = (
    "event_id",
    "session_id",
    "sequence_number",
    "timestamp_wall",
    "event_type",
    "payload_hash",
    "prev_event_hash",
)
#: What a producer proposes to a server-authority service (spec §5).
PRODUCER_FIELDS = (
    "event_id",
    "session_id",
    "sequence_number",
    "timestamp_wall",
    "timestamp_monotonic",
    "event_type",
    "source_sdk_ver",
    "schema_ver",
    "payload",
    "payload_hash",
)
#: Fields a producer may send but the service recomputes or overrides.
SERVER_OWNED_FIELDS = ("prev_event_hash", "event_hash", "chain_authority", "authority_id")

AUTHORITY_SERVER = "server"
AUTHORITY_SDK = "sdk"
AUTHORITIES = frozenset({AUTHORITY_SERVER, AUTHORITY_SDK})

MAX_SAFE_INTEGER = 2**53 - 1
#: Deeper values are rejected: the reference serializer recurses once per level and would
#: otherwise fail with RecursionError somewhere below Python's recursion limit.
MAX_NESTING_DEPTH = 500

SESSION_END_STATUSES = frozenset({"success", "failure", "timeout", "cancelled"})
TOOL_RESULT_STATUSES = frozenset({"success", "error"})
ANNOTATION_TYPES = frozenset({"flag", "comment", "rating"})
DROP_REASONS = frozenset({"BUFFER_FULL", "NETWORK_LOSS", "SDK_CRASH"})
MAX_ERROR_MESSAGE_CHARS = 500

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX = re.compile(r"[0-9a-f]+\Z")
#: A UUID in its canonical spelling: lowercase hex in 8-4-4-4-12 groups. Public for the
#: per-event paths that match it inline (``is_canonical_uuid`` is the same test).
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
#: RFC 3339 in UTC with a literal Z and an optional fraction, in ASCII digits (RFC 3339's
#: DIGIT: other scripts' digits are not a timestamp). Group 1 is the date and the time to the
#: second, group 2 the fraction's digits. The producer's bytes are kept as sent.
RFC3339_UTC = re.compile(
    r"([0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60))(?:\.([0-9]{1,9}))?Z\Z"
)


class NonCanonicalValueError(ValueError):
    """A value that RFC 8785 cannot represent exactly; nothing is ever coerced.

    ``path`` is a JSONPath-like location (``$.args.amount``) of the offending value.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{reason} at {path}")


# --------------------------------------------------------------------------------------
# Canonical JSON (RFC 8785)
# --------------------------------------------------------------------------------------


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# Whole-number floats from 2^53 up to 1e21 (excluded): ECMAScript writes them without an
# exponent, as integers beyond ±(2^53-1). Every float from 2^53 on is a whole number.
_UNSAFE_FLOAT_MIN = float(2**53)
_UNSAFE_FLOAT_MAX = 1e21
_INFINITY = float("inf")


def number_problem(value: int | float) -> str | None:
    """Why the number ``value`` may not enter the chain, or None when it may.

    The rule, the same for the SDK, the ingestion service and the verifier: a number is
    accepted only when its RFC 8785 text, read back by a JSON parser, is a number that is
    itself accepted and has the same RFC 8785 text. What is stored and exported is that text,
    and the verifier hashes what it reads back, so every accepted payload verifies. Hence:

    - an integer is accepted within ±(2^53-1), the integers an IEEE double holds exactly;
    - NaN and ±Infinity have no JSON text and are refused;
    - a float whose magnitude is in [2^53, 1e21) is refused: it is a whole number that
      ECMAScript writes without an exponent (``1e16`` becomes ``10000000000000000``), which
      reads back as an integer beyond ±(2^53-1). ``2.0**53`` is refused, ``2.0**53 - 1``
      (written ``9007199254740991``, read back as that safe integer) is accepted;
    - every other finite float is accepted: below 2^53 a whole number is written as exactly
      that safe integer (``-0.0`` as ``0``); a fraction, or an exponent (``1e+21``, ``1e+300``,
      ``5e-324``), reads back as the very same float.

    ``bool`` is not a number here; callers pass it over before asking.
    """
    if isinstance(value, float):
        if -_UNSAFE_FLOAT_MIN < value < _UNSAFE_FLOAT_MIN:
            return None  # the usual case, decided by one comparison (False for NaN)
        if value != value:
            return "NaN is not representable"
        magnitude = abs(value)
        if magnitude == _INFINITY:
            return "Infinity is not representable"
        if _UNSAFE_FLOAT_MIN <= magnitude < _UNSAFE_FLOAT_MAX:
            return "float in [2^53, 1e21) is written as an integer outside ±(2^53-1)"
        return None
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return "integer outside ±(2^53-1)"
    return None


def _find_problem(value: Any, path: str = "$") -> NonCanonicalValueError | None:
    """Walk ``value`` and describe the first thing JCS cannot represent, with its path.

    The walk goes level by level, so a value nested deeper than ``MAX_NESTING_DEPTH`` (or a
    container that holds itself) is reported instead of exhausting the stack or looping.
    """
    level: list[tuple[Any, str]] = [(value, path)]
    depth = 0
    while level:
        depth += 1
        if depth > MAX_NESTING_DEPTH:
            where = level[0][1]
            return NonCanonicalValueError(
                where, f"value nested deeper than {MAX_NESTING_DEPTH} levels (or cyclic)"
            )
        below: list[tuple[Any, str]] = []
        for item, where in level:
            kind = type(item)
            if item is None or kind is bool:
                continue
            if kind is str:
                if _has_lone_surrogate(item):
                    return NonCanonicalValueError(where, "string contains a lone surrogate")
            elif kind is int or kind is float or isinstance(item, (int, float)):  # not bool
                reason = number_problem(item)
                if reason is not None:
                    return NonCanonicalValueError(where, reason)
            elif isinstance(item, Mapping):
                for key, child in item.items():
                    if not isinstance(key, str):
                        return NonCanonicalValueError(where, f"object key {key!r} is not a string")
                    child_where = _child_path(where, key)
                    if _has_lone_surrogate(key):
                        return NonCanonicalValueError(child_where, "key contains a lone surrogate")
                    below.append((child, child_where))
            elif isinstance(item, list | tuple):
                below.extend((child, _child_path(where, index)) for index, child in enumerate(item))
            else:
                return NonCanonicalValueError(where, f"{kind.__name__} is not a JSON value")
        level = below
    return None


# Floats whose ``repr`` is already the ECMAScript form RFC 8785 prescribes: finite, not
# integral (``2.0`` must become ``2``) and within the range where both ``repr`` and
# ECMAScript use plain decimal notation (ECMAScript switches to exponents below 1e-6 and from
# 1e21, ``repr`` below 1e-4 and from 1e16; the narrower window is the one both agree on).
# The fast path skips ``_find_problem``, so the domain must hold only accepted numbers: a
# float with a fraction is below 2^52, far from what ``number_problem`` refuses.
_FAST_FLOAT_MIN = 1e-4
_FAST_FLOAT_MAX = 1e16


def _fast_domain(value: Any) -> bool:
    """True when the C JSON encoder provably produces the RFC 8785 bytes for ``value``.

    The domain: dicts with str keys free of astral characters (so code-point order equals
    UTF-16 order), lists, str, bool, None, exact ints within ±(2^53-1) and plain floats whose
    ``repr`` is the ECMAScript form (see ``_FAST_FLOAT_MIN``), nested at most
    ``MAX_NESTING_DEPTH`` levels. Everything else (other floats, subclasses, tuples, other
    mappings) is left to the reference implementation. The property test in the SDK suite
    checks this claim against ``rfc8785`` on arbitrary JSON values.
    """
    try:
        return _fast_items((value,), 1)
    except RecursionError:  # only when the caller's own stack is already deep
        return False


def _fast_items(items: Iterable[Any], level: int) -> bool:
    """``_fast_domain`` of each of ``items``, which sit at nesting ``level`` (the value is 1).

    Recursive, one call per container: on payloads as agents send them this is a third
    faster than walking level by level, and the level bound stops a container that holds
    itself.
    """
    for item in items:
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
                if not key.isascii() and any(ord(ch) > 0xFFFF for ch in key):
                    return False
            if item and (level >= MAX_NESTING_DEPTH or not _fast_items(item.values(), level + 1)):
                return False
        elif kind is list:
            if item and (level >= MAX_NESTING_DEPTH or not _fast_items(item, level + 1)):
                return False
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return False
        elif kind is float:
            if not _FAST_FLOAT_MIN <= abs(item) < _FAST_FLOAT_MAX or item.is_integer():
                return False
        else:
            return False
    return True


def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not a JSON value")


# One C encoder built once: ``JSONEncoder.encode`` would build a new one on every call.
# Without markers there is no cycle check; ``_fast_domain`` already bounds the depth.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_escape = getattr(json.encoder, "c_encode_basestring", None)
if _c_make_encoder is not None and _c_escape is not None:
    _c_chunks = _c_make_encoder(None, _not_json, _c_escape, None, ":", ",", True, False, False)

    def _stdlib_encode(value: Any) -> bytes:
        return "".join(_c_chunks(value, 0)).encode("utf-8")

else:  # pragma: no cover - CPython always has the C accelerator
    _stdlib_encoder = json.JSONEncoder(
        ensure_ascii=False,
        allow_nan=False,
        sort_keys=True,
        separators=(",", ":"),
        check_circular=False,
    )

    def _stdlib_encode(value: Any) -> bytes:
        return _stdlib_encoder.encode(value).encode("utf-8")


if _orjson is not None:
    _ORJSON_OPTIONS = _orjson.OPT_SORT_KEYS
    _orjson_dumps = _orjson.dumps
    _OrjsonError = _orjson.JSONEncodeError

    def _fast_encode(value: Any) -> bytes:
        """orjson's bytes for a value of the fast domain (the same bytes, several times faster).

        orjson refuses a lone surrogate and nesting beyond its own limit (254 levels); the
        stdlib encoder then decides, so both cases behave exactly as without orjson.
        """
        try:
            return _orjson_dumps(value, option=_ORJSON_OPTIONS)
        except _OrjsonError:
            return _stdlib_encode(value)

    # A dict whose keys were inserted in UTF-16 order, written in that order (orjson keeps
    # the insertion order): the signed fields, whose names are fixed, need no sorting.
    _encode_in_order = _orjson_dumps
    _ENCODE_ERRORS: tuple[type[Exception], ...] = (_OrjsonError,)  # a lone surrogate

else:  # pragma: no cover - the server and the test suite install orjson
    _fast_encode = _encode_in_order = _stdlib_encode
    _ENCODE_ERRORS = (UnicodeEncodeError,)


def canonicalize(value: Any) -> bytes:
    """Serialize ``value`` as RFC 8785 (JCS) bytes.

    Raises ``NonCanonicalValueError`` naming the JSON path of a value JCS cannot represent.
    Values inside the proven fast domain go through a C encoder (orjson when installed, else
    the stdlib's); everything else is serialized by the ``rfc8785`` reference implementation.
    """
    if _fast_domain(value):
        try:
            return _fast_encode(value)
        except RecursionError as exc:  # only when the caller's own stack is already deep
            raise NonCanonicalValueError("$", "value nested too deeply to serialize") from exc
        except UnicodeEncodeError:
            problem = _find_problem(value)
            if problem is None:  # pragma: no cover - only strings can fail to encode
                raise
            raise problem from None  # a lone surrogate, located by the walk
    problem = _find_problem(value)
    if problem is not None:
        raise problem
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:  # pragma: no cover - walk finds these first
        raise NonCanonicalValueError("$", str(exc)) from exc
    except RecursionError as exc:
        raise NonCanonicalValueError("$", "value nested too deeply to serialize") from exc


def canonicalize_reference(value: Any) -> bytes:
    """The reference serialization, for tests and for anyone who wants to compare."""
    problem = _find_problem(value)
    if problem is not None:
        raise problem
    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload_hash(payload: Any) -> str:
    """``sha256_hex(JCS(payload))`` (spec §3)."""
    return sha256_hex(canonicalize(payload))


def signed_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    return {name: event.get(name) for name in SIGNED_FIELDS}


# The signed fields' values in one call, in the UTF-16 order of their names.
_SIGNED_VALUES = operator.itemgetter(
    "event_id",
    "event_type",
    "payload_hash",
    "prev_event_hash",
    "sequence_number",
    "session_id",
    "timestamp_wall",
)


def _canonical_signed_fields(event: Mapping[str, Any]) -> bytes:
    """JCS of the seven signed fields.

    Verification and ingestion compute this for every event, so the usual shape (strings, a
    safe integer, a string or null link) skips the generic walk: a dict of such values is
    inside the fast domain, and it is written in the UTF-16 order of the seven names. A lone
    surrogate, and anything else, goes through ``canonicalize``, which names the problem. The
    SDK suite checks this against ``rfc8785`` on arbitrary values.
    """
    try:
        event_id, event_type, payload_hash_, prev, sequence, session_id, timestamp = _SIGNED_VALUES(
            event
        )
    except KeyError:  # a field left out: the walk below reads it as null
        return canonicalize(signed_fields(event))
    if (
        type(event_id) is str
        and type(event_type) is str
        and type(payload_hash_) is str
        and type(session_id) is str
        and type(timestamp) is str
        and type(sequence) is int
        and -MAX_SAFE_INTEGER <= sequence <= MAX_SAFE_INTEGER
        and (prev is None or type(prev) is str)
    ):
        try:
            return _encode_in_order(
                {
                    "event_id": event_id,
                    "event_type": event_type,
                    "payload_hash": payload_hash_,
                    "prev_event_hash": prev,
                    "sequence_number": sequence,
                    "session_id": session_id,
                    "timestamp_wall": timestamp,
                }
            )
        except _ENCODE_ERRORS:
            pass  # a lone surrogate: located and named below
    return canonicalize(signed_fields(event))


def event_hash(event: Mapping[str, Any]) -> str:
    """``sha256_hex(JCS(the seven signed fields))``; other fields do not matter."""
    return hashlib.sha256(_canonical_signed_fields(event)).hexdigest()


def event_hash_from_parts(
    *,
    event_id: str,
    session_id: str,
    sequence_number: int,
    timestamp_wall: str,
    event_type: str,
    payload_hash: str,
    prev_event_hash: str | None,
) -> str:
    return event_hash(
        {
            "event_id": event_id,
            "session_id": session_id,
            "sequence_number": sequence_number,
            "timestamp_wall": timestamp_wall,
            "event_type": event_type,
            "payload_hash": payload_hash,
            "prev_event_hash": prev_event_hash,
        }
    )


def chain_event(
    proposal: Mapping[str, Any],
    *,
    prev_event_hash: str | None,
    chain_authority: str,
    authority_id: str,
    computed_payload_hash: str | None = None,
) -> dict[str, Any]:
    """Complete a proposed event into a full §2 envelope with hashes computed here.

    ``proposal`` holds the producer fields; any hashes it carries are ignored (the caller
    compares a supplied ``payload_hash`` first if it cares). ``computed_payload_hash`` lets a
    caller that has already canonicalized the payload (to check it) pass ``payload_hash`` of
    it instead of serializing the payload a second time; it must come from ``payload_hash``.
    """
    payload = proposal["payload"]
    if computed_payload_hash is None:
        computed_payload_hash = payload_hash(payload)
    envelope = {
        "event_id": proposal["event_id"],
        "session_id": proposal["session_id"],
        "sequence_number": proposal["sequence_number"],
        "timestamp_wall": proposal["timestamp_wall"],
        "timestamp_monotonic": proposal["timestamp_monotonic"],
        "event_type": proposal["event_type"],
        "source_sdk_ver": proposal["source_sdk_ver"],
        "schema_ver": proposal["schema_ver"],
        "payload": payload,
        "payload_hash": computed_payload_hash,
        "prev_event_hash": prev_event_hash,
        "event_hash": "",
        "chain_authority": chain_authority,
        "authority_id": authority_id,
    }
    envelope["event_hash"] = event_hash(envelope)
    return envelope


def genesis_problem(event: Mapping[str, Any]) -> str | None:
    """Why ``event`` cannot be sequence 0 of a session, or None if it can."""
    if event.get("event_type") != "SESSION_START":
        return "the first event must be SESSION_START"
    if event.get("prev_event_hash") is not None:
        return "the first event must have prev_event_hash null"
    return None


def ordering_problem(event_type: Any, *, first: bool, ended: bool, sealed: bool) -> str | None:
    """Why an event of ``event_type`` cannot come where it is, or None if it can (spec §4).

    SESSION_START comes first, nothing but the seal follows SESSION_END, the seal comes last.
    ``first``: nothing precedes the event; ``ended`` and ``sealed``: a SESSION_END and a
    CHAIN_SEAL do. What the first event must be is ``genesis_problem``'s question.
    """
    if sealed:
        return f"{type_name(event_type)} follows the CHAIN_SEAL, which must be the last event"
    if ended and event_type != SEAL_EVENT_TYPE:
        return f"{type_name(event_type)} follows SESSION_END; only CHAIN_SEAL may"
    if event_type == "SESSION_START" and not first:
        return "SESSION_START may only be the first event"
    return None


def shown(value: Any, limit: int = 80) -> str:
    """A value as it may appear in a message: JSON-quoted, ASCII, and short."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value).encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(value: Any) -> str:
    """An event type as it may appear in a message: a defined type as is, else quoted."""
    return value if type(value) is str and value in EVENT_TYPES else shown(value)


# --------------------------------------------------------------------------------------
# Field and payload validation
# --------------------------------------------------------------------------------------


def is_uuid(value: Any) -> bool:
    if type(value) is not str or len(value) != 36:
        return False
    if CANONICAL_UUID.match(value):
        return True  # the usual form; uuid.UUID below accepts a few more spellings
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def is_canonical_uuid(value: Any) -> bool:
    """A UUID in its canonical spelling: lowercase hex in 8-4-4-4-12 groups."""
    return type(value) is str and CANONICAL_UUID.match(value) is not None


def is_rfc3339_utc(value: Any) -> bool:
    return type(value) is str and RFC3339_UTC.match(value) is not None


def is_sha256_hex(value: Any) -> bool:
    return type(value) is str and _HEX64.match(value) is not None


def _is_hex(value: Any) -> bool:
    return type(value) is str and _HEX.match(value) is not None


def _is_int(value: Any) -> bool:
    return type(value) is int


def is_count(value: Any) -> bool:
    """An integer from 0 to 2^53 - 1: a sequence number or a monotonic timestamp."""
    return type(value) is int and 0 <= value <= MAX_SAFE_INTEGER


def _is_str(value: Any) -> bool:
    return type(value) is str


def _either(payload: Mapping[str, Any], plain: str, hashed: str) -> str | None:
    if plain in payload:
        return None
    if hashed in payload:
        return None if _is_hex(payload[hashed]) else f"{hashed} must be lowercase hex"
    return f"requires {plain} or {hashed}"


def _names(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def _non_empty_str(value: Any) -> bool:
    return type(value) is str and value != ""


def _one_of(allowed: frozenset[str]) -> Callable[[Any], bool]:
    # Only strings are looked up: a list or dict value would make the set lookup raise.
    return lambda value: type(value) is str and value in allowed


def _present(value: Any) -> bool:
    return True


# Per event type, the payload fields it must carry: (name, check, what the value must be).
# Built once: verification runs this for every event of every session.
_Requirement = tuple[str, Callable[[Any], bool], str]
_REQUIRED: dict[str, tuple[_Requirement, ...]] = {
    "SESSION_START": (("agent_id", _non_empty_str, "a non-empty string"),),
    "SESSION_END": (
        ("status", _one_of(SESSION_END_STATUSES), "one of " + _names(SESSION_END_STATUSES)),
        ("duration_ms", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    ),
    "MODEL_REQUEST": (("model", _is_str, "a string"),),
    "MODEL_RESPONSE": (
        ("model", _is_str, "a string"),
        ("finish_reason", _is_str, "a string"),
    ),
    "TOOL_CALL": (("tool_name", _non_empty_str, "a non-empty string"),),
    "TOOL_RESULT": (
        ("tool_name", _non_empty_str, "a non-empty string"),
        ("status", _one_of(TOOL_RESULT_STATUSES), "one of " + _names(TOOL_RESULT_STATUSES)),
    ),
    "DECISION_TRACE": tuple(
        (name, _present, "") for name in ("decision_id", "inputs", "outputs", "justification")
    ),
    "ERROR": (
        ("error_type", _is_str, "a string"),
        (
            "message",
            lambda v: _is_str(v) and len(v) <= MAX_ERROR_MESSAGE_CHARS,
            f"a string of at most {MAX_ERROR_MESSAGE_CHARS} characters",
        ),
        ("fatal", lambda v: type(v) is bool, "a boolean"),
    ),
    "ANNOTATION": (
        ("annotator_id", _is_str, "a string"),
        ("annotation_type", _one_of(ANNOTATION_TYPES), "one of " + _names(ANNOTATION_TYPES)),
        ("content", _present, ""),
    ),
    "LOG_DROP": (
        ("dropped_count", lambda v: _is_int(v) and v > 0, "an integer > 0"),
        ("drop_reason", _one_of(DROP_REASONS), "one of " + _names(DROP_REASONS)),
    ),
}


def _model_request_problems(payload: Mapping[str, Any]) -> list[str]:
    if "messages" in payload:
        return [] if isinstance(payload["messages"], list) else ["messages must be a list"]
    if "prompt_hash" in payload:
        return [] if _is_hex(payload["prompt_hash"]) else ["prompt_hash must be lowercase hex"]
    return ["requires messages or prompt_hash"]


def _tool_call_problems(payload: Mapping[str, Any]) -> list[str]:
    if "args" in payload:
        args = payload["args"]
        return [] if type(args) is dict or isinstance(args, Mapping) else ["args must be an object"]
    problem = _either(payload, "args", "args_hash")
    return [problem] if problem else []


def _either_problems(plain: str, hashed: str) -> Callable[[Mapping[str, Any]], list[str]]:
    def problems(payload: Mapping[str, Any]) -> list[str]:
        problem = _either(payload, plain, hashed)
        return [problem] if problem else []

    return problems


def _log_drop_problems(payload: Mapping[str, Any]) -> list[str]:
    problems = []
    count = payload.get("dropped_count")
    if "cumulative_drops" not in payload:
        problems.append("requires cumulative_drops")
    else:
        total = payload["cumulative_drops"]
        if not (_is_int(total) and (not _is_int(count) or total >= count)):
            problems.append("cumulative_drops must be an integer >= dropped_count")
    if "sequence_range" in payload:
        rng = payload["sequence_range"]
        if not (
            isinstance(rng, list)
            and len(rng) == 2
            and all(_is_int(n) and n >= 0 for n in rng)
            and rng[0] <= rng[1]
        ):
            problems.append("sequence_range must be [first, last] with first <= last")
    return problems


# Checks beyond "field present and of the right kind", run after _REQUIRED, in this order.
_FURTHER: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "MODEL_REQUEST": _model_request_problems,
    "MODEL_RESPONSE": _either_problems("content", "content_hash"),
    "TOOL_CALL": _tool_call_problems,
    "TOOL_RESULT": _either_problems("result", "result_hash"),
    "LOG_DROP": _log_drop_problems,
}


def payload_problems(event_type: str, payload: Any) -> list[str]:
    """Describe how ``payload`` breaks the required fields of ``event_type`` (spec §4)."""
    # A dict is told apart first: asking the Mapping ABC costs more than the checks below.
    if type(payload) is not dict and not isinstance(payload, Mapping):
        return ["payload must be an object"]
    if type(event_type) is not str:
        return []
    problems: list[str] = []
    for name, check, what in _REQUIRED.get(event_type, ()):
        if name not in payload:
            problems.append(f"requires {name}")
        elif not check(payload[name]):
            problems.append(f"{name} must be {what}")
    further = _FURTHER.get(event_type)
    if further is not None:
        problems.extend(further(payload))
    return problems


# Type checks of the §2 envelope fields: (name, check, what the value must be). Built once:
# ingestion and verification run them for every event whose quick test fails.
_ENVELOPE_CHECKS: tuple[_Requirement, ...] = (
    ("event_id", is_uuid, "a UUID string"),
    ("session_id", is_uuid, "a UUID string"),
    ("sequence_number", is_count, "an integer >= 0"),
    ("timestamp_wall", is_rfc3339_utc, "an RFC 3339 UTC timestamp ending in Z"),
    ("timestamp_monotonic", is_count, "an integer >= 0"),
    ("event_type", _is_str, "a string"),
    ("source_sdk_ver", _is_str, "a string"),
    ("schema_ver", _is_str, "a string"),
    ("payload", lambda v: v is None or isinstance(v, Mapping), "an object (or null when withheld)"),
    ("payload_hash", is_sha256_hex, "64 lowercase hex characters"),
    (
        "prev_event_hash",
        lambda v: v is None or is_sha256_hex(v),
        "null or 64 lowercase hex characters",
    ),
    ("event_hash", is_sha256_hex, "64 lowercase hex characters"),
    ("chain_authority", lambda v: _is_str(v) and v in AUTHORITIES, "'server' or 'sdk'"),
    ("authority_id", _is_str, "a string"),
)

# What a verifier judges otherwise than by its type: the hashes by comparison (a computed or
# linked hash is well-formed by construction), the schema version against those it reads.
_JUDGED_BY_VERIFICATION = frozenset({"payload_hash", "prev_event_hash", "event_hash", "schema_ver"})


def envelope_field_problems(
    event: Mapping[str, Any], *, verifying: bool = False
) -> list[tuple[str, str]]:
    """Type problems of the §2 envelope fields present in ``event``, as ``(field, message)``.

    A null payload is a withheld one (redaction). ``verifying``: as a verifier reports them,
    leaving out what it judges otherwise (``_JUDGED_BY_VERIFICATION``), except the
    ``payload_hash`` of a withheld payload, which nothing else can judge.
    """
    problems: list[tuple[str, str]] = []
    for name, check, what in _ENVELOPE_CHECKS:
        if name in event and not check(event[name]):
            if (
                verifying
                and name in _JUDGED_BY_VERIFICATION
                and not (name == "payload_hash" and event.get("payload") is None)
            ):
                continue
            problems.append((name, f"{name} must be {what}"))
    return problems


def field_name_problems(
    event: Mapping[str, Any], *, required: Iterable[str], allowed: frozenset[str]
) -> tuple[list[str], list[str]]:
    """The ``required`` names ``event`` lacks, in their order, and the names it has that are
    not ``allowed``, in its order: each caller words them for its readers."""
    return [name for name in required if name not in event], [
        name for name in event if name not in allowed
    ]
