"""The report in words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import chain, wording
from .codes import (
    AUTHORITATIVE_EVIDENCE,
    NON_AUTHORITATIVE_EVIDENCE,
    PARTIAL_AUTHORITATIVE_EVIDENCE,
    PASS,
)

_VERDICT_TITLES = {
    AUTHORITATIVE_EVIDENCE: "AUTHORITATIVE EVIDENCE",
    PARTIAL_AUTHORITATIVE_EVIDENCE: "PARTIAL AUTHORITATIVE EVIDENCE",
    NON_AUTHORITATIVE_EVIDENCE: "NON-AUTHORITATIVE EVIDENCE",
}


def _verdict_line(evidence_class: str) -> str:
    meaning = wording.evidence_meaning(evidence_class)
    ending = ":" if evidence_class == PARTIAL_AUTHORITATIVE_EVIDENCE else "."
    return f"VERIFIED — {_VERDICT_TITLES[evidence_class]}: {meaning}{ending}"


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
        lines.append(_verdict_line(report["evidence_class"]))
        for reason in wording.partial_reasons(report):
            lines.append("  - " + reason)
    else:
        count = len(violations)
        lines.append(f"VERIFICATION FAILED — {wording.failed_summary(count)}.")
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
    if "log_inclusion" in report:
        details.append(("Transparency log", _LOG_WORDS.get(report["log_inclusion"], "-")))
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


_LOG_WORDS = {
    "verified": "verified: the session is an entry of the service's signed public log",
    "absent": "absent: the export states no entry in the service's log",
    "unchecked": "not checked: the tree head's key is not among the trusted keys",
    "invalid": "INVALID: see the violations",
}
