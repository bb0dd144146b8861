"""Offline verification of AgentOps event logs (EVENT_LOG_SPEC v0.6, §6-§8).

``verify_session`` checks a session's events and returns the §7 report as a plain,
JSON-serialisable dict. It consumes the events once, in order, keeping only a few values per
session and one compact entry per event id, so a JSONL file of any length is verified as a
stream. ``verify_file`` reads a JSONL log or a compliance JSON export (the format is detected)
and can spread the checks that concern one event alone over several processes, while the
checks of the chain run in order in the calling process. ``main`` is the ``agentops-verify``
command (also ``python -m agentops_sdk.verify``).

How the checks are reported, so that each defect is named once, at the event that carries it:

- ``MISSING_FIELD`` covers an envelope field that is absent or malformed (wrong type, not a
  UUID, timestamp not RFC 3339 UTC, an ``event_id`` used twice), and a payload that lacks what
  its event type requires (spec §4). ``UNKNOWN_FIELD`` names fields the envelope must not have.
- ``prev_event_hash`` is compared with the ``event_hash`` *stored* in the preceding event of the
  log, so an altered event is reported at itself (``PAYLOAD_HASH_MISMATCH`` or
  ``EVENT_HASH_MISMATCH``) and its successor still links. After a sequence gap the link is
  compared with the event that precedes it in the log: a removed event also breaks the chain
  (``SEQUENCE_GAP`` and ``CHAIN_BROKEN``), a gap in a re-hashed chain is only ``SEQUENCE_GAP``.
- The seal's statements about the chain (digest, final hash, event count, completeness,
  drops) are compared only while the sequence numbers are contiguous: after a gap, the
  ``SEQUENCE_GAP`` already shows that this is not the chain that was sealed.
- A redacted event (``"payload": null``) keeps its ``payload_hash``; its payload is not checked
  and its sequence number is listed under ``redacted_events``.
- ``event_count`` in the report counts the events of the log other than ``CHAIN_SEAL``, which
  is what the seal's own ``event_count`` counts (spec §6).
- ``replay_fingerprint`` is ``"sha256:"`` + the ``event_hash`` of the last event of the log (the
  seal, when sealed): it names this exact log. It is set only when the log passes.
- A compliance export is also checked as a whole: the seal's signature covers only its
  events, so the service signs the whole document (``export_signature``). A signature that
  does not verify is ``EXPORT_SIGNATURE_INVALID``; an export without one is at best partial
  (``EXPORT_NOT_SIGNED``), with the same key trust rules as the seal. The report of an
  export adds ``export_signature`` and ``coverage`` (which part each valid signature covers).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import multiprocessing
import os
import re
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import chain, fastjson, seal

# Violation codes (spec §7).
EMPTY_LOG = "EMPTY_LOG"
MISSING_FIELD = "MISSING_FIELD"
UNKNOWN_FIELD = "UNKNOWN_FIELD"
SCHEMA_VERSION_MISMATCH = "SCHEMA_VERSION_MISMATCH"
UNKNOWN_EVENT_TYPE = "UNKNOWN_EVENT_TYPE"
SESSION_MISMATCH = "SESSION_MISMATCH"
PAYLOAD_HASH_MISMATCH = "PAYLOAD_HASH_MISMATCH"
EVENT_HASH_MISMATCH = "EVENT_HASH_MISMATCH"
SEQUENCE_GAP = "SEQUENCE_GAP"
INVALID_GENESIS = "INVALID_GENESIS"
CHAIN_BROKEN = "CHAIN_BROKEN"
MIXED_AUTHORITY = "MIXED_AUTHORITY"
ORDERING_VIOLATION = "ORDERING_VIOLATION"
INVALID_SEAL = "INVALID_SEAL"
SEAL_DIGEST_MISMATCH = "SEAL_DIGEST_MISMATCH"
SEAL_SIGNATURE_INVALID = "SEAL_SIGNATURE_INVALID"
POLICY_VIOLATION = "POLICY_VIOLATION"
#: A compliance export whose export signature does not verify: some part of the document
#: (session, findings, custody, notices...) was changed after the service signed it.
EXPORT_SIGNATURE_INVALID = "EXPORT_SIGNATURE_INVALID"

# Evidence classes and the reasons a server session is only partial (spec §7).
AUTHORITATIVE_EVIDENCE = "AUTHORITATIVE_EVIDENCE"
PARTIAL_AUTHORITATIVE_EVIDENCE = "PARTIAL_AUTHORITATIVE_EVIDENCE"
NON_AUTHORITATIVE_EVIDENCE = "NON_AUTHORITATIVE_EVIDENCE"
UNSEALED_SESSION = "UNSEALED_SESSION"
SIGNATURE_NOT_CHECKED = "SIGNATURE_NOT_CHECKED"
KEY_NOT_TRUSTED = "KEY_NOT_TRUSTED"
MISSING_SESSION_END = "MISSING_SESSION_END"
LOG_DROP_PRESENT = "LOG_DROP_PRESENT"
#: A compliance export that carries no export signature (made before exports were signed,
#: or stripped of it): only its events are covered, by the seal.
EXPORT_NOT_SIGNED = "EXPORT_NOT_SIGNED"

PASS = "PASS"
FAIL = "FAIL"
MIXED = "mixed"

EXPORT_FORMAT = "agentops-compliance-export"
#: The member of a compliance export that holds its export signature.
EXPORT_SIGNATURE = "export_signature"
FORMAT_JSONL = "jsonl"
FORMAT_EXPORT = "compliance-export"

#: What a seal payload must hold besides its signature (spec §6).
SEAL_PAYLOAD_FIELDS = (
    "ingestion_service_id",
    "seal_timestamp",
    "session_digest",
    "final_event_hash",
    "event_count",
    "complete",
    "total_drops",
)

_ENVELOPE_KEYS = frozenset(chain.ENVELOPE_FIELDS)
_SESSION_END = "SESSION_END"
_SESSION_START = "SESSION_START"
_LOG_DROP = "LOG_DROP"
_SEAL = chain.SEAL_EVENT_TYPE
_KEY_ID = re.compile(r"[0-9a-f]{16}\Z")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


@dataclass(frozen=True)
class VerifyPolicy:
    """Caller policy (spec §7); either flag turns a weaker session into FAIL."""

    reject_local_authority: bool = False
    require_authoritative: bool = False

    @classmethod
    def from_value(cls, value: VerifyPolicy | Mapping[str, Any] | None) -> VerifyPolicy:
        """Accept a policy, a mapping of its flags, or None; unknown flags are an error.

        A misspelt flag must not silently weaken verification, hence the error.
        """
        if value is None:
            return cls()
        if isinstance(value, VerifyPolicy):
            return value
        unknown = set(value) - {"reject_local_authority", "require_authoritative"}
        if unknown:
            raise ValueError(f"unknown policy flag(s): {', '.join(sorted(map(str, unknown)))}")
        return cls(
            reject_local_authority=bool(value.get("reject_local_authority", False)),
            require_authoritative=bool(value.get("require_authoritative", False)),
        )


def _show(value: Any, limit: int = 80) -> str:
    """A value as it may appear in a message: JSON-quoted, ASCII, and short."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value).encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= chain.MAX_SAFE_INTEGER


def _member(value: Any, allowed: frozenset[str]) -> bool:
    """``value in allowed`` for any JSON value (a list or object is unhashable)."""
    return type(value) is str and value in allowed


def _name(value: Any) -> str:
    """An event type as it may appear in a message."""
    return value if _member(value, chain.EVENT_TYPES) else _show(value)


# --------------------------------------------------------------------------------------
# The checks of one event on its own
# --------------------------------------------------------------------------------------


#: An event after the checks that need nothing but the event itself: what the chain checks
#: still need from it. ``_event_checks`` builds it, possibly in a worker process, and
#: ``_SessionCheck.add`` judges it against the events before it. A plain tuple, because it
#: is built, sent between processes and taken apart once per event:
#: ``(is_object, sequence, event_id, id_key, session_id, authority, event_type, has_prev,
#: prev_hash, stored_hash, genesis_problem, problems, redacted, dropped, seal_payload)``
#: where ``id_key`` is an exact and compact key for the duplicate-id set, ``stored_hash`` the
#: event_hash if it is a string, ``genesis_problem`` why the event cannot open a log,
#: ``problems`` the ``(code, message)`` pairs found in the event alone, ``dropped`` the
#: dropped_count of a LOG_DROP and ``seal_payload`` the payload of a CHAIN_SEAL.
_Checked = tuple[
    bool,
    Any,
    Any,
    int | str | None,
    Any,
    Any,
    Any,
    bool,
    Any,
    str | None,
    str | None,
    tuple[tuple[str, str], ...],
    bool,
    int,
    Any,
]

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
_NOT_AN_OBJECT: _Checked = (
    False,
    None,
    None,
    None,
    None,
    None,
    None,
    False,
    None,
    None,
    None,
    (),
    False,
    0,
    None,
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
    canonical_id = type(event_id) is str and _CANONICAL_UUID.match(event_id) is not None
    if not (
        complete
        and canonical_id
        and type(session_id) is str
        and _CANONICAL_UUID.match(session_id) is not None
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
            wanting = chain.payload_problems(event_type, payload)
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
        id_key = int(event_id.replace("-", ""), 16)  # smaller than the string, as exact
    elif type(event_id) is str:
        id_key = event_id
    return (
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
        None if _is_count(sequence) and sequence > 0 else chain.genesis_problem(event),
        tuple(problems),
        redacted,
        dropped,
        payload if event_type == _SEAL else None,
    )


def _field_name_problems(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = []
    missing = [name for name in chain.ENVELOPE_FIELDS if name not in event]
    if missing:
        problems.append((MISSING_FIELD, f"missing field(s): {', '.join(missing)}"))
    unknown = sorted(_show(name) for name in event if name not in _ENVELOPE_KEYS)
    if unknown:
        problems.append((UNKNOWN_FIELD, f"field(s) not allowed in an event: {', '.join(unknown)}"))
    return problems


def _field_problems(event: Mapping[str, Any]) -> list[str]:
    """Messages for envelope fields that are present but malformed.

    The three hashes are judged by comparison instead (a computed or linked hash is
    well-formed by construction), except a redacted event's ``payload_hash``.
    """
    problems = []
    get = event.get
    for name in ("event_id", "session_id"):
        if name in event and not chain.is_uuid(get(name)):
            problems.append(f"{name} must be a UUID string")
    if "sequence_number" in event and not _is_count(get("sequence_number")):
        problems.append("sequence_number must be an integer >= 0")
    if "timestamp_wall" in event and not chain.is_rfc3339_utc(get("timestamp_wall")):
        problems.append("timestamp_wall must be an RFC 3339 UTC timestamp ending in Z")
    if "timestamp_monotonic" in event and not _is_count(get("timestamp_monotonic")):
        problems.append("timestamp_monotonic must be an integer >= 0")
    for name in ("event_type", "source_sdk_ver", "authority_id"):
        if name in event and type(get(name)) is not str:
            problems.append(f"{name} must be a string")
    payload = get("payload")
    if payload is not None and not isinstance(payload, Mapping):
        problems.append("payload must be an object (or null when withheld)")
    if payload is None and "payload_hash" in event and not chain.is_sha256_hex(get("payload_hash")):
        problems.append("payload_hash must be 64 lowercase hex characters")
    if "chain_authority" in event and not _member(get("chain_authority"), chain.AUTHORITIES):
        problems.append("chain_authority must be 'server' or 'sdk'")
    return problems


# --------------------------------------------------------------------------------------
# The checks of the chain, event after event
# --------------------------------------------------------------------------------------


class _SessionCheck:
    """The state of one verification: a handful of values, never the events themselves."""

    def __init__(
        self,
        *,
        trusted_keys: Iterable[Ed25519PublicKey],
        embedded_key: Ed25519PublicKey | None,
        trusted_key_ids: Iterable[str],
        policy: VerifyPolicy,
    ) -> None:
        self.policy = policy
        self.embedded_key = embedded_key
        wanted_ids = {kid.strip().lower() for kid in trusted_key_ids}
        self.trusted: list[tuple[Ed25519PublicKey, str]] = [
            (key, seal.key_id(key)) for key in trusted_keys
        ]
        # An embedded key is trusted only when the caller named its key id out of band.
        if embedded_key is not None and seal.key_id(embedded_key) in wanted_ids:
            self.trusted.append((embedded_key, seal.key_id(embedded_key)))

        self.violations: list[dict[str, Any]] = []
        self.position = 0  # events consumed so far
        self.seal_count = 0
        self.session_id: str | None = None  # set by the first event that has one
        self.authority: str | None = None  # likewise
        self.mixed = False
        self.expected_sequence = 0
        self.contiguous = True  # no sequence gap so far
        self.prev_hash: str | None = None  # event_hash stored in the preceding event
        self.last_hash: str | None = None  # event_hash stored in the last event
        self.seen_ids: set[int | str] = set()
        self.ended = False
        self.sealed = False
        self.drops = 0
        self.drops_known = True  # false once a LOG_DROP payload is withheld
        self.log_drop = False
        self.redacted: list[int | None] = []
        self.seal_report: dict[str, Any] | None = None
        self.signature_checked = False
        self.key_not_trusted = False
        # Set by ``verify_export`` for a compliance export: the check of its export signature.
        self.export: ExportSignatureCheck | None = None

    def flag(self, code: str, message: str, sequence: Any = None, event_id: Any = None) -> None:
        self.violations.append(
            {
                "type": code,
                "message": message,
                "sequence_number": sequence if _is_count(sequence) else None,
                "event_id": event_id if type(event_id) is str else None,
            }
        )

    def add(self, event: _Checked) -> None:
        """Report the event's own problems, then judge it against the events before it."""
        position = self.position
        self.position = position + 1
        (
            is_object,
            sequence,
            event_id,
            id_key,
            session_id,
            authority,
            event_type,
            has_prev,
            prev_hash,
            stored_hash,
            genesis_problem,
            problems,
            redacted,
            dropped,
            seal_payload,
        ) = event
        if not is_object:
            self.flag(MISSING_FIELD, f"entry {position + 1} of the log is not a JSON object")
            self._skip_sequence()
            self.prev_hash = self.last_hash = None
            return
        for code, message in problems:
            self.flag(code, message, sequence, event_id)

        if id_key is not None:
            seen = self.seen_ids
            size = len(seen)
            seen.add(id_key)
            if len(seen) == size:
                self.flag(
                    MISSING_FIELD,
                    f"event_id {_show(event_id)} is already used by an earlier event",
                    sequence,
                    event_id,
                )
        if session_id != self.session_id:
            self._check_session(session_id, sequence, event_id)
        if authority != self.authority:
            self._check_authority(authority, sequence, event_id)
        if type(sequence) is int and sequence == self.expected_sequence:
            self.expected_sequence = sequence + 1
        else:
            self._check_sequence(sequence, position, event_id)
        if position == 0:
            if genesis_problem is not None:
                self.flag(INVALID_GENESIS, genesis_problem, sequence, event_id)
        elif has_prev and self.prev_hash is not None and prev_hash != self.prev_hash:
            self.flag(
                CHAIN_BROKEN,
                "prev_event_hash does not match the event_hash of the preceding event",
                sequence,
                event_id,
            )
        if self.seal_count or self.ended or (event_type == _SESSION_START and position):
            self._check_order(event_type, position, sequence, event_id)

        if redacted:
            self.redacted.append(sequence if _is_count(sequence) else None)
            if event_type == _LOG_DROP:
                self.drops_known = False
        self.drops += dropped
        if event_type == _SEAL:
            self.seal_count += 1
            if self.seal_count == 1:
                self._check_seal(seal_payload, authority, position, sequence, event_id)
        elif event_type == _SESSION_END:
            self.ended = True
        elif event_type == _LOG_DROP:
            self.log_drop = True
        self.prev_hash = self.last_hash = stored_hash

    def _check_session(self, session_id: Any, sequence: Any, event_id: Any) -> None:
        """One session per log: the first event names it."""
        if type(session_id) is not str:
            return  # reported as a malformed field
        if self.session_id is None:
            self.session_id = session_id
            return
        self.flag(
            SESSION_MISMATCH,
            f"session_id {_show(session_id)} differs from the session's {_show(self.session_id)}",
            sequence,
            event_id,
        )

    def _check_authority(self, authority: Any, sequence: Any, event_id: Any) -> None:
        """One chain authority per session (spec §5): the first event sets it."""
        if not _member(authority, chain.AUTHORITIES):
            return  # reported as a malformed field
        if self.authority is None:
            self.authority = authority
            return
        self.mixed = True
        self.flag(
            MIXED_AUTHORITY,
            f"chain_authority {_show(authority)} differs from the session's "
            f"{_show(self.authority)}; one session has one chain authority",
            sequence,
            event_id,
        )

    def _skip_sequence(self) -> None:
        self.contiguous = False
        self.expected_sequence += 1

    def _check_sequence(self, sequence: Any, position: int, event_id: Any) -> None:
        """Report each jump once, then continue from the number found."""
        if not _is_count(sequence):
            self._skip_sequence()  # reported as a malformed field
            return
        expected = self.expected_sequence
        self.contiguous = False
        if position == 0:
            message = f"the log starts at sequence {sequence}; events 0-{sequence - 1} are missing"
        elif sequence > expected:
            missing = sequence - expected
            message = (
                f"sequence jumps from {expected - 1} to {sequence}: "
                f"{missing} event{'s' if missing > 1 else ''} missing"
            )
        else:
            message = f"sequence {sequence} repeats or goes back (the previous was {expected - 1})"
        self.flag(SEQUENCE_GAP, message, sequence, event_id)
        self.expected_sequence = sequence + 1

    def _check_order(self, event_type: Any, position: int, sequence: Any, event_id: Any) -> None:
        """Spec §4: SESSION_START first, nothing but the seal after SESSION_END, seal last."""
        if self.seal_count:
            message = f"{_name(event_type)} follows the CHAIN_SEAL, which must be the last event"
        elif self.ended and event_type != _SEAL:
            message = f"{_name(event_type)} follows SESSION_END; only CHAIN_SEAL may"
        elif event_type == _SESSION_START and position > 0:
            message = "SESSION_START may only be the first event"
        else:
            return
        self.flag(ORDERING_VIOLATION, message, sequence, event_id)

    # ----------------------------------------------------------------------------------

    def _check_seal(
        self, payload: Any, authority: Any, position: int, sequence: Any, event_id: Any
    ) -> None:
        """Spec §6: structure, then the chain it closes, then its signature."""
        self.sealed = True
        where = (sequence, event_id)
        server = authority == chain.AUTHORITY_SERVER
        body = payload if isinstance(payload, Mapping) else {}
        signature = body.get("signature")
        self.seal_report = {
            "ingestion_service_id": body.get("ingestion_service_id"),
            "seal_timestamp": body.get("seal_timestamp"),
            "key_id": signature.get("key_id") if isinstance(signature, Mapping) else None,
            "signature_checked": False,
            "signature_valid": None,
            "key_trusted": False,
        }
        if not isinstance(payload, Mapping):
            self.flag(INVALID_SEAL, "the seal's payload is withheld or not an object", *where)
            return
        problems = _seal_shape_problems(payload, server=server)
        if problems:
            self.flag(INVALID_SEAL, "; ".join(problems), *where)
            return

        mismatches = self._seal_mismatches(payload, position)
        if mismatches:
            self.flag(SEAL_DIGEST_MISMATCH, "; ".join(mismatches), *where)

        if server:
            self._check_signature(payload, where)

    def _seal_mismatches(self, payload: Mapping[str, Any], position: int) -> list[str]:
        """How the seal's statements differ from the chain it closes.

        Not compared after a sequence gap: the SEQUENCE_GAP already shows that this is not
        the chain that was sealed, and repeating it at the seal would not locate anything.
        """
        if not self.contiguous:
            return []
        mismatches = []
        head = self.prev_hash
        if head is not None or position == 0:
            if payload["session_digest"] != f"sha256:{head}":
                mismatches.append("session_digest is not the hash of the last event before it")
            if payload["final_event_hash"] != head:
                mismatches.append("final_event_hash is not the hash of the last event before it")
        if payload["event_count"] != position:
            mismatches.append(
                f"event_count says {payload['event_count']} but {position} events precede it"
            )
        if payload["complete"] is not self.ended:
            mismatches.append(
                f"complete says {_show(payload['complete'])} but the chain "
                f"{'holds' if self.ended else 'has no'} SESSION_END"
            )
        if self.drops_known and payload["total_drops"] != self.drops:
            mismatches.append(
                f"total_drops says {payload['total_drops']} but the LOG_DROP events add up "
                f"to {self.drops}"
            )
        return mismatches

    def _check_signature(self, payload: Mapping[str, Any], where: tuple[Any, ...]) -> None:
        """Check with the caller's keys; only without any, with the key embedded in an export."""
        report = self.seal_report
        assert report is not None
        claimed = report["key_id"]
        session_id = self.session_id or ""
        if self.trusted:
            # The claimed key id picks the key first; retired keys are tried after it.
            ordered = sorted(self.trusted, key=lambda pair: pair[1] != claimed)
            report.update(signature_checked=True, key_trusted=True)
            self.signature_checked = True
            for key, kid in ordered:
                if seal.seal_signature_valid(key, session_id=session_id, seal_payload=payload):
                    report.update(signature_valid=True, key_id=kid)
                    return
            report["signature_valid"] = False
            self.flag(
                SEAL_SIGNATURE_INVALID,
                "the seal's signature does not verify under the trusted key(s)",
                *where,
            )
        elif self.embedded_key is not None:
            kid = seal.key_id(self.embedded_key)
            valid = seal.seal_signature_valid(
                self.embedded_key, session_id=session_id, seal_payload=payload
            )
            report.update(signature_checked=True, signature_valid=valid, key_id=kid)
            self.signature_checked = True
            if valid:
                self.key_not_trusted = True
            else:
                self.flag(
                    SEAL_SIGNATURE_INVALID,
                    "the seal's signature does not verify under the key embedded in the export",
                    *where,
                )

    # ----------------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        if self.position == 0:
            self.flag(EMPTY_LOG, "the log holds no events")
        if self.export is not None and self.export.signature_valid is False:
            self.flag(EXPORT_SIGNATURE_INVALID, self.export.problem or "")
        authority = MIXED if self.mixed else self.authority
        evidence_class, reasons = self._evidence() if not self.violations else (None, [])

        policy_problems = []
        if self.policy.reject_local_authority and self.authority == chain.AUTHORITY_SDK:
            policy_problems.append(
                "the policy rejects local (SDK) authority: the agent computed its own hashes"
            )
        if (
            self.policy.require_authoritative
            and evidence_class is not None
            and evidence_class != AUTHORITATIVE_EVIDENCE
        ):
            policy_problems.append(
                f"the policy requires AUTHORITATIVE_EVIDENCE; this session is {evidence_class}"
            )
        for message in policy_problems:
            self.flag(POLICY_VIOLATION, message)

        status = FAIL if self.violations else PASS
        if status == FAIL:
            evidence_class, reasons = None, []
        fingerprint = f"sha256:{self.last_hash}" if status == PASS else None
        report = {
            "spec_version": chain.SPEC_VERSION,
            "session_id": self.session_id,
            "status": status,
            "evidence_class": evidence_class,
            "authority": authority,
            "sealed": self.sealed,
            "complete": self.ended,
            "total_drops": self.drops,
            "partial_reasons": reasons,
            "event_count": self.position - self.seal_count,
            "replay_fingerprint": fingerprint,
            "seal": self.seal_report,
            "redacted_events": self.redacted,
            "violations": self.violations,
        }
        if self.export is not None:
            report["export_signature"] = self.export.section()
            report["coverage"] = self.export.coverage(self.seal_report)
        return report

    def _evidence(self) -> tuple[str, list[str]]:
        if self.authority != chain.AUTHORITY_SERVER:
            return NON_AUTHORITATIVE_EVIDENCE, []
        reasons = []
        if not self.sealed:
            reasons.append(UNSEALED_SESSION)
        elif not self.signature_checked:
            reasons.append(SIGNATURE_NOT_CHECKED)
        elif self.key_not_trusted:
            reasons.append(KEY_NOT_TRUSTED)
        if not self.ended:
            reasons.append(MISSING_SESSION_END)
        if self.log_drop:
            reasons.append(LOG_DROP_PRESENT)
        export = self.export
        if export is not None:
            if not export.present:
                reasons.append(EXPORT_NOT_SIGNED)
            elif not export.signature_checked:
                if SIGNATURE_NOT_CHECKED not in reasons:
                    reasons.append(SIGNATURE_NOT_CHECKED)
            elif not export.key_trusted and KEY_NOT_TRUSTED not in reasons:
                reasons.append(KEY_NOT_TRUSTED)
        return (PARTIAL_AUTHORITATIVE_EVIDENCE if reasons else AUTHORITATIVE_EVIDENCE), reasons


def _seal_shape_problems(payload: Mapping[str, Any], *, server: bool) -> list[str]:
    """Why a seal payload is not a well-formed seal (INVALID_SEAL); empty when it is."""
    missing = [name for name in SEAL_PAYLOAD_FIELDS if name not in payload]
    if server and "signature" not in payload:
        missing.append("signature")
    if missing:
        return [f"the seal lacks {', '.join(missing)}"]
    problems = []
    if type(payload["ingestion_service_id"]) is not str:
        problems.append("ingestion_service_id must be a string")
    if not chain.is_rfc3339_utc(payload["seal_timestamp"]):
        problems.append("seal_timestamp must be an RFC 3339 UTC timestamp")
    digest = payload["session_digest"]
    if not (
        type(digest) is str and digest.startswith("sha256:") and chain.is_sha256_hex(digest[7:])
    ):
        problems.append("session_digest must be 'sha256:' and 64 lowercase hex characters")
    if not chain.is_sha256_hex(payload["final_event_hash"]):
        problems.append("final_event_hash must be 64 lowercase hex characters")
    for name in ("event_count", "total_drops"):
        if not _is_count(payload[name]):
            problems.append(f"{name} must be an integer >= 0")
    if type(payload["complete"]) is not bool:
        problems.append("complete must be true or false")
    if server:
        signature = payload["signature"]
        if not (
            isinstance(signature, Mapping)
            and signature.get("alg") == seal.SIGNATURE_ALG
            and type(signature.get("value")) is str
            and type(signature.get("key_id")) is str
        ):
            problems.append("signature must hold alg 'Ed25519', key_id and value")
    return problems


def verify_session(
    events: Iterable[Mapping[str, Any]],
    *,
    trusted_keys: Iterable[Ed25519PublicKey] = (),
    embedded_key: Ed25519PublicKey | None = None,
    trusted_key_ids: Iterable[str] = (),
    policy: VerifyPolicy | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Verify one session's events, in log order, and return the spec §7 report.

    ``events`` is consumed once. ``trusted_keys`` are public keys the caller trusts out of band
    (the service's current and retired keys). ``embedded_key`` is the key found in a compliance
    export: it is used to check the seal only when no trusted key is given, and a valid
    signature under it alone is ``KEY_NOT_TRUSTED``, because whoever forged an export could
    embed a key of their own. It becomes trusted only when its key id is in
    ``trusted_key_ids`` (published by the service and given by the caller). Every event is
    checked; each problem is reported with its code, sequence number and event id.
    """
    check = _SessionCheck(
        trusted_keys=trusted_keys,
        embedded_key=embedded_key,
        trusted_key_ids=trusted_key_ids,
        policy=VerifyPolicy.from_value(policy),
    )
    add = check.add
    for event in events:
        add(_event_checks(event))
    return check.report()


# --------------------------------------------------------------------------------------
# Reading logs: JSONL (streamed) and compliance exports
# --------------------------------------------------------------------------------------


class LogFormatError(ValueError):
    """The input is neither a JSONL event log nor a compliance export (or is damaged)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuse duplicate keys: two parsers could otherwise read two different events."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {_show(key)}")
            seen.add(key)
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
_WHITESPACE = " \t\r\n"


def _parse_json(text: str, start: int, where: str) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        at = f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno}, column {exc.colno}"
        raise LogFormatError(f"{where} is not valid JSON ({exc.msg} at {at})") from None
    except ValueError as exc:  # duplicate key, NaN or Infinity, an integer too long to read
        raise LogFormatError(f"{where}: {exc}") from None
    except RecursionError:
        raise LogFormatError(f"{where} is nested too deeply") from None


def parse_event_line(line: str, number: int) -> dict[str, Any]:
    """One JSONL line as an event object; ``LogFormatError`` says what is wrong with it."""
    start = 0
    if line[:1] in _WHITESPACE:
        start = len(line) - len(line.lstrip(_WHITESPACE))
    if line[start : start + 1] != "{":
        raise LogFormatError(f"line {number} is not a JSON object")
    event, end = _parse_json(line, start, f"line {number}")
    if end != len(line) and line[end:].strip(_WHITESPACE):
        raise LogFormatError(f"line {number} holds more than one JSON value")
    return event


def parse_jsonl(lines: Iterable[str], first_line: int = 1) -> Iterator[dict[str, Any]]:
    """Yield the events of JSONL text given line by line; blank lines are skipped.

    An ordinary line (compact JSON of an object, as the SDK and the exports write it) is read
    by ``fastjson.loads_exact``; another line that holds an object and then only the newline
    is decoded by the C scanner directly; anything else takes ``parse_event_line``, which
    explains what is wrong.
    """
    scan = _DECODER.scan_once
    exact = fastjson.loads_exact
    unproven = fastjson.UNPROVEN
    number = first_line - 1
    try:
        for number, line in enumerate(lines, start=first_line):
            if line[:1] == "{":
                event = exact(line[:-1] if line[-1:] == "\n" else line)
                if event is not unproven:
                    yield event
                    continue
                try:
                    event, end = scan(line, 0)
                except (ValueError, StopIteration, RecursionError):
                    pass  # parse_event_line below says why
                else:
                    if end == len(line) or line[end:].isspace():
                        yield event
                        continue
            if line.strip(_WHITESPACE):
                yield parse_event_line(line, number)
    except UnicodeDecodeError:
        raise LogFormatError(f"the file is not UTF-8 text (near line {number + 1})") from None


def iter_jsonl_events(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the events of a JSONL file one at a time, holding one line in memory.

    Lines end at ``\n`` only (a ``\r`` before it is whitespace), as in the JSON Lines format;
    a byte order mark at the start of the file is ignored, as RFC 8259 allows.
    """
    with open(path, encoding="utf-8-sig", newline="\n") as handle:
        yield from parse_jsonl(handle)


@dataclass(frozen=True)
class SessionFile:
    """A session read from a file: its format, its events and any key embedded in it; for a
    compliance export also the whole document, whose export signature covers all of it."""

    format: str
    events: Iterable[dict[str, Any]]
    embedded_key: Ed25519PublicKey | None = None
    document: Mapping[str, Any] | None = None


def compliance_export_session(document: Any) -> SessionFile:
    """The events and embedded public key of a parsed compliance export (spec §8)."""
    if not isinstance(document, dict) or document.get("export_format") != EXPORT_FORMAT:
        raise LogFormatError(f"not a compliance export (export_format is not {EXPORT_FORMAT!r})")
    events = document.get("events")
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        raise LogFormatError("the export's events must be a list of JSON objects")
    custody = document.get("chain_of_custody")
    encoded = custody.get("public_key") if isinstance(custody, dict) else None
    key = None
    if encoded is not None:
        if not isinstance(encoded, str):
            raise LogFormatError("chain_of_custody.public_key must be a base64 string")
        try:
            key = seal.public_key_from_b64(encoded)
        except (seal.KeyLoadError, ValueError) as exc:
            raise LogFormatError(f"chain_of_custody.public_key: {exc}") from None
    return SessionFile(FORMAT_EXPORT, events, key, document)


def read_compliance_export(path: str | Path) -> SessionFile:
    """Read a compliance JSON export file (one JSON document, usually JCS on one line)."""
    with open(path, encoding="utf-8-sig") as handle:
        text = _read_text(handle)
    return compliance_export_session(_parse_document(text))


def _read_text(handle: IO[str]) -> str:
    try:
        return handle.read()
    except UnicodeDecodeError:
        raise LogFormatError("the file is not UTF-8 text") from None


def _parse_document(text: str) -> Any:
    start = len(text) - len(text.lstrip(_WHITESPACE))
    document, end = _parse_json(text, start, "the file")
    if text[end:].strip(_WHITESPACE):
        raise LogFormatError("the file holds more than one JSON document")
    return document


def open_session_file(path: str | Path) -> SessionFile:
    """Detect the format of ``path`` and return its session; JSONL events are streamed.

    A compliance export is one JSON object with ``export_format``; anything whose first line
    is another JSON object is JSONL. An empty file is a JSONL log without events.
    """
    with open(path, encoding="utf-8-sig", newline="\n") as handle:
        try:
            first = handle.readline()
            number = 1
            while first and not first.strip(_WHITESPACE):
                first = handle.readline()
                number += 1
        except UnicodeDecodeError:
            raise LogFormatError("the file is not UTF-8 text") from None
        if not first:
            return SessionFile(FORMAT_JSONL, iter(()))
        try:
            head = parse_event_line(first, number)
        except LogFormatError as line_error:
            if first.rstrip(_WHITESPACE).endswith("}"):
                raise  # a complete line that is broken: JSONL
            # Perhaps a pretty-printed export, which spans many lines.
            try:
                document = _parse_document(first + _read_text(handle))
            except LogFormatError:
                raise line_error from None
            if isinstance(document, dict) and "export_format" in document:
                return compliance_export_session(document)
            raise LogFormatError(
                "the file is one JSON document but not a compliance export "
                "(no export_format), nor a JSONL event log"
            ) from None
        if "export_format" in head:
            if _read_text(handle).strip(_WHITESPACE):
                raise LogFormatError("a compliance export must be a single JSON document")
            return compliance_export_session(head)
    return SessionFile(FORMAT_JSONL, iter_jsonl_events(path))


def verify_file(
    path: str | Path,
    *,
    trusted_keys: Iterable[Ed25519PublicKey] = (),
    trusted_key_ids: Iterable[str] = (),
    policy: VerifyPolicy | Mapping[str, Any] | None = None,
    workers: int | None = 1,
) -> dict[str, Any]:
    """Verify a JSONL log or a compliance export; raises ``LogFormatError`` or ``OSError``.

    With ``workers`` above 1 (``None``: one per usable CPU for JSONL files from 32 MB on),
    the checks of each event on its own (parsing, both hashes, field rules) run in that many
    worker processes while the chain checks stay here and see the events in order, so the
    report is the same. Where workers cannot be forked safely they start as fresh
    interpreters that import the caller's main module, which must therefore keep its work
    under ``if __name__ == "__main__":``.
    """
    source = open_session_file(path)
    options = {
        "trusted_keys": list(trusted_keys),
        "embedded_key": source.embedded_key,
        "trusted_key_ids": list(trusted_key_ids),
        "policy": VerifyPolicy.from_value(policy),
    }
    if workers is None:
        large = source.format == FORMAT_JSONL and os.path.getsize(path) >= _PARALLEL_MIN_BYTES
        workers = _usable_cpus() if large else 1
    if source.format == FORMAT_JSONL and workers > 1:
        check = _SessionCheck(**options)
        try:
            _check_jsonl_in_workers(Path(path), check, workers)
            return check.report()
        except BrokenProcessPool:
            pass  # workers could not start or died: verify here instead, from the start
        source = open_session_file(path)
    check = _SessionCheck(**options)
    add = check.add
    for event in source.events:
        add(_event_checks(event))
    if source.document is not None:
        check.export = export_signature_check(
            source.document,
            trusted_keys=options["trusted_keys"],
            trusted_key_ids=options["trusted_key_ids"],
        )
    return check.report()


def verify_export(
    document: Any,
    *,
    trusted_keys: Iterable[Ed25519PublicKey] = (),
    trusted_key_ids: Iterable[str] = (),
    policy: VerifyPolicy | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Verify a parsed compliance export: its events (chain and seal) and its export
    signature, which covers the rest of the document. Raises ``LogFormatError`` when it is
    not a compliance export. The report is ``verify_file``'s for the same file."""
    source = compliance_export_session(document)
    trusted_keys = list(trusted_keys)
    trusted_key_ids = list(trusted_key_ids)
    check = _SessionCheck(
        trusted_keys=trusted_keys,
        embedded_key=source.embedded_key,
        trusted_key_ids=trusted_key_ids,
        policy=VerifyPolicy.from_value(policy),
    )
    add = check.add
    for event in source.events:
        add(_event_checks(event))
    check.export = export_signature_check(
        document, trusted_keys=trusted_keys, trusted_key_ids=trusted_key_ids
    )
    return check.report()


# --------------------------------------------------------------------------------------
# The export signature: the whole compliance export, not only its events
# --------------------------------------------------------------------------------------

#: What an export signature signs, in words (also written into the signature member).
EXPORT_SIGNED_FORM = (
    "Ed25519 over the RFC 8785 statement {alg, document_sha256, export_format, "
    "spec_version}, where document_sha256 is the SHA-256 of the RFC 8785 form of the whole "
    "document without export_signature"
)
#: The part of an export the seal's signature covers (through the hash chain).
SEAL_COVERS = ("events",)


def export_document_sha256(document: Mapping[str, Any]) -> str:
    """SHA-256 of the RFC 8785 form of ``document`` without its export signature."""
    unsigned = {key: value for key, value in document.items() if key != EXPORT_SIGNATURE}
    return chain.sha256_hex(chain.canonicalize(unsigned))


def export_signature_message(document_sha256: str) -> bytes:
    """The exact bytes an export signature covers: a statement naming the document's hash.

    Signing the hash rather than the document lets the service sign an export of any size
    as it streams it; SHA-256 binds every byte of the document's canonical form.
    """
    return chain.canonicalize(
        {
            "alg": seal.SIGNATURE_ALG,
            "document_sha256": document_sha256,
            "export_format": EXPORT_FORMAT,
            "spec_version": chain.SPEC_VERSION,
        }
    )


def export_signature_build(private_key: Any, document_sha256: str) -> dict[str, Any]:
    """The ``export_signature`` member of an export whose unsigned form hashes to
    ``document_sha256``, signed with ``private_key`` (the service's sealing key)."""
    public = private_key.public_key()
    signature = private_key.sign(export_signature_message(document_sha256))
    return {
        "alg": seal.SIGNATURE_ALG,
        "key_id": seal.key_id(public),
        "public_key": seal.public_key_b64(public),
        "document_sha256": document_sha256,
        "signed": EXPORT_SIGNED_FORM,
        "value": base64.b64encode(signature).decode("ascii"),
    }


@dataclass
class ExportSignatureCheck:
    """What the check of a compliance export's signature found."""

    present: bool
    covers: list[str]  # the document's members the signature covers (all but itself)
    key_id: Any = None
    signature_checked: bool = False
    signature_valid: bool | None = None
    key_trusted: bool = False
    document_sha256: str | None = None  # recomputed from the document as read
    problem: str | None = None  # why it is invalid

    def section(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "key_id": self.key_id if type(self.key_id) is str else None,
            "signature_checked": self.signature_checked,
            "signature_valid": self.signature_valid,
            "key_trusted": self.key_trusted,
            "document_sha256": self.document_sha256,
            "covers": self.covers if self.present else [],
        }

    def coverage(self, seal_report: Mapping[str, Any] | None) -> dict[str, list[str]]:
        """Each part of the document under the valid signatures that cover it."""
        seal_valid = bool(seal_report and seal_report.get("signature_valid"))
        by_seal = [name for name in SEAL_COVERS if seal_valid and name in self.covers]
        by_export = list(self.covers) if self.signature_valid else []
        return {
            "seal_signature": by_seal,
            "export_signature": by_export,
            "not_covered": [name for name in self.covers if name not in by_seal + by_export],
        }


def _signature_bytes(member: Mapping[str, Any]) -> bytes | None:
    value = member.get("value")
    if member.get("alg") != seal.SIGNATURE_ALG or type(value) is not str:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def export_signature_check(
    document: Mapping[str, Any],
    *,
    trusted_keys: Iterable[Ed25519PublicKey] = (),
    trusted_key_ids: Iterable[str] = (),
) -> ExportSignatureCheck:
    """Check the export signature with the same trust rules as the seal: the caller's keys
    when there are any; otherwise the key embedded in the signature, trusted only when its
    key id is one the caller named."""
    covers = sorted((name for name in document if name != EXPORT_SIGNATURE), key=str)
    member = document.get(EXPORT_SIGNATURE)
    if member is None:
        return ExportSignatureCheck(present=False, covers=covers)
    result = ExportSignatureCheck(present=True, covers=covers)
    if not isinstance(member, Mapping):
        result.signature_valid = False
        result.problem = "export_signature is not an object"
        return result
    result.key_id = member.get("key_id")
    raw = _signature_bytes(member)
    try:
        result.document_sha256 = export_document_sha256(document)
    except chain.NonCanonicalValueError as exc:
        result.signature_valid = False
        result.problem = f"the document holds a value RFC 8785 cannot represent: {exc}"
        return result
    if raw is None:
        result.signature_valid = False
        result.problem = "export_signature must hold alg 'Ed25519' and a base64 value"
        return result

    wanted = {kid.strip().lower() for kid in trusted_key_ids}
    trusted = [(key, seal.key_id(key)) for key in trusted_keys]
    embedded = None
    if type(member.get("public_key")) is str:
        try:
            embedded = seal.public_key_from_b64(member["public_key"])
        except (seal.KeyLoadError, ValueError):
            embedded = None
    if embedded is not None and seal.key_id(embedded) in wanted:
        trusted.append((embedded, seal.key_id(embedded)))
    message = export_signature_message(result.document_sha256)

    def valid_under(key: Ed25519PublicKey) -> bool:
        try:
            key.verify(raw, message)
        except InvalidSignature:
            return False
        return True

    changed = (
        "the document was changed after the service signed it (a part such as the session, "
        "findings, chain of custody, notices or disclaimer differs)"
    )
    if trusted:
        result.signature_checked = result.key_trusted = True
        for key, kid in sorted(trusted, key=lambda pair: pair[1] != result.key_id):
            if valid_under(key):
                result.signature_valid = True
                result.key_id = kid
                return result
        result.signature_valid = False
        result.problem = f"the export signature does not verify under the trusted key(s): {changed}"
    elif embedded is not None:
        result.signature_checked = True
        result.key_id = seal.key_id(embedded)
        result.signature_valid = valid_under(embedded)
        if not result.signature_valid:
            result.problem = (
                f"the export signature does not verify under the key embedded in it: {changed}"
            )
    return result


# --------------------------------------------------------------------------------------
# Large JSONL files on several CPUs
# --------------------------------------------------------------------------------------

#: JSONL files from this size on are checked by worker processes when several CPUs are usable.
_PARALLEL_MIN_BYTES = 32 * 1024 * 1024
#: Lines are handed to workers in blocks of about this size (whole lines, so maybe more).
_BLOCK_BYTES = 1024 * 1024


def _worker_start() -> multiprocessing.context.BaseContext:
    """How worker processes start: forked when that is safe, else as fresh interpreters.

    Forking costs milliseconds where a fresh interpreter spends a few tenths of a second on
    its imports, but it copies a process as it is: with another thread running, a lock that
    thread holds would stay locked in the child forever. So only a Linux process with a
    single thread forks (the pool's own threads start after its workers).
    """
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _check_block(data: bytes, first_line: int) -> list[_Checked]:
    """Parse and check a block of whole JSONL lines; runs in a worker process."""
    try:
        text = data.decode("utf-8-sig" if first_line == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        raise LogFormatError(f"the file is not UTF-8 text (near line {line})") from None
    return [_event_checks(event) for event in parse_jsonl(text.split("\n"), first_line)]


def _check_jsonl_in_workers(path: Path, check: _SessionCheck, workers: int) -> None:
    """Feed ``check`` the events of a JSONL file whose own checks run in worker processes.

    This process reads the file in blocks of whole lines and keeps at most two blocks per
    worker in flight, so memory stays bounded whatever the file size; results come back in
    file order and go through the same chain checks as in a single process.
    """
    pending: deque[Future[list[_Checked]]] = deque()
    line = 1
    with open(path, "rb") as handle, ProcessPoolExecutor(workers, _worker_start()) as pool:

        def submit() -> bool:
            nonlocal line
            block = handle.read(_BLOCK_BYTES)
            if not block:
                return False
            if not block.endswith(b"\n"):
                block += handle.readline()
            pending.append(pool.submit(_check_block, block, line))
            line += block.count(b"\n")
            return True

        more = True
        while more and len(pending) < 2 * workers:
            more = submit()
        try:
            while pending:
                checked = pending.popleft().result()
                if more:
                    more = submit()
                for event in checked:
                    check.add(event)
        finally:
            for future in pending:
                future.cancel()


# --------------------------------------------------------------------------------------
# The report in words
# --------------------------------------------------------------------------------------

_VERDICTS = {
    AUTHORITATIVE_EVIDENCE: (
        "VERIFIED — AUTHORITATIVE EVIDENCE: every event is intact, the chain is complete "
        "and sealed by a trusted key."
    ),
    PARTIAL_AUTHORITATIVE_EVIDENCE: (
        "VERIFIED — PARTIAL AUTHORITATIVE EVIDENCE: every event is intact and the chain is "
        "unbroken, but:"
    ),
    NON_AUTHORITATIVE_EVIDENCE: (
        "VERIFIED — NON-AUTHORITATIVE EVIDENCE: the events are intact and consistently "
        "chained, but the recording agent computed the hashes itself, not an independent "
        "service; this shows consistency, not authenticity."
    ),
}

_REASONS = {
    UNSEALED_SESSION: "the ingestion service never sealed the session, so nothing vouches "
    "that it is complete",
    SIGNATURE_NOT_CHECKED: "the seal's signature was not checked: no public key was supplied",
    KEY_NOT_TRUSTED: "a signature (the seal's, or the export's) is valid only under a key "
    "embedded in the file itself, which anyone could have put there; supply the service's "
    "published key or key id",
    EXPORT_NOT_SIGNED: "the export carries no export signature (it was made before exports "
    "were signed, or the signature was removed): only its events are covered, by the seal; "
    "its session, findings, chain of custody, notices and the rest may have been changed",
    MISSING_SESSION_END: "the session has no recorded end (SESSION_END), so the recording may "
    "have stopped early",
    LOG_DROP_PRESENT: "the recorder reported {drops} lost event(s) (LOG_DROP)",
}

_DISCLAIMER = (
    "This report records what was verified cryptographically; it is not a certification of "
    "compliance with any law, regulation or standard, and it is not legal advice."
)


def _printable(value: Any) -> str:
    """Text safe for a terminal: control characters and lone surrogates escaped."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _signature_words(seal_info: Mapping[str, Any], authority: Any) -> str:
    if not seal_info["signature_checked"]:
        if authority == chain.AUTHORITY_SDK:
            return "none (a local seal is not signed)"
        return "not checked (no public key supplied)"
    if not seal_info["signature_valid"]:
        return "INVALID"
    if seal_info["key_trusted"]:
        return "valid, under a trusted key"
    return "valid, but only under the key embedded in the file (not trusted)"


def _export_signature_words(section: Mapping[str, Any]) -> str:
    if not section["present"]:
        return "none"
    return _signature_words(section, chain.AUTHORITY_SERVER)


def _coverage_lines(report: Mapping[str, Any]) -> list[str]:
    """Which parts of a compliance export each signature covers."""
    coverage = report["coverage"]
    section = report["export_signature"]
    seal_info = report["seal"] or {}
    lines = ["What the signatures cover"]
    seal_words = _signature_words(seal_info, report["authority"]) if seal_info else "no seal"
    lines.append(
        f"  Seal signature ({seal_words}): "
        + (
            "the events: every event, through the hash chain the seal closes"
            if coverage["seal_signature"]
            else "nothing"
        )
    )
    key = f", key id {_printable(section['key_id'])}" if section["key_id"] else ""
    lines.append(
        f"  Export signature ({_export_signature_words(section)}{key}): "
        + (
            "the whole document: " + ", ".join(coverage["export_signature"])
            if coverage["export_signature"]
            else "nothing"
        )
    )
    if coverage["not_covered"]:
        lines.append(
            "  Covered by no valid signature (may have been changed): "
            + ", ".join(coverage["not_covered"])
        )
    return lines


def _location(violation: Mapping[str, Any]) -> str:
    sequence, event_id = violation.get("sequence_number"), violation.get("event_id")
    if sequence is None and event_id is None:
        return "Whole log"
    parts = [f"Event #{sequence}" if sequence is not None else "Event (no sequence number)"]
    if event_id is not None:
        parts.append(f"(id {_printable(event_id)})")
    return " ".join(parts)


def render_text(report: Mapping[str, Any]) -> str:
    """The report for people: verdict first, then each problem, then technical details."""
    lines = []
    violations = report["violations"]
    if report["status"] == PASS:
        lines.append(_VERDICTS[report["evidence_class"]])
        for reason in report["partial_reasons"]:
            lines.append("  - " + _REASONS[reason].format(drops=report["total_drops"]))
    else:
        count = len(violations)
        lines.append(
            f"VERIFICATION FAILED — {count} problem{'s' if count != 1 else ''} found: the log has "
            "been altered, is incomplete, or breaks the rules of the event-log specification. "
            "It must not be relied on as evidence."
        )
        lines.append("")
        lines.append("Problems")
        for violation in violations:
            lines.append(
                f"  - {_location(violation)}: {_printable(violation['message'])} "
                f"[{violation['type']}]"
            )
    redacted = report["redacted_events"]
    if redacted:
        lines.append("")
        lines.append(
            f"{len(redacted)} event payload(s) were withheld (for example erased for privacy); "
            "their recorded hashes still take part in the chain."
        )

    seal_info = report["seal"]
    lines.append("")
    lines.append("Technical details")
    details = [
        ("Session", report["session_id"]),
        ("Events", f"{report['event_count']}" + (" and the seal" if report["sealed"] else "")),
        ("Chain authority", report["authority"]),
        ("Replay fingerprint", report["replay_fingerprint"] or "none (verification failed)"),
    ]
    if seal_info is None:
        details.append(("Seal", "none"))
    else:
        details += [
            ("Sealed by", seal_info["ingestion_service_id"]),
            ("Sealed at", seal_info["seal_timestamp"]),
            ("Signing key id", seal_info["key_id"]),
            ("Signature", _signature_words(seal_info, report["authority"])),
        ]
    details += [
        ("Session end recorded", "yes" if report["complete"] else "no"),
        ("Lost events reported", report["total_drops"]),
        ("Redacted events", ", ".join(map(str, redacted)) if redacted else "none"),
        ("Specification", report["spec_version"]),
    ]
    width = max(len(label) for label, _ in details)
    for label, value in details:
        shown = "-" if value is None else _printable(value)
        lines.append(f"  {label:<{width}}  {shown}")
    if "coverage" in report:
        lines.append("")
        lines += _coverage_lines(report)
    lines.append("")
    lines.append(_DISCLAIMER)
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentops-verify",
        description="Verify an AgentOps session log (JSONL) or compliance export (JSON) "
        "offline. Exit status: 0 verified, 1 verification failed, 2 unusable input.",
    )
    parser.add_argument("file", help="a .jsonl event log or a compliance .json export")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--trusted-key",
        action="append",
        default=[],
        metavar="BASE64_OR_PEM_PATH",
        help="the ingestion service's public key (base64 of the raw 32 bytes, or a PEM file); "
        "repeatable, e.g. for retired keys",
    )
    parser.add_argument(
        "--trusted-key-id",
        action="append",
        default=[],
        metavar="KEY_ID",
        help="trust the key embedded in a compliance export if its key id is this one "
        "(as published by the service)",
    )
    parser.add_argument(
        "--reject-local-authority",
        action="store_true",
        help="fail sessions whose hashes were computed by the SDK itself",
    )
    parser.add_argument(
        "--require-authoritative",
        action="store_true",
        help="fail anything below AUTHORITATIVE_EVIDENCE",
    )
    return parser


def _error(message: str) -> int:
    print(f"agentops-verify: {_printable(message)}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """``agentops-verify``: 0 when the log verifies, 1 when it does not, 2 for unusable input."""
    args = _argument_parser().parse_args(argv)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")

    trusted_keys = []
    for spec in args.trusted_key:
        try:
            trusted_keys.append(seal.public_key_load(spec))
        except (seal.KeyLoadError, ValueError, OSError) as exc:
            return _error(
                f"--trusted-key {spec}: not a usable key ({exc}); give the base64 of the raw "
                "32-byte public key or the path of a PEM file"
            )
    key_ids = [kid.strip().lower() for kid in args.trusted_key_id]
    for kid in key_ids:
        if not _KEY_ID.match(kid):
            return _error(f"--trusted-key-id {kid}: a key id is 16 hexadecimal characters")
    policy = VerifyPolicy(
        reject_local_authority=args.reject_local_authority,
        require_authoritative=args.require_authoritative,
    )

    try:
        report = verify_file(
            args.file,
            trusted_keys=trusted_keys,
            trusted_key_ids=key_ids,
            policy=policy,
            workers=None,  # large files on every usable CPU
        )
    except LogFormatError as exc:
        return _error(f"{args.file}: {exc}")
    except OSError as exc:
        return _error(f"cannot read {args.file}: {exc.strerror or exc}")
    except MemoryError:
        return _error(f"{args.file}: not enough memory to read it")

    if args.format == "json":
        output = json.dumps(report, indent=2, ensure_ascii=True)
    else:
        output = render_text(report)
    try:
        print(output)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head; the exit status still tells the verdict
        pass
    return 0 if report["status"] == PASS else 1


if __name__ == "__main__":
    # Run the imported module's main, so that worker processes find the same functions.
    from agentops_sdk.verify import main as _main

    sys.exit(_main())
