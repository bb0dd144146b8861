"""The console's words for a verification: evidence classes, §7 reports, problems, event
types and tool outcomes, for a reader without a technical background.

``evidence_label`` names an evidence class ("Verified — authoritative evidence") and
``verdict_describe`` puts a §7 report into sentences; the reasons a report is partial are
worded by ``agentops_sdk.wording``, as in the verifier's own report and the PDF.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentops_sdk import wording

from ingestion.models import EvidenceClass, VerificationTrigger

from .formatting import moment_text


@dataclass(frozen=True)
class EvidenceLabel:
    short: str  # for the session list
    headline: str  # for the session page and messages
    tone: str  # CSS modifier: good, partial, weak, bad, open
    symbol: str  # the badge never relies on colour alone


EVIDENCE_LABELS: dict[str | None, EvidenceLabel] = {
    EvidenceClass.AUTHORITATIVE: EvidenceLabel(
        "Authoritative", "Verified — authoritative evidence", "good", "✓"
    ),
    EvidenceClass.PARTIAL_AUTHORITATIVE: EvidenceLabel(
        "Partial", "Verified — partial evidence", "partial", "◐"
    ),
    EvidenceClass.NON_AUTHORITATIVE: EvidenceLabel(
        "Agent-recorded", "Verified — recorded by the agent alone, not authoritative", "weak", "○"
    ),
    EvidenceClass.FAILED: EvidenceLabel("Failed", "Verification failed", "bad", "✕"),
    None: EvidenceLabel("Not sealed", "Not sealed yet — not verified", "open", "…"),
}

PROBLEMS = {
    "EMPTY_LOG": "The session holds no events.",
    "MISSING_FIELD": "An event lacks a required field.",
    "UNKNOWN_FIELD": "An event carries a field the format does not allow.",
    "SCHEMA_VERSION_MISMATCH": "An event uses a format version that is not supported.",
    "UNKNOWN_EVENT_TYPE": "An event has a type the format does not know.",
    "SESSION_MISMATCH": "An event belongs to another session.",
    "PAYLOAD_HASH_MISMATCH": "An event's content was changed after it was recorded.",
    "EVENT_HASH_MISMATCH": "An event's recorded details were changed after it was recorded.",
    "SEQUENCE_GAP": "Events are missing from the sequence.",
    "INVALID_GENESIS": "The session does not begin the way every session must.",
    "CHAIN_BROKEN": "An event does not link to the event before it.",
    "MIXED_AUTHORITY": "The events were fingerprinted by different parties.",
    "ORDERING_VIOLATION": "Events appear in an order the format does not allow.",
    "INVALID_SEAL": "The seal is incomplete.",
    "SEAL_DIGEST_MISMATCH": "The seal does not match the events it claims to close.",
    "SEAL_SIGNATURE_INVALID": "The seal's signature is not valid.",
    "POLICY_VIOLATION": "The session does not meet the verification policy.",
}

PII_KINDS = {
    "email": "E-mail address",
    "phone": "Phone number",
    "ssn": "Social security number",
    "card": "Payment card number",
    "iban": "Bank account number (IBAN)",
    "ipv4": "IP address",
    "ipv6": "IP address",
}

EVENT_TYPES = {
    "SESSION_START": "Session started",
    "SESSION_END": "Session ended",
    "MODEL_REQUEST": "Asked the model",
    "MODEL_RESPONSE": "Model answered",
    "TOOL_CALL": "Called a tool",
    "TOOL_RESULT": "Tool answered",
    "AGENT_STATE_SNAPSHOT": "State snapshot",
    "DECISION_TRACE": "Decision",
    "ERROR": "Error",
    "ANNOTATION": "Annotation",
    "LOG_DROP": "Events lost",
    "CHAIN_SEAL": "Sealed by the service",
}

TOOL_STATUSES = {
    "success": "Succeeded",
    "error": "Failed",
    "no_result": "No answer recorded",
    "withheld": "Outcome withheld",
}


# What ran a verification, finishing "checked <when> by ...".
VERIFICATION_TRIGGERS = {
    VerificationTrigger.SEAL: "the service, when it sealed the session",
    VerificationTrigger.CONSOLE: "“Verify now” in this console",
    VerificationTrigger.API: "a verification request through the API",
    VerificationTrigger.COMMAND: "manage.py verify_sessions",
    VerificationTrigger.EXPORT: "an export",
}


def evidence_label(evidence_class: str | None) -> EvidenceLabel:
    return EVIDENCE_LABELS.get(evidence_class, EVIDENCE_LABELS[EvidenceClass.FAILED])


def verification_when(verified_at: Any, trigger: str | None) -> str:
    """When a verification ran and what ran it: "checked 2026-12-05 08:10:02 UTC by ..."."""
    return f"checked {moment_text(verified_at)} by " + (
        VERIFICATION_TRIGGERS.get(trigger, str(trigger))
    )


@dataclass(frozen=True)
class Problem:
    text: str
    code: str
    detail: str
    sequence_number: int | None


@dataclass(frozen=True)
class Verdict:
    label: EvidenceLabel
    reasons: tuple[str, ...]
    problems: tuple[Problem, ...]
    event_count: int | None

    def message(self) -> str:
        """One paragraph for a message banner."""
        parts = [f"{self.label.headline}."]
        if self.event_count is not None:
            parts.append(f"{self.event_count} events checked.")
        parts += self.reasons
        shown = self.problems[:3]
        parts += [
            p.text
            if p.sequence_number is None
            else f"{p.text.rstrip('.')} (event {p.sequence_number})."
            for p in shown
        ]
        if len(self.problems) > len(shown):
            parts.append(f"{len(self.problems) - len(shown)} further problems.")
        return " ".join(parts)


def verdict_describe(report: Mapping[str, Any] | None) -> Verdict:
    """The §7 report in plain words; None (never verified: not sealed) says so."""
    if report is None:
        return Verdict(EVIDENCE_LABELS[None], (), (), None)
    passed = report.get("status") == "PASS"
    evidence_class = report.get("evidence_class") if passed else EvidenceClass.FAILED
    reasons = tuple(wording.sentence(reason) for reason in wording.partial_reasons(report))
    problems = tuple(
        Problem(
            text=PROBLEMS.get(violation.get("type"), "A check failed."),
            code=str(violation.get("type")),
            detail=str(violation.get("message") or ""),
            sequence_number=violation.get("sequence_number"),
        )
        for violation in report.get("violations") or ()
    )
    return Verdict(evidence_label(evidence_class), reasons, problems, report.get("event_count"))


# --------------------------------------------------------------------------------------
# Words of the reading pages: duration, transcript, findings and ledgers
# --------------------------------------------------------------------------------------

#: The one duration a session has (``compliance.formatting.session_duration``), by its clock.
DURATION_LABEL = "Duration (service clock)"
DURATION_MEANING = (
    "Measured on the service's clock: from the moment the service started the session to the "
    "last event it received (the service's seal not counted)."
)
#: What a SESSION_END's own ``duration_ms`` is called: the agent's claim, not the duration.
AGENT_RUN_TIME_LABEL = "Run time the agent reported"

#: Who speaks in a model request's messages, as a transcript names them.
MESSAGE_ROLES = {
    "user": "User",
    "human": "User",
    "system": "System",
    "developer": "System",
    "assistant": "Model",
    "ai": "Model",
    "model": "Model",
    "tool": "Tool",
    "function": "Tool",
}

#: Plain names of the fields of the findings and ledger pages.
FIELD_LABELS = {
    "policy_name": "Policy",
    "policy_sha256": "Policy file fingerprint (SHA-256)",
    "evaluated_at": "Evaluated",
    "passed": "Every rule met",
    "event_count": "Events evaluated",
    "pii_count": "Personal data values found",
    "rules_failed": "Rules broken",
    "recorded_at": "Recorded",
    "exported_at": "Made",
    "format": "Format",
    "file_name": "File name",
    "sha256": "File fingerprint (SHA-256)",
    "size_bytes": "Size",
    "channel": "Asked through",
    "actor": "Asked by",
    "delivered": "Handed out",
    "attached_to_pdf": "Attached to a PDF",
    "redacted": "Masked copy",
    "sealed": "Session sealed",
    "verification_status": "Verification",
    "evidence_class": "Evidence class",
    "last_sequence_number": "Last event included",
    "last_event_hash": "Last event's fingerprint",
    "erased_at": "Erased",
    "request_ref": "Request reference",
    "reason": "Legal basis / reason",
    "sequence_number": "Event",
    "event_id": "Event id",
    "payload_hash": "Content fingerprint (kept)",
    "user": "Console user",
}

#: The policy summary's counters, in words (anything else is named by its key).
FINDINGS_SUMMARY_LABELS = {
    "event_count": "Events evaluated",
    "pii_findings": "Personal data values found",
    "pii_by_kind": "Personal data by kind",
    "tool_calls": "Tool calls",
    "rules_checked": "Rules checked",
    "rules_failed": "Rules broken",
}
