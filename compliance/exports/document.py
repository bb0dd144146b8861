"""The compliance JSON export (spec §8) and the JSONL event log, written as streams.

The compliance JSON is one RFC 8785 document, so its SHA-256 is stable and anyone can check
that a file is canonical with ``rfc8785.dumps(json.loads(data)) == data``. Its events are the
full §2 objects exactly as stored; ``agentops-verify`` reads the file directly.

The seal's signature covers the events (through the hash chain). The rest of the document
(session, verification, findings, chain of custody, notices, disclaimer, who exported it) is
covered by the export signature: the service signs the whole document with its sealing key
(``export_signature``: Ed25519 over a statement of the SHA-256 of the RFC 8785 form of the
document without that member; ``agentops_sdk.verify`` defines it and checks it). The document
is written twice, once only to hash it: each pass streams the events from the spool, so
memory stays flat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import agentops_sdk
from agentops_sdk import chain, seal
from agentops_sdk.verify import (
    EXPORT_FORMAT,
    EXPORT_SIGNATURE,
    SEAL_COVERS,
    export_signature_build,
)

from ingestion import keys
from ingestion.otlp.services import SESSION_SOURCE as OTLP_SOURCE

from .. import selectors, statements
from ..canonical import Canonical, canonical_array, canonical_write
from ..lazyjson import LazyArray
from .context import Actor, ExportContext, rfc3339
from .erasures import erasures_section, unrecorded_notice
from .redaction import MARKER
from .transparency import transparency_section

# 1.1: the export signature covers the whole document; a masked copy says so (redaction).
EXPORT_VERSION = "1.1"
VERIFIER_SOFTWARE = f"agentops-sdk/{agentops_sdk.__version__} (agentops_sdk.verify)"
CANONICALIZATION = "RFC 8785"
HASH_ALGORITHM = "SHA-256"

Write = Callable[[bytes], Any]


def jsonl_write(*, context: ExportContext, write: Write) -> None:
    """The stored chain, one canonical envelope per line, the seal (if any) last.

    Nothing but §2 objects may appear in the file, so an unsealed session cannot say so
    inside it; the verifier reports it (UNSEALED_SESSION), and the file name, the HTTP
    headers, the bulk manifest and the ledger carry the seal state.
    """
    wrote = False
    for chunk in context.event_chunks(b"\n"):
        write(chunk)
        wrote = True
    if wrote:
        write(b"\n")


def compliance_json_write(*, context: ExportContext, actor: Actor, write: Write) -> None:
    """The signed document: hashed once without its signature, then written with it."""
    unsigned = hashlib.sha256()
    canonical_write(compliance_document(context=context, actor=actor), unsigned.update)
    document = compliance_document(context=context, actor=actor)
    document[EXPORT_SIGNATURE] = export_signature_build(keys.signing_key(), unsigned.hexdigest())
    canonical_write(document, write)


def compliance_document(*, context: ExportContext, actor: Actor) -> dict[str, Any]:
    """The whole document; ``events`` is a stream copied from the context's spool."""
    report = context.report
    document = {
        "export_format": EXPORT_FORMAT,
        "export_version": EXPORT_VERSION,
        "exported_at": rfc3339(context.exported_at),
        "exported_by": actor.name,
        "notices": notices(context),
        "session": session_section(context),
        "verification": report,
        "evidence_class": report.get("evidence_class"),
        "chain_of_custody": custody_section(context, actor),
        "transparency": transparency_section(context),
        "events": Canonical(_events_array(context)),
        "findings": findings_section(context),
        "disclaimer": statements.DISCLAIMER,
    }
    if context.redaction is not None:
        document[MARKER] = context.redaction.marker()
    erasures = erasures_section(context)
    if erasures:
        document["erasures"] = erasures
    return document


def _events_array(context: ExportContext):
    yield b"["
    yield from context.event_chunks(b",")
    yield b"]"


def notices(context: ExportContext) -> list[str]:
    """Warnings a reader must not miss, loudest first."""
    found = []
    if context.redaction is not None:
        found.append(context.redaction.notice())
    unrecorded = unrecorded_notice(context)
    if unrecorded:
        found.append(unrecorded)
    if context.no_events:
        found.append(statements.NO_EVENTS)
    elif context.report.get("status") != "PASS":
        found.append(statements.FAILED_NOTICE)
    if not context.sealed:
        found.append(statements.UNSEALED_NOTICE)
    if context.payloads_not_exported:
        sequences = ", ".join(map(str, context.payloads_not_exported))
        found.append(statements.PAYLOADS_NOT_EXPORTED_NOTICE.format(sequences=sequences))
    if context.findings is None:
        reason = context.findings_problem or "unknown reason"
        found.append(statements.FINDINGS_UNAVAILABLE_NOTICE.format(reason=reason))
    return found


def session_section(context: ExportContext) -> dict[str, Any]:
    session = context.session
    report = context.report
    return {
        "session_id": str(session.pk),
        "project": session.project.name,
        "agent_id": context.agent_id,
        "metadata": context.metadata,
        "created_at": rfc3339(session.created_at),
        "sealed": context.sealed,
        "sealed_at": rfc3339(session.sealed_at) if context.sealed else None,
        "event_count": report.get("event_count"),
        "complete": report.get("complete"),
        "total_drops": report.get("total_drops"),
        "first_event_at": context.stats.first_wall,
        "last_event_at": context.stats.last_wall,
        "last_sequence_number": context.stats.last_sequence,
        "last_event_hash": context.stats.last_hash,
    }


def published_key(key_id: str | None) -> dict[str, Any] | None:
    """The service's published key (current or retired) with this key id, if it is one."""
    if key_id is None:
        return None
    return next((key for key in keys.public_keys() if key["key_id"] == key_id), None)


def seal_key_id(context: ExportContext) -> str | None:
    """The key id the seal names (or the key that verified it, when the report has one)."""
    checked = (context.report.get("seal") or {}).get("key_id")
    if checked:
        return checked
    payload = (context.stats.seal or {}).get("payload")
    signature = payload.get("signature") if isinstance(payload, dict) else None
    return signature.get("key_id") if isinstance(signature, dict) else None


def verdict(context: ExportContext) -> str:
    """The export-time verification in a few words; a session without events says so."""
    if context.no_events:
        return "no events to verify (EMPTY_LOG)"
    return statements.verdict(context.report)


def custody_statement(context: ExportContext) -> str:
    verdict_words = verdict(context)
    service = ", ".join(sorted(context.stats.authority_ids)) or "(none)"
    if context.report.get("authority") == chain.AUTHORITY_SDK:
        return statements.CUSTODY_STATEMENT_LOCAL.format(verdict=verdict_words)
    source = (context.session.metadata or {}).get("source")
    sent = statements.SENT_BY_OTLP if source == OTLP_SOURCE else statements.SENT_BY_SDK
    if not context.sealed:
        return statements.CUSTODY_STATEMENT_UNSEALED.format(
            sent=sent, service=service, verdict=verdict_words
        )
    payload = context.stats.seal.get("payload") or {}
    return statements.CUSTODY_STATEMENT_SEALED.format(
        sent=sent,
        service=service,
        sealed_at=payload.get("seal_timestamp"),
        key_id=seal_key_id(context),
        verdict=verdict_words,
    )


def custody_section(context: ExportContext, actor: Actor) -> dict[str, Any]:
    stats = context.stats
    sealed = context.sealed
    key_id = seal_key_id(context) if sealed else None
    key = published_key(key_id)
    seal_envelope = stats.seal
    return {
        "statement": custody_statement(context),
        "seal_proves": statements.SEAL_PROVES,
        "seal_does_not_prove": statements.SEAL_DOES_NOT_PROVE,
        "chain_authority": context.report.get("authority"),
        "ingestion_service_id": ", ".join(sorted(stats.authority_ids)) or None,
        "ingested": {
            "session_created_at": rfc3339(context.session.created_at),
            "first_event_received_at": rfc3339(context.ingestion["first_received_at"]),
            "last_event_received_at": rfc3339(context.ingestion["last_received_at"]),
            "api_keys": context.ingestion["api_keys"],
        },
        "sealed": sealed,
        "sealed_by": (seal_envelope["payload"] or {}).get("ingestion_service_id")
        if sealed
        else None,
        "seal_event": {
            "sequence_number": seal_envelope["sequence_number"],
            "event_id": seal_envelope["event_id"],
            "event_hash": seal_envelope["event_hash"],
        }
        if sealed
        else None,
        "seal": seal_envelope["payload"] if sealed else None,
        # The key the seal's signature verifies under, so that the file can be checked
        # offline; it proves nothing by itself (anyone could embed a key), hence key_id,
        # which readers compare with the key id the service publishes (GET /api/v1/keys).
        "public_key": key["public_key"] if key else None,
        "key_id": key_id,
        "key_status": key["status"] if key else ("unknown" if key_id else None),
        "signature_algorithm": seal.SIGNATURE_ALG,
        "canonicalization": CANONICALIZATION,
        "hash_algorithm": HASH_ALGORITHM,
        "verification": {
            "verified_at": rfc3339(context.exported_at),
            "software": VERIFIER_SOFTWARE,
            "spec_version": chain.SPEC_VERSION,
            "checks": statements.VERIFICATION_CHECKS,
            "trusted_key_ids": [published["key_id"] for published in keys.public_keys()],
            "result": verdict(context),
        },
        "signatures": {
            "seal": "covers " + ", ".join(SEAL_COVERS) + ": every event, through the hash "
            "chain whose final hash, event count, completeness and drops the seal signs",
            "export_signature": "covers the whole document except export_signature itself "
            "(session, verification, evidence class, chain of custody, events, findings, "
            "notices, disclaimer, export details and any redaction marker), signed with the "
            "service's sealing key",
        },
        "exported_by": actor.name,
    }


def findings_section(context: ExportContext) -> dict[str, Any]:
    """``Findings.as_dict()`` plus ``available`` and ``event_count``; the lists that grow
    with the session are copied element by element (a test holds the two equal)."""
    findings = context.findings
    if findings is None:
        return {"available": False, "reason": context.findings_problem}
    lists = selectors.findings_lists(findings=findings)
    return {
        "available": True,
        "event_count": findings.event_count,
        "policy": {"name": findings.policy_name, "sha256": findings.policy_sha256},
        "evaluated_at": findings.evaluated_at.isoformat(),
        "passed": findings.passed,
        "summary": findings.summary,
        "rule_results": findings.rule_results,
        "pii_findings": _streamed(lists["pii_findings"]),
        "tool_audit": {key: _streamed(value) for key, value in lists["tool_audit"].items()},
    }


def _streamed(value: Any) -> Any:
    if isinstance(value, LazyArray):
        return canonical_array(chain.canonicalize(item) for item in value)
    return value
