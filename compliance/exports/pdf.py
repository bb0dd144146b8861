"""The PDF report: Django template ``compliance/report.html`` rendered by WeasyPrint.

The PDF is for people and is never the evidence itself (spec §8): it carries the evidence
class, the digest, the key id and the disclaimer, and names the SHA-256 of the compliance
JSON export made with it, which is the evidence. Those exact JSON bytes travel inside the
PDF as a file attachment, so a PDF and the JSON it cites are always handed out together.

Long listings (timeline, tool calls, PII findings) are passed to the template as plain
monospace lines grouped into small blocks: WeasyPrint lays out a 10,000-line register in
seconds that way, where a table or per-cell markup takes minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agentops_sdk import chain, seal, wording
from django.conf import settings
from django.template.loader import render_to_string

from compliance.formatting import duration_text, session_duration_text, wall_text
from ingestion import keys
from policy.masking import preview_shown

from .. import labels, statements
from ..models import ExportRecord
from .context import Actor, ExportContext, rfc3339
from .document import (
    VERIFIER_SOFTWARE,
    custody_statement,
    notices,
    published_key,
    seal_key_id,
)
from .erasures import erasure_notes, erasures_section
from .timeline import LINE_WIDTH, sequence_width
from .transcript_appendix import transcript_appendix
from .transparency import transparency_section, transparency_statement

# WeasyPrint turns fontTools' logger up to DEBUG while it subsets fonts, to collect the
# warnings it then logs itself as "weasyprint" warnings; propagated to the root handler, that
# is hundreds of debug lines per PDF. fontTools is only used through WeasyPrint here.
logging.getLogger("fontTools").propagate = False

TEMPLATE = "compliance/report.html"
BLOCK_LINES = 5  # lines per shaded band of a register
# Timeline lines on a page, and on the timeline's first page (below the section's heading and
# introduction): each page of the timeline is one block of the template that fits an A4 page,
# so the number of pages is known before anything is laid out (see exports.chunked).
TIMELINE_PAGE_LINES = 64
TIMELINE_FIRST_PAGE_LINES = 50
MAX_VIOLATIONS_SHOWN = 500  # the JSON export lists every one

_EVENT_TYPE_ORDER = (*chain.PRODUCER_EVENT_ORDER, chain.SEAL_EVENT_TYPE)


def blocks(lines: Iterable[str], size: int = BLOCK_LINES) -> list[str]:
    """Lines joined into blocks of ``size``, each one ``<pre>`` of the template."""
    grouped: list[str] = []
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            grouped.append("\n".join(batch))
            batch = []
    if batch:
        grouped.append("\n".join(batch))
    return grouped


def _cut(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    text = text if text.isprintable() else "".join(c if c.isprintable() else " " for c in text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _duration(milliseconds: Any) -> str:
    if not isinstance(milliseconds, int | float) or isinstance(milliseconds, bool):
        return "unknown"
    return duration_text(milliseconds / 1000)


def _when(value: Any) -> str:
    """A time as the report shows it: in UTC, its zone named (``formatting.wall_text``);
    a server time is first written as the service writes its own (RFC 3339)."""
    if value is None:
        return "none"
    return wall_text(value if isinstance(value, str) else rfc3339(value))


def _stamp(context: ExportContext) -> dict[str, str]:
    """The cover's verdict: VERIFIED only for a passing, authoritative session."""
    report = context.report
    if context.no_events:
        return {"tone": "warn", "title": "NO EVENTS RECORDED", "text": statements.NO_EVENTS}
    if report.get("status") != "PASS":
        count = len(report.get("violations") or [])
        return {
            "tone": "bad",
            "title": "VERIFICATION FAILED",
            "text": wording.sentence(wording.failed_summary(count)),
        }
    evidence = report.get("evidence_class")
    meaning = wording.evidence_meaning(evidence)
    if evidence == "AUTHORITATIVE_EVIDENCE":
        return {"tone": "ok", "title": "VERIFIED", "text": wording.sentence(meaning)}
    if evidence == "NON_AUTHORITATIVE_EVIDENCE":
        return {"tone": "warn", "title": "NOT AUTHORITATIVE", "text": wording.sentence(meaning)}
    reasons = "; ".join(wording.partial_reasons(report))
    return {
        "tone": "warn",
        "title": "PARTIAL EVIDENCE",
        "text": wording.sentence(f"{meaning}: {reasons}"),
    }


def _outcome(context: ExportContext) -> str:
    end = context.stats.end
    if end is None:
        return "No SESSION_END recorded: the recording may have stopped early."
    status = end.get("status")
    fatal = context.stats.fatal_errors
    suffix = f", after {fatal} fatal error(s)" if fatal else ""
    return f"Ended with status “{status}”{suffix}."


def _summary(context: ExportContext) -> dict[str, Any]:
    stats = context.stats
    report = context.report
    end = stats.end or {}
    start = stats.start or {}
    findings = context.findings
    counts = [(name, stats.counts[name]) for name in _EVENT_TYPE_ORDER if stats.counts[name]]
    counts += sorted((n, c) for n, c in stats.counts.items() if n not in _EVENT_TYPE_ORDER)
    pii_by_kind = sorted((findings.summary.get("pii_by_kind") or {}).items()) if findings else []
    pii_events = len({f.get("sequence_number") for f in findings.pii_findings}) if findings else 0
    return {
        "rows": [
            ("Agent", context.agent_id),
            ("Environment", start.get("environment") or "not stated"),
            ("Framework", start.get("framework") or "not stated"),
            ("First event (agent's clock)", _when(stats.first_wall)),
            ("Last event (agent's clock)", _when(stats.last_wall)),
            (
                labels.DURATION_LABEL,
                f"{session_duration_text(context.session)}. {labels.DURATION_MEANING}",
            ),
            (
                labels.AGENT_RUN_TIME_LABEL,
                f"{_duration(end['duration_ms'])} (its SESSION_END event; the agent's own claim)"
                if "duration_ms" in end
                else "not reported",
            ),
            ("Outcome", _outcome(context)),
            ("Events", f"{report.get('event_count')} recorded by the agent"),
            ("Errors", f"{stats.errors} ({stats.fatal_errors} fatal)"),
            ("Lost events reported", str(report.get("total_drops"))),
        ],
        "counts": counts,
        "tools": findings.tool_audit.get("totals", []) if findings else [],
        "pii_total": len(findings.pii_findings) if findings else None,
        "pii_events": pii_events,
        "pii_by_kind": pii_by_kind,
        "failed_rules": [r for r in findings.rule_results if not r.get("passed")]
        if findings
        else [],
    }


def _signature_status(seal_report: Mapping[str, Any] | None) -> str:
    if not seal_report:
        return "no seal"
    if not seal_report.get("signature_checked"):
        return "not checked"
    valid = "valid" if seal_report.get("signature_valid") else "INVALID"
    trusted = "trusted key" if seal_report.get("key_trusted") else "key NOT trusted"
    return f"{valid}, {trusted}"


def _verification(context: ExportContext) -> dict[str, Any]:
    report = context.report
    seal_envelope = context.stats.seal
    payload = (seal_envelope or {}).get("payload") or {}
    seal_report = report.get("seal")
    key_id = seal_key_id(context)
    rows = [
        ("Status", report.get("status"), False),
        ("Evidence class", report.get("evidence_class") or "none (verification failed)", False),
        ("Partial reasons", ", ".join(report.get("partial_reasons") or []) or "none", False),
        ("Chain authority", report.get("authority"), False),
        (
            "Events verified",
            f"{context.event_total} ({report.get('event_count')} + seal)"
            if context.sealed
            else str(context.event_total),
            False,
        ),
        ("Sealed", "yes" if context.sealed else "NO", False),
        ("Session end recorded", "yes" if report.get("complete") else "no", False),
        ("Replay fingerprint", report.get("replay_fingerprint") or "none", True),
        ("Session digest", payload.get("session_digest") or "none (no seal)", True),
        ("Final event hash", payload.get("final_event_hash") or "none (no seal)", True),
        ("Seal event hash", (seal_envelope or {}).get("event_hash") or "none", True),
        ("Sealed by", payload.get("ingestion_service_id") or "none", False),
        ("Seal time", _when(payload.get("seal_timestamp")), False),
        ("Signing key id", key_id or "none", True),
        ("Signature", _signature_status(seal_report), False),
        (
            "Redacted events",
            ", ".join(map(str, report.get("redacted_events") or [])) or "none",
            False,
        ),
        ("Verified at", _when(context.exported_at), False),
        ("Verification software", VERIFIER_SOFTWARE, False),
        ("Specification", report.get("spec_version"), False),
    ]
    violations = report.get("violations") or []
    return {
        "rows": rows,
        "violations": violations[:MAX_VIOLATIONS_SHOWN],
        "violations_hidden": max(0, len(violations) - MAX_VIOLATIONS_SHOWN),
    }


def _custody(context: ExportContext, actor: Actor, json_export: ExportRecord) -> dict[str, Any]:
    ingestion = context.ingestion
    key_id = seal_key_id(context) if context.sealed else None
    key = published_key(key_id)
    api_keys = ", ".join(f"{k['name']} ({k['prefix']})" for k in ingestion["api_keys"])
    payload = (context.stats.seal or {}).get("payload") or {}
    return {
        "statement": custody_statement(context),
        "rows": [
            ("Ingestion service", ", ".join(sorted(context.stats.authority_ids)) or "none", False),
            ("Session created", _when(context.session.created_at), False),
            (
                "Events received",
                f"{_when(ingestion['first_received_at'])} to "
                f"{_when(ingestion['last_received_at'])}",
                False,
            ),
            ("Submitted with API keys", api_keys or "none recorded", False),
            ("Sealed by", payload.get("ingestion_service_id") or "not sealed", False),
            (
                "Sealed at",
                _when(payload["seal_timestamp"]) if payload.get("seal_timestamp") else "not sealed",
                False,
            ),
            ("Public key (base64)", key["public_key"] if key else "none", True),
            (
                "Key id",
                f"{key_id} ({key['status']} key of this service)"
                if key
                else (f"{key_id} (not a key of this service)" if key_id else "none"),
                True,
            ),
            ("Signature algorithm", "Ed25519", False),
            ("Canonicalization", "RFC 8785 (JSON Canonicalization Scheme)", False),
            ("Hash algorithm", "SHA-256", False),
            ("Exported by", actor.name, False),
            ("Exported at", _when(context.exported_at), False),
            ("Compliance JSON export", f"{json_export.file_name} (attached to this PDF)", False),
            ("Its SHA-256", json_export.sha256, True),
            ("Its export signature", f"Ed25519, key id {export_key_id()}", True),
            ("Its ledger entry", f"export record #{json_export.pk}", False),
        ],
        "proves": statements.SEAL_PROVES,
        "does_not_prove": statements.SEAL_DOES_NOT_PROVE,
        "checks": statements.VERIFICATION_CHECKS,
    }


def _policy(context: ExportContext) -> dict[str, Any] | None:
    findings = context.findings
    if findings is None:
        return None
    width = sequence_width(context.stats.last_sequence)
    pii_lines = [
        f"{_cut(f.get('sequence_number'), width):>{width}}  {_cut(f.get('kind'), 18):<18}  "
        f"{_cut(f.get('path'), 36):<36}  {_cut(preview_shown(f.get('preview')), 40)}"
        for f in findings.pii_findings
    ]
    calls = findings.tool_audit.get("calls", [])
    # Every call is in the timeline with its masked arguments; listing them all again would
    # double the longest part of the report. The audit lists those that did not succeed.
    failed = [call for call in calls if call.get("status") != "success"]
    return {
        "name": findings.policy_name,
        "sha256": findings.policy_sha256,
        "evaluated_at": _when(findings.evaluated_at),
        "passed": findings.passed,
        "event_count": findings.event_count,
        "rules": findings.rule_results,
        "pii_blocks": blocks(pii_lines),
        "pii_header": f"{'Seq':>{width}}  {'Kind':<18}  {'Where in the payload':<36}  Masked value",
        "tool_blocks": blocks(_tool_line(call, width) for call in failed),
        "tool_header": _tool_line(None, width),
        "unmatched_results": findings.tool_audit.get("unmatched_results", []),
        "calls": len(calls),
        "totals": findings.tool_audit.get("totals", []),
    }


def _tool_line(call: Mapping[str, Any] | None, width: int) -> str:
    """One call of the tool-access audit, or the header line when ``call`` is None."""
    call_width, answer_width = max(width, len("Call")), max(width, len("Answer"))
    if call is None:
        cells = ("Call", "Answer", "Tool", "Status", "Duration", "Arguments (masked)")
    else:
        answer = call.get("result_sequence_number")
        duration = call.get("duration_ms")
        args = call.get("args") or []
        cells = (
            call.get("call_sequence_number"),
            "-" if answer is None else answer,
            call.get("tool_name"),
            call.get("status"),
            f"{duration:.0f} ms" if isinstance(duration, int | float) else "-",
            ", ".join(f"{a.get('key')}={preview_shown(a.get('preview'))}" for a in args)
            if args
            else f"({call.get('args_logged')})",
        )
    number, answer, tool, status, took, shown = (_cut(cell, 40) for cell in cells)
    head = (
        f"{number:>{call_width}}  {answer:>{answer_width}}  {_cut(tool, 24):<24}  "
        f"{_cut(status, 9):<9}  {_cut(took, 10):>10}  "
    )
    return head + _cut(shown, LINE_WIDTH - len(head))


def export_key_id() -> str:
    """The key id of the key that signs compliance JSON exports (the sealing key)."""
    return seal.key_id(keys.signing_key().public_key())


def timeline_page_bounds(rows: int) -> list[tuple[int, int]]:
    """The rows of each page of a timeline of ``rows`` rows: ``[(start, stop), ...]``."""
    bounds = [(0, min(rows, TIMELINE_FIRST_PAGE_LINES))]
    while bounds[-1][1] < rows:
        start = bounds[-1][1]
        bounds.append((start, min(rows, start + TIMELINE_PAGE_LINES)))
    return bounds


def timeline_pages(timeline: Any, first: int, last: int | None) -> list[dict[str, Any]]:
    """Pages ``first:last`` of the timeline, each with the events it covers and its blocks."""
    if timeline is None:
        return []
    pages = []
    for start, stop in timeline_page_bounds(len(timeline))[first:last]:
        low, high = timeline.sequences(start, stop)
        pages.append({"first": low, "last": high, "blocks": blocks(timeline.lines(start, stop))})
    return pages


def report_context(
    *, context: ExportContext, actor: Actor, json_export: ExportRecord, timeline: bool = True
) -> dict[str, Any]:
    """Everything the template shows, computed here so the template only lays it out
    (``timeline``: with every page of the timeline; exports.chunked adds them part by part)."""
    session = context.session
    report = context.report
    if context.timeline is not None:
        context.timeline.erasure_notes = erasure_notes(context)
    return {
        "erasures": erasures_section(context),
        "session_id": str(session.pk),
        "project": session.project.name,
        "agent_id": context.agent_id,
        "redacted": context.redacted,
        "redacted_events": ", ".join(map(str, report.get("redacted_events") or [])) or "none",
        "no_events": context.no_events,
        "export_key_id": export_key_id(),
        "exported_at": _when(context.exported_at),
        "exported_by": actor.name,
        "evidence_class": report.get("evidence_class")
        or ("NONE (NO EVENTS TO VERIFY)" if context.no_events else "NONE (VERIFICATION FAILED)"),
        "status": report.get("status"),
        "stamp": _stamp(context),
        "sealed": context.sealed,
        "notices": notices(context),
        "json_export": json_export,
        "summary": _summary(context),
        "verification": _verification(context),
        "custody": _custody(context, actor, json_export),
        "transparency_statement": transparency_statement(transparency_section(context)),
        "policy": _policy(context),
        "findings_problem": context.findings_problem,
        "timeline_header": context.timeline.header() if context.timeline else "",
        "timeline_pages": timeline_pages(context.timeline, 0, None) if timeline else [],
        "timeline_intro": True,
        "transcript": transcript_appendix(context),
        "duration_label": labels.DURATION_LABEL,
        "part": "all",
        "first_date": (context.stats.first_wall or "")[:10],
        "event_total": context.event_total,
        "disclaimer": statements.DISCLAIMER,
        "short_disclaimer": statements.SHORT_DISCLAIMER,
        "spec_version": chain.SPEC_VERSION,
    }


def pdf_render(
    *, context: ExportContext, actor: Actor, json_export: ExportRecord, json_data: bytes
) -> bytes:
    """The PDF bytes of the report (needs ``context.timeline``), carrying ``json_data``, the
    exact bytes of the compliance JSON ``json_export`` records, as a file attachment."""
    import io

    from weasyprint import HTML, Attachment

    html = render_to_string(
        TEMPLATE, report_context(context=context, actor=actor, json_export=json_export)
    )
    evidence = Attachment(
        file_obj=io.BytesIO(json_data),
        name=json_export.file_name,
        description=f"Compliance JSON export (the evidence), SHA-256 {json_export.sha256}",
        relationship="Source",
    )
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf(attachments=[evidence])


def pdf_write(
    *,
    context: ExportContext,
    actor: Actor,
    json_export: ExportRecord,
    json_data: bytes,
    write: Callable[[bytes], Any],
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """The PDF report written to ``write``: one WeasyPrint document for a timeline of at most
    ``AGENTOPS_PDF_CHUNK_EVENTS`` events, otherwise rendered in chunks of that many events and
    assembled (``compliance.exports.chunked``), so that memory stays bounded."""
    chunk = max(1, int(settings.AGENTOPS_PDF_CHUNK_EVENTS))
    if context.timeline is None or len(context.timeline) <= chunk:
        if progress is not None:
            progress("rendering", 0, 1)
        write(
            pdf_render(context=context, actor=actor, json_export=json_export, json_data=json_data)
        )
        return
    from .chunked import chunked_pdf_write

    chunked_pdf_write(
        context=context,
        actor=actor,
        json_export=json_export,
        json_data=json_data,
        write=write,
        chunk_events=chunk,
        progress=progress,
    )
