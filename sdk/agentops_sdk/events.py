"""Payload builders for the producer event types (spec §4) and the record-time payload snapshot.

The builders only assemble dictionaries; ``Session`` wraps them (``session.tool_call(...)``) so
that nothing they do can raise into the agent. Extra keyword arguments become extra payload
fields, which the spec allows.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .chain import MAX_ERROR_MESSAGE_CHARS, MAX_NESTING_DEPTH, MAX_SAFE_INTEGER, number_problem

#: Types only the SDK writes: the session's first and last events and the loss markers.
#: ``record()`` refuses them so that an agent cannot break the ordering rules of §4.
SDK_EVENT_TYPES = frozenset({"SESSION_START", "SESSION_END", "LOG_DROP"})


class PayloadError(ValueError):
    """A payload that cannot be recorded as it is (it is never altered to make it fit)."""


_snapshot_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def payload_snapshot(payload: Any) -> bytes:
    """Encode ``payload`` now, so later changes by the agent cannot alter what was recorded.

    This is the C JSON encoder plus the checks it lacks, so every snapshot is a value RFC 8785
    can represent exactly (the service canonicalizes and hashes it; ``chain.canonicalize`` is
    too slow for the agent's thread once floats are involved). Raises ``PayloadError`` for NaN
    and ±Infinity, integers beyond ±(2^53 - 1), floats from 2^53 up to 1e21 (whole numbers
    whose canonical text reads back as such an integer; ``chain.number_problem`` decides every
    number, as it does for the service), lone surrogates, non-string keys (``json`` would
    silently turn ``{1: ...}`` into ``{"1": ...}``), nesting deeper than the service accepts,
    cycles and non-JSON types.
    """
    try:
        text = _snapshot_encoder.encode(payload)
    except (TypeError, ValueError, RecursionError) as exc:
        raise PayloadError(str(exc)) from None
    # The walk runs after encoding because the encoder has already refused cycles.
    problem = _unrepresentable(payload)
    if problem is not None:
        raise PayloadError(problem)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError("a string contains a lone surrogate") from None


def _unrepresentable(value: Any) -> str | None:
    # Level by level, like the service's own check, so the depth limit means the same here.
    level = [value]
    depth = 0
    while level:
        depth += 1
        if depth > MAX_NESTING_DEPTH:
            return f"value nested deeper than {MAX_NESTING_DEPTH} levels"
        below: list[Any] = []
        for item in level:
            kind = type(item)
            if kind is str or kind is bool or item is None:
                continue
            if (kind is int or kind is float) and -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                continue  # the common number, accepted by the rule below without asking it
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str):
                        return f"object key {key!r} is not a string"
                below.extend(item.values())
            elif isinstance(item, list | tuple):
                below.extend(item)
            elif isinstance(item, int | float):
                # The service's rule itself, so that nothing recorded is refused there.
                problem = number_problem(item)
                if problem is not None:
                    return problem
        level = below
    return None


def rfc3339_utc(epoch_ns: int) -> str:
    """``2026-01-25T10:00:00.123456Z`` for a ``time.time_ns()`` value."""
    seconds, rest = divmod(epoch_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


def safe_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with lone surrogates escaped so it stays JSON."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def time_ordered_id(unix_ms: int, bits: int, *, version: int = 7) -> str:
    """A UUID laid out as version 7 of RFC 9562 (§5.7): ``unix_ms`` (48 bits of Unix time in
    milliseconds), the version, 12 of the 74 low bits of ``bits``, the variant, the other 62.

    Ids made later sort later, so the server's index on event ids takes each new one beside the
    last instead of on a random page of an index that grows with every session ever stored.
    ``version`` 7 when ``bits`` are random; 8 (§5.8, a layout of one's own) when they are
    derived from a name, as the server's ids of OpenTelemetry spans are."""
    value = (
        (unix_ms & 0xFFFF_FFFF_FFFF) << 80
        | version << 76
        | (bits >> 62 & 0xFFF) << 64  # rand_a
        | 0b10 << 62  # the variant of RFC 9562
        | bits & 0x3FFF_FFFF_FFFF_FFFF  # rand_b
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_id() -> str:
    """A new event or session id: a UUID version 7 of the current time and 74 random bits."""
    return time_ordered_id(time.time_ns() // 1_000_000, int.from_bytes(os.urandom(10), "big"))


# --------------------------------------------------------------------------------------
# Builders, one per producer type
# --------------------------------------------------------------------------------------


def session_start(
    agent_id: str,
    *,
    sdk_version: str,
    environment: str | None = None,
    framework: str | None = None,
    framework_version: str | None = None,
    tags: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"agent_id": agent_id, "sdk_version": sdk_version}
    optional = {
        "environment": environment,
        "framework": framework,
        "framework_version": framework_version,
        "tags": list(tags) if tags is not None else None,
        "metadata": dict(metadata) if metadata else None,
    }
    payload.update({name: value for name, value in optional.items() if value is not None})
    return payload


def session_end(status: str, duration_ms: int, **extra: Any) -> dict[str, Any]:
    return {**extra, "status": status, "duration_ms": duration_ms}


def model_request(
    model: str,
    messages: Sequence[Any] | None = None,
    *,
    prompt_hash: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {**extra, "model": model}
    if messages is not None or prompt_hash is None:
        payload["messages"] = list(messages or [])
    if prompt_hash is not None:
        payload["prompt_hash"] = prompt_hash
    return payload


def model_response(
    model: str,
    content: Any = None,
    *,
    finish_reason: str = "stop",
    content_hash: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {**extra, "model": model, "finish_reason": finish_reason}
    if content is not None or content_hash is None:
        payload["content"] = content
    if content_hash is not None:
        payload["content_hash"] = content_hash
    return payload


def tool_call(
    tool_name: str,
    args: Mapping[str, Any] | None = None,
    *,
    tool_id: str,
    args_hash: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {**extra, "tool_name": tool_name, "tool_id": tool_id}
    if args is not None or args_hash is None:
        payload["args"] = dict(args or {})
    if args_hash is not None:
        payload["args_hash"] = args_hash
    return payload


def tool_result(
    tool_name: str,
    result: Any = None,
    *,
    status: str = "success",
    tool_id: str | None = None,
    result_hash: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {**extra, "tool_name": tool_name, "status": status}
    if tool_id is not None:
        payload["tool_id"] = tool_id
    if result is not None or result_hash is None:
        payload["result"] = result
    if result_hash is not None:
        payload["result_hash"] = result_hash
    return payload


def error(
    error: BaseException | str,
    message: str | None = None,
    *,
    fatal: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """An ``ERROR`` payload from an exception or from a type name and a message.

    The message is cut to the spec's 500 characters (``message_truncated`` says so); only the
    exception's type and text are kept, never its traceback.
    """
    if isinstance(error, BaseException):
        error_type = type(error).__name__
        text = str(error) if message is None else message
    else:
        error_type = error
        text = "" if message is None else message
    payload: dict[str, Any] = {**extra, "error_type": error_type, "fatal": fatal}
    payload["message"] = safe_text(text, MAX_ERROR_MESSAGE_CHARS)
    if len(text) > MAX_ERROR_MESSAGE_CHARS:
        payload["message_truncated"] = True
    return payload


def decision(
    decision_id: str, *, inputs: Any, outputs: Any, justification: Any, **extra: Any
) -> dict[str, Any]:
    return {
        **extra,
        "decision_id": decision_id,
        "inputs": inputs,
        "outputs": outputs,
        "justification": justification,
    }


def annotation(
    content: Any, *, annotator_id: str, annotation_type: str = "comment", **extra: Any
) -> dict[str, Any]:
    return {
        **extra,
        "annotator_id": annotator_id,
        "annotation_type": annotation_type,
        "content": content,
    }


def log_drop(
    *,
    dropped_count: int,
    cumulative_drops: int,
    drop_reason: str,
    sequence_range: tuple[int, int] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "dropped_count": dropped_count,
        "cumulative_drops": cumulative_drops,
        "drop_reason": drop_reason,
    }
    if sequence_range is not None:
        payload["sequence_range"] = list(sequence_range)
    return payload
