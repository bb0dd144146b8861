"""Offline verification of AgentOps event logs (EVENT_LOG_SPEC v0.6, §6-§8).

``verify_session`` checks a session's events and returns the §7 report as a plain,
JSON-serialisable dict. It consumes the events once, in order, keeping only a few values per
session and one compact entry per event id, so a JSONL file of any length is verified as a
stream. ``verify_file`` reads a JSONL log or a compliance JSON export (the format is detected)
and can spread the checks that concern one event alone over several processes, while the
checks of the chain run in order in the calling process. ``main`` is the ``agentops-verify``
command (also ``python -m agentops_sdk.verify``).

The package, one module per part, each importing only those before it:

- ``codes``: the §7 violation codes, evidence classes, formats and the caller's policy;
- ``events``: the checks of one event on its own (``_event_checks``), run in worker processes
  for large files;
- ``session``: the checks of the chain, event after event (``verify_session``);
- ``export_signature``: the signature of a whole compliance export;
- ``workers``: large JSONL files on several CPUs;
- ``files``: reading a JSONL log or a compliance export (through ``agentops_sdk.reading``)
  and verifying it (``verify_file``, ``verify_export``);
- ``render``: the report in words (``render_text``);
- ``cli``: the command line (``main``).

Every public name is importable from ``agentops_sdk.verify`` itself.

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

from .cli import main
from .codes import (
    AUTHORITATIVE_EVIDENCE,
    CHAIN_BROKEN,
    EMPTY_LOG,
    EVENT_HASH_MISMATCH,
    EXPORT_FORMAT,
    EXPORT_NOT_SIGNED,
    EXPORT_SIGNATURE,
    EXPORT_SIGNATURE_INVALID,
    FAIL,
    FORMAT_EXPORT,
    FORMAT_JSONL,
    INVALID_GENESIS,
    INVALID_SEAL,
    KEY_NOT_TRUSTED,
    LOG_DROP_PRESENT,
    MISSING_FIELD,
    MISSING_SESSION_END,
    MIXED,
    MIXED_AUTHORITY,
    NON_AUTHORITATIVE_EVIDENCE,
    ORDERING_VIOLATION,
    PARTIAL_AUTHORITATIVE_EVIDENCE,
    PASS,
    PAYLOAD_HASH_MISMATCH,
    POLICY_VIOLATION,
    SCHEMA_VERSION_MISMATCH,
    SEAL_DIGEST_MISMATCH,
    SEAL_PAYLOAD_FIELDS,
    SEAL_SIGNATURE_INVALID,
    SEQUENCE_GAP,
    SESSION_MISMATCH,
    SIGNATURE_NOT_CHECKED,
    UNKNOWN_EVENT_TYPE,
    UNKNOWN_FIELD,
    UNSEALED_SESSION,
    VerifyPolicy,
)
from .export_signature import (
    EXPORT_SIGNED_FORM,
    SEAL_COVERS,
    ExportSignatureCheck,
    export_document_sha256,
    export_signature_build,
    export_signature_check,
    export_signature_message,
)
from .files import (
    LogFormatError,
    SessionFile,
    compliance_export_session,
    iter_jsonl_events,
    open_session_file,
    parse_event_line,
    parse_jsonl,
    read_compliance_export,
    session_from_bytes,
    verify_export,
    verify_file,
)
from .render import render_text
from .session import verify_session

__all__ = [
    "AUTHORITATIVE_EVIDENCE",
    "CHAIN_BROKEN",
    "EMPTY_LOG",
    "EVENT_HASH_MISMATCH",
    "EXPORT_FORMAT",
    "EXPORT_NOT_SIGNED",
    "EXPORT_SIGNATURE",
    "EXPORT_SIGNATURE_INVALID",
    "EXPORT_SIGNED_FORM",
    "FAIL",
    "FORMAT_EXPORT",
    "FORMAT_JSONL",
    "INVALID_GENESIS",
    "INVALID_SEAL",
    "KEY_NOT_TRUSTED",
    "LOG_DROP_PRESENT",
    "MISSING_FIELD",
    "MISSING_SESSION_END",
    "MIXED",
    "MIXED_AUTHORITY",
    "NON_AUTHORITATIVE_EVIDENCE",
    "ORDERING_VIOLATION",
    "PARTIAL_AUTHORITATIVE_EVIDENCE",
    "PASS",
    "PAYLOAD_HASH_MISMATCH",
    "POLICY_VIOLATION",
    "SCHEMA_VERSION_MISMATCH",
    "SEAL_COVERS",
    "SEAL_DIGEST_MISMATCH",
    "SEAL_PAYLOAD_FIELDS",
    "SEAL_SIGNATURE_INVALID",
    "SEQUENCE_GAP",
    "SESSION_MISMATCH",
    "SIGNATURE_NOT_CHECKED",
    "UNKNOWN_EVENT_TYPE",
    "UNKNOWN_FIELD",
    "UNSEALED_SESSION",
    "ExportSignatureCheck",
    "LogFormatError",
    "SessionFile",
    "VerifyPolicy",
    "compliance_export_session",
    "export_document_sha256",
    "export_signature_build",
    "export_signature_check",
    "export_signature_message",
    "iter_jsonl_events",
    "main",
    "open_session_file",
    "parse_event_line",
    "parse_jsonl",
    "read_compliance_export",
    "render_text",
    "session_from_bytes",
    "verify_export",
    "verify_file",
    "verify_session",
]
