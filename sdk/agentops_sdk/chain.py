"""The event-log rules of EVENT_LOG_SPEC v0.6: canonical JSON, hashes, envelopes.

This module is the one place where the chain is defined. The SDK, the verifier and the
ingestion service all import it; nothing else may hash events.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import rfc8785

SPEC_VERSION = "v0.6"
ACCEPTED_SCHEMA_VERSIONS = frozenset({"v0.6", "v0.5"})

PRODUCER_EVENT_TYPES = frozenset(
    {
        "SESSION_START",
        "SESSION_END",
        "MODEL_REQUEST",
        "MODEL_RESPONSE",
        "TOOL_CALL",
        "TOOL_RESULT",
        "AGENT_STATE_SNAPSHOT",
        "DECISION_TRACE",
        "ERROR",
        "ANNOTATION",
        "LOG_DROP",
    }
)
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

SESSION_END_STATUSES = frozenset({"success", "failure", "timeout", "cancelled"})
TOOL_RESULT_STATUSES = frozenset({"success", "error"})
ANNOTATION_TYPES = frozenset({"flag", "comment", "rating"})
DROP_REASONS = frozenset({"BUFFER_FULL", "NETWORK_LOSS", "SDK_CRASH"})
MAX_ERROR_MESSAGE_CHARS = 500

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX = re.compile(r"[0-9a-f]+\Z")
# RFC 3339 in UTC with a literal Z, optional fraction. The producer's bytes are kept as sent.
_RFC3339_UTC = re.compile(
    r"(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)(\.\d{1,9})?Z\Z"
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


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _find_problem(value: Any, path: str = "$") -> NonCanonicalValueError | None:
    """Walk ``value`` and describe the first thing JCS cannot represent, with its path."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        kind = type(item)
        if item is None or kind is bool:
            continue
        if kind is str:
            if _has_lone_surrogate(item):
                return NonCanonicalValueError(where, "string contains a lone surrogate")
        elif isinstance(item, int) and not isinstance(item, bool):
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return NonCanonicalValueError(where, "integer outside ±(2^53-1)")
        elif isinstance(item, float):
            if item != item:
                return NonCanonicalValueError(where, "NaN is not representable")
            if item in (float("inf"), float("-inf")):
                return NonCanonicalValueError(where, "Infinity is not representable")
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str):
                    return NonCanonicalValueError(where, f"object key {key!r} is not a string")
                child_where = _child_path(where, key)
                if _has_lone_surrogate(key):
                    return NonCanonicalValueError(child_where, "key contains a lone surrogate")
                stack.append((child, child_where))
        elif isinstance(item, list | tuple):
            for index, child in enumerate(item):
                stack.append((child, _child_path(where, index)))
        else:
            return NonCanonicalValueError(where, f"{kind.__name__} is not a JSON value")
    return None


def _fast_domain(value: Any) -> bool:
    """True when ``json.dumps`` provably produces the RFC 8785 bytes for ``value``.

    The domain: dicts with str keys free of astral characters (so code-point order equals
    UTF-16 order), lists, str, bool, None and exact ints within ±(2^53-1). Floats of any kind,
    int subclasses and tuples are left to the reference implementation.
    """
    stack = [value]
    pop = stack.pop
    extend = stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                continue
            return False
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
                if not key.isascii() and any(ord(ch) > 0xFFFF for ch in key):
                    return False
            extend(item.values())
            continue
        if kind is list:
            extend(item)
            continue
        return False
    return True


_fast_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)


def canonicalize(value: Any) -> bytes:
    """Serialize ``value`` as RFC 8785 (JCS) bytes.

    Raises ``NonCanonicalValueError`` naming the JSON path of a value JCS cannot represent.
    Values inside the proven fast domain go through the C JSON encoder; everything else is
    serialized by the ``rfc8785`` reference implementation.
    """
    if _fast_domain(value):
        text = _fast_encoder.encode(value)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            problem = _find_problem(value)
            raise problem from None  # a lone surrogate, located by the walk
    problem = _find_problem(value)
    if problem is not None:
        raise problem
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:  # pragma: no cover - walk finds these first
        raise NonCanonicalValueError("$", str(exc)) from exc


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


def event_hash(event: Mapping[str, Any]) -> str:
    """``sha256_hex(JCS(the seven signed fields))``; other fields do not matter."""
    return sha256_hex(canonicalize(signed_fields(event)))


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
) -> dict[str, Any]:
    """Complete a proposed event into a full §2 envelope with hashes computed here.

    ``proposal`` holds the producer fields; any hashes it carries are ignored (the caller
    compares a supplied ``payload_hash`` first if it cares).
    """
    payload = proposal["payload"]
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
        "payload_hash": payload_hash(payload),
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


# --------------------------------------------------------------------------------------
# Field and payload validation
# --------------------------------------------------------------------------------------


def is_uuid(value: Any) -> bool:
    if type(value) is not str or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def is_rfc3339_utc(value: Any) -> bool:
    return type(value) is str and _RFC3339_UTC.match(value) is not None


def is_sha256_hex(value: Any) -> bool:
    return type(value) is str and _HEX64.match(value) is not None


def _is_hex(value: Any) -> bool:
    return type(value) is str and _HEX.match(value) is not None


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_str(value: Any) -> bool:
    return type(value) is str


def _either(payload: Mapping[str, Any], plain: str, hashed: str) -> str | None:
    if plain in payload:
        return None
    if hashed in payload:
        return None if _is_hex(payload[hashed]) else f"{hashed} must be lowercase hex"
    return f"requires {plain} or {hashed}"


def payload_problems(event_type: str, payload: Any) -> list[str]:
    """Describe how ``payload`` breaks the required fields of ``event_type`` (spec §4)."""
    if not isinstance(payload, Mapping):
        return ["payload must be an object"]
    problems: list[str] = []

    def need(name: str, check, what: str) -> None:
        if name not in payload:
            problems.append(f"requires {name}")
        elif not check(payload[name]):
            problems.append(f"{name} must be {what}")

    if event_type == "SESSION_START":
        need("agent_id", lambda v: _is_str(v) and v != "", "a non-empty string")
    elif event_type == "SESSION_END":
        need("status", lambda v: v in SESSION_END_STATUSES, "one of " + _names(SESSION_END_STATUSES))
        need("duration_ms", lambda v: _is_int(v) and v >= 0, "an integer >= 0")
    elif event_type == "MODEL_REQUEST":
        need("model", _is_str, "a string")
        if "messages" in payload:
            if not isinstance(payload["messages"], list):
                problems.append("messages must be a list")
        elif "prompt_hash" in payload:
            if not _is_hex(payload["prompt_hash"]):
                problems.append("prompt_hash must be lowercase hex")
        else:
            problems.append("requires messages or prompt_hash")
    elif event_type == "MODEL_RESPONSE":
        need("model", _is_str, "a string")
        need("finish_reason", _is_str, "a string")
        problems.extend(p for p in [_either(payload, "content", "content_hash")] if p)
    elif event_type == "TOOL_CALL":
        need("tool_name", lambda v: _is_str(v) and v != "", "a non-empty string")
        if "args" in payload:
            if not isinstance(payload["args"], Mapping):
                problems.append("args must be an object")
        else:
            problems.extend(p for p in [_either(payload, "args", "args_hash")] if p)
    elif event_type == "TOOL_RESULT":
        need("tool_name", lambda v: _is_str(v) and v != "", "a non-empty string")
        need("status", lambda v: v in TOOL_RESULT_STATUSES, "one of " + _names(TOOL_RESULT_STATUSES))
        problems.extend(p for p in [_either(payload, "result", "result_hash")] if p)
    elif event_type == "DECISION_TRACE":
        for name in ("decision_id", "inputs", "outputs", "justification"):
            if name not in payload:
                problems.append(f"requires {name}")
    elif event_type == "ERROR":
        need("error_type", _is_str, "a string")
        need(
            "message",
            lambda v: _is_str(v) and len(v) <= MAX_ERROR_MESSAGE_CHARS,
            f"a string of at most {MAX_ERROR_MESSAGE_CHARS} characters",
        )
        need("fatal", lambda v: type(v) is bool, "a boolean")
    elif event_type == "ANNOTATION":
        need("annotator_id", _is_str, "a string")
        need("annotation_type", lambda v: v in ANNOTATION_TYPES, "one of " + _names(ANNOTATION_TYPES))
        if "content" not in payload:
            problems.append("requires content")
    elif event_type == "LOG_DROP":
        need("dropped_count", lambda v: _is_int(v) and v > 0, "an integer > 0")
        need("drop_reason", lambda v: v in DROP_REASONS, "one of " + _names(DROP_REASONS))
        count = payload.get("dropped_count")
        need(
            "cumulative_drops",
            lambda v: _is_int(v) and (not _is_int(count) or v >= count),
            "an integer >= dropped_count",
        )
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


def _names(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def envelope_field_problems(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Type problems of a full §2 envelope as ``(field, message)``; payload None is redaction."""
    problems: list[tuple[str, str]] = []
    checks = (
        ("event_id", is_uuid, "a UUID string"),
        ("session_id", is_uuid, "a UUID string"),
        ("sequence_number", lambda v: _is_int(v) and 0 <= v <= MAX_SAFE_INTEGER, "an integer >= 0"),
        ("timestamp_wall", is_rfc3339_utc, "an RFC 3339 UTC timestamp ending in Z"),
        ("timestamp_monotonic", lambda v: _is_int(v) and 0 <= v <= MAX_SAFE_INTEGER, "an integer >= 0"),
        ("event_type", _is_str, "a string"),
        ("source_sdk_ver", _is_str, "a string"),
        ("schema_ver", _is_str, "a string"),
        ("payload", lambda v: v is None or isinstance(v, Mapping), "an object or null"),
        ("payload_hash", is_sha256_hex, "64 lowercase hex characters"),
        ("prev_event_hash", lambda v: v is None or is_sha256_hex(v), "null or 64 lowercase hex characters"),
        ("event_hash", is_sha256_hex, "64 lowercase hex characters"),
        ("chain_authority", lambda v: v in AUTHORITIES, "'server' or 'sdk'"),
        ("authority_id", _is_str, "a string"),
    )
    for name, check, what in checks:
        if name in event and not check(event[name]):
            problems.append((name, f"{name} must be {what}"))
    return problems
