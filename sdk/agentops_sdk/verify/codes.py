"""Violation codes, evidence classes, formats and the caller's policy (spec §7)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import chain

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
#: The export's transparency section does not prove the session's entry in the log.
LOG_INCLUSION_INVALID = "LOG_INCLUSION_INVALID"

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


_show = chain.shown


_is_count = chain.is_count
_canonical_uuid = chain.CANONICAL_UUID.match  # inline on the per-event path


def _member(value: Any, allowed: frozenset[str]) -> bool:
    """``value in allowed`` for any JSON value (a list or object is unhashable)."""
    return type(value) is str and value in allowed
