"""The export's ``transparency`` section: the session's entry in the service's public log.

``log_inclusion_check`` answers one of:

- ``verified``: the section's leaf is exactly this session's seal (``merkle.seal_leaf``), its
  tree head is signed by a trusted key, and the audit path leads from the leaf to the head's
  root (RFC 9162 §2.1.3.2); with a TSA certificate, the head's RFC 3161 token verifies too;
- ``absent``: the export has no section (the session is not sealed, or was sealed before the
  log existed, or the export predates the log);
- ``unchecked``: the head is signed by a key the verifier was not given to trust, so nothing
  about the log can be said (the proof is not read);
- ``invalid``: anything else, with the reason (violation LOG_INCLUSION_INVALID).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .. import chain, merkle

VERIFIED = "verified"
ABSENT = "absent"
UNCHECKED = "unchecked"
INVALID = "invalid"
SECTION = "transparency"


def _seal_event(events: Any) -> Mapping[str, Any] | None:
    if not isinstance(events, list):
        return None
    seals = [
        e for e in events if isinstance(e, dict) and e.get("event_type") == chain.SEAL_EVENT_TYPE
    ]
    return seals[0] if len(seals) == 1 else None


def log_inclusion_check(
    document: Mapping[str, Any],
    *,
    trusted: Iterable[tuple[Ed25519PublicKey, str]],
    tsa_certificate: bytes | None = None,
) -> tuple[str, str | None]:
    """``(status, problem)`` for the export's transparency section; never raises."""
    section = document.get(SECTION)
    if section is None:
        return ABSENT, None
    try:
        return _check(document, section, list(trusted), tsa_certificate)
    except merkle.ProofError as exc:
        return INVALID, str(exc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return INVALID, f"the transparency section is malformed ({type(exc).__name__}: {exc})"


def _check(
    document: Mapping[str, Any],
    section: Any,
    trusted: list[tuple[Ed25519PublicKey, str]],
    tsa_certificate: bytes | None,
) -> tuple[str, str | None]:
    if not isinstance(section, dict):
        return INVALID, "the transparency section is not an object"
    seal_event = _seal_event(document.get("events"))
    if seal_event is None:
        return INVALID, "a log entry is stated for an export without exactly one seal"
    leaf = section["leaf"]
    expected = merkle.seal_leaf(
        session_id=str(seal_event.get("session_id")), seal_payload=seal_event.get("payload") or {}
    )
    if not isinstance(leaf, str) or leaf.encode("utf-8") != expected:
        return INVALID, "the log's entry is not this session's seal"
    head = section["tree_head"]
    keys = [key for key, kid in trusted if kid == head.get("key_id")]
    if not keys:
        return UNCHECKED, None
    if not any(merkle.tree_head_signature_valid(key, head) for key in keys):
        return INVALID, "the tree head's signature does not verify under the trusted key"
    index, size = section["leaf_index"], head["tree_size"]
    if not (chain.is_count(index) and chain.is_count(size)):
        return INVALID, "leaf_index and tree_size must be counts"
    merkle.verify_inclusion(
        leaf_hash_=merkle.leaf_hash(expected),
        index=index,
        size=size,
        path=[merkle.hex_hash(p) for p in section["audit_path"]],
        root=merkle.hex_hash(head["root_hash"]),
    )
    if tsa_certificate is not None:
        from .tsa import tsa_token_problem

        problem = tsa_token_problem(head, tsa_certificate)
        if problem is not None:
            return INVALID, problem
    return VERIFIED, None
