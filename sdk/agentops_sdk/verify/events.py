"""The checks of one event on its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from .. import chain
from .codes import (
    _ENVELOPE_KEYS,
    _LOG_DROP,
    _SEAL,
    EVENT_HASH_MISMATCH,
    MISSING_FIELD,
    PAYLOAD_HASH_MISMATCH,
    SCHEMA_VERSION_MISMATCH,
    UNKNOWN_EVENT_TYPE,
    UNKNOWN_FIELD,
    _canonical_uuid,
    _is_count,
    _member,
    _show,
)


class _Checked(NamedTuple):
    """An event after the checks that need nothing but the event itself: what the chain
    checks still need from it. ``_event_checks`` builds it, possibly in a worker process, and
    ``_SessionCheck.add`` judges it against the events before it, taking it apart as a tuple.

    Built with ``tuple.__new__``, which costs a third of the class's own constructor; worker
    processes send it as a plain tuple, which unpickles without a call per event.
    """

    is_object: bool
    sequence: Any
    event_id: Any
    #: An exact and compact key for the set of event ids seen.
    id_key: int | str | None
    session_id: Any
    authority: Any
    event_type: Any
    has_prev: bool
    prev_hash: Any
    #: The event_hash, if it is a string.
    stored_hash: str | None
    #: Why the event cannot open a log.
    genesis_problem: str | None
    #: The ``(code, message)`` pairs found in the event alone.
    problems: tuple[tuple[str, str], ...]
    redacted: bool
    #: The dropped_count of a LOG_DROP.
    dropped: int
    #: The payload of a CHAIN_SEAL.
    seal_payload: Any


_new = tuple.__new__

_PAYLOAD_ALTERED = (
    PAYLOAD_HASH_MISMATCH,
    "the payload does not match its payload_hash: the content was altered after it was recorded",
)
_EVENT_ALTERED = (
    EVENT_HASH_MISMATCH,
    "the event's signed fields do not match its event_hash: "
    "the event was altered after it was recorded",
)

# An entry of the log that is not a JSON object: nothing in it can be checked.
_NOT_AN_OBJECT = _Checked(
    is_object=False,
    sequence=None,
    event_id=None,
    id_key=None,
    session_id=None,
    authority=None,
    event_type=None,
    has_prev=False,
    prev_hash=None,
    stored_hash=None,
    genesis_problem=None,
    problems=(),
    redacted=False,
    dropped=0,
    seal_payload=None,
)


def _event_checks(event: Any) -> _Checked:
    """Check one event on its own: envelope, payload and its two hashes.

    Each check starts with a quick test that an ordinary event passes; the detailed check and
    its message are built only when that test fails, so that verification costs little more
    than the two hashes every event needs anyway.
    """
    if type(event) is not dict and not isinstance(event, Mapping):
        return _NOT_AN_OBJECT
    get = event.get
    event_id = get("event_id")
    session_id = get("session_id")
    sequence = get("sequence_number")
    event_type = get("event_type")
    payload = get("payload")
    stored_hash = get("event_hash")
    authority = get("chain_authority")
    problems: list[tuple[str, str]] = []

    complete = event.keys() == _ENVELOPE_KEYS
    if not complete:
        problems.extend(_field_name_problems(event))
    canonical_id = type(event_id) is str and _canonical_uuid(event_id) is not None
    if not (
        complete
        and canonical_id
        and type(session_id) is str
        and _canonical_uuid(session_id) is not None
        and (authority == chain.AUTHORITY_SERVER or authority == chain.AUTHORITY_SDK)
        and type(sequence) is int
        and 0 <= sequence <= chain.MAX_SAFE_INTEGER
        and type(payload) is dict
        and type(event_type) is str
        and type(get("source_sdk_ver")) is str
        and type(get("authority_id")) is str
        and _is_count(get("timestamp_monotonic"))
        and chain.is_rfc3339_utc(get("timestamp_wall"))
    ):
        invalid = _field_problems(event)
        if invalid:
            problems.append((MISSING_FIELD, "; ".join(invalid)))

    schema = get("schema_ver")
    if (
        schema != chain.SPEC_VERSION
        and "schema_ver" in event
        and not _member(schema, chain.ACCEPTED_SCHEMA_VERSIONS)
    ):
        problems.append(
            (
                SCHEMA_VERSION_MISMATCH,
                f"schema_ver {_show(schema)} is not {chain.SPEC_VERSION} (or v0.5)",
            )
        )
    known_type = _member(event_type, chain.EVENT_TYPES)
    if not known_type and "event_type" in event:
        problems.append((UNKNOWN_EVENT_TYPE, f"event_type {_show(event_type)} is not defined"))

    redacted = False
    dropped = 0
    if type(payload) is dict or (payload is not None and isinstance(payload, Mapping)):
        if "payload_hash" in event:
            try:
                if chain.payload_hash(payload) != event["payload_hash"]:
                    problems.append(_PAYLOAD_ALTERED)
            except chain.NonCanonicalValueError as exc:
                problems.append(
                    (
                        PAYLOAD_HASH_MISMATCH,
                        f"the payload holds a value canonical JSON cannot represent ({exc}), "
                        "so it cannot match any payload_hash",
                    )
                )
        if known_type and event_type != _SEAL:
            # known_type: event_type is one of the spec's names, so a str
            wanting = chain.payload_problems(event_type, payload)  # type: ignore[arg-type]
            if wanting:
                problems.append((MISSING_FIELD, f"{event_type} payload: {'; '.join(wanting)}"))
        if event_type == _LOG_DROP:
            count = payload.get("dropped_count")
            dropped = count if type(count) is int and count > 0 else 0
    elif payload is None and "payload" in event:
        redacted = True

    if complete or all(name in event for name in chain.SIGNED_FIELDS):
        try:
            if chain.event_hash(event) != stored_hash:
                problems.append(_EVENT_ALTERED)
        except chain.NonCanonicalValueError as exc:
            problems.append((EVENT_HASH_MISMATCH, f"the signed fields cannot be hashed: {exc}"))

    id_key: int | str | None = None
    if canonical_id:
        # canonical_id: event_id is a str in canonical UUID form; smaller as an int, as exact
        id_key = int(event_id.replace("-", ""), 16)  # type: ignore[union-attr]
    elif type(event_id) is str:
        id_key = event_id
    return _new(
        _Checked,
        (
            True,
            sequence,
            event_id,
            id_key,
            session_id,
            authority,
            event_type,
            complete or "prev_event_hash" in event,
            get("prev_event_hash"),
            stored_hash if type(stored_hash) is str else None,
            None
            if _is_count(sequence) and sequence > 0  # type: ignore[operator]
            else chain.genesis_problem(event),
            tuple(problems),
            redacted,
            dropped,
            payload if event_type == _SEAL else None,
        ),
    )


def _field_name_problems(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = []
    missing, unknown = chain.field_name_problems(
        event, required=chain.ENVELOPE_FIELDS, allowed=_ENVELOPE_KEYS
    )
    if missing:
        problems.append((MISSING_FIELD, f"missing field(s): {', '.join(missing)}"))
    if unknown:
        names = ", ".join(sorted(_show(name) for name in unknown))
        problems.append((UNKNOWN_FIELD, f"field(s) not allowed in an event: {names}"))
    return problems


def _field_problems(event: Mapping[str, Any]) -> list[str]:
    """Messages for envelope fields that are present but malformed (``chain``'s rules, as a
    verifier reports them)."""
    return [message for _, message in chain.envelope_field_problems(event, verifying=True)]
