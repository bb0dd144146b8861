"""The compliance console's session page: everything it shows, gathered in a bounded number
of queries, every text masked for a reader without ``compliance.view_raw_payload``.

Its words come from ``compliance.labels``, its masking from ``policy.masking``; the lists
are ``compliance.changelist``'s and the zip of several sessions ``compliance.exports.archive``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator

from ingestion.models import Event, Session, Verification
from ingestion.selectors import (
    session_current_evidence_class,
    session_latest_verification,
    session_seal_envelope,
)
from policy.masking import (
    Reader,
    payload_keys_shown,
    payload_masked,
    preview_shown,
    text_shown,
)
from policy.models import Findings
from policy.pii import PiiScanner, payload_scan
from policy.services import scanner_for_project

from . import selectors
from .erasure import erasure_notes_apply
from .exports.timeline import event_summary
from .formatting import session_duration_text, wall_text
from .labels import (
    DURATION_LABEL,
    DURATION_MEANING,
    EVENT_TYPES,
    PII_KINDS,
    TOOL_STATUSES,
    Verdict,
    verdict_describe,
    verification_when,
)
from .models import ExportRecord
from .reviewers import raw_payload_allowed


def reader_for(user: Any) -> Reader:
    """The masking that ``user`` reads the console under."""
    return Reader(raw_allowed=raw_payload_allowed(user))


TIMELINE_PAGE_SIZE = 50
LISTED = 200  # PII findings and tool calls listed on the page; the totals count them all


@dataclass
class TimelineRow:
    sequence_number: int
    event_id: str
    event_type: str
    timestamp_wall: str
    summary: str
    payload_text: str
    personal_data: int  # values holding personal data in this payload
    shown_raw: bool
    payload_hash: str
    prev_event_hash: str | None
    event_hash: str
    chain_authority: str
    authority_id: str
    source_sdk_ver: str
    received_at: Any

    @property
    def type_label(self) -> str:
        return EVENT_TYPES.get(self.event_type, self.event_type)

    @property
    def time_shown(self) -> str:
        """The producer's clock to the millisecond, with its zone (``formatting.wall_text``)."""
        return wall_text(self.timestamp_wall)


@dataclass
class SessionPage:
    session: Session
    # What a reader acts on: the latest verification once sealed (a failure found after the
    # seal shows here), while the one made at seal time stays beside it.
    verdict: Verdict
    evidence_class: str | None  # ingestion.selectors.session_current_evidence_class
    latest: Verification | None  # the latest verification, whatever ran it
    latest_verdict: Verdict | None
    latest_when: str
    seal_verdict: Verdict | None  # the verification made when the session was sealed
    seal: Mapping[str, Any] | None  # the CHAIN_SEAL payload
    seal_key_id: str | None
    findings: Findings | None
    pii_listed: list[dict[str, Any]] = field(default_factory=list)
    pii_total: int = 0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_calls_total: int = 0
    tool_totals: list[dict[str, Any]] = field(default_factory=list)
    rule_results: list[dict[str, Any]] = field(default_factory=list)
    exports: list[ExportRecord] = field(default_factory=list)
    timeline: Page | None = None
    rows: list[TimelineRow] = field(default_factory=list)
    raw_allowed: bool = False
    # As ``text_shown`` shows them to this reader.
    agent_id: str = ""
    project_name: str = ""
    # The one duration of a session (compliance.formatting.session_duration), by its clock.
    duration: str = ""
    duration_label: str = DURATION_LABEL
    duration_meaning: str = DURATION_MEANING


def _envelope(event: Event) -> dict[str, Any]:
    """The event's envelope; a stored payload text that is no longer JSON (altered behind
    the service's back) is shown as that text instead of breaking the page."""
    return event.envelope()


def _findings_read(
    findings: Findings, first: int, last: int
) -> tuple[list[dict], int, dict[int, list[tuple[str, str]]], dict[str, Any]]:
    """One pass over the stored PII findings: those listed, their total, and the (path,
    preview) pairs of the events ``first`` to ``last``; plus the tool audit."""
    lists = selectors.findings_lists(findings=findings)
    listed: list[dict] = []
    total = 0
    on_page: dict[int, list[tuple[str, str]]] = {}
    for finding in lists["pii_findings"]:
        total += 1
        if len(listed) < LISTED:
            listed.append(
                {
                    **finding,
                    "kind_label": PII_KINDS.get(finding["kind"], finding["kind"]),
                    "preview": preview_shown(finding["preview"]),
                }
            )
        sequence = finding.get("sequence_number")
        if isinstance(sequence, int) and first <= sequence <= last:
            on_page.setdefault(sequence, []).append((finding["path"], finding["preview"]))
    return listed, total, on_page, lists["tool_audit"]


def session_page(*, session: Session, page_number: Any, raw_allowed: bool) -> SessionPage:
    """Everything the session page shows. Reads the session's latest findings once (their
    long lists walked, never parsed whole) and one page of its events."""
    seal = session_seal_envelope(session=session)
    seal_payload = seal["payload"] if seal and isinstance(seal.get("payload"), Mapping) else None
    signature = (seal_payload or {}).get("signature")
    latest = session_latest_verification(session=session)
    latest_verdict = None if latest is None else verdict_describe(latest.report)
    current = session_current_evidence_class(session=session, latest=latest)
    page = SessionPage(
        session=session,
        verdict=latest_verdict
        if current is not None and latest_verdict is not None
        else verdict_describe(session.verification),
        evidence_class=current,
        latest=latest,
        latest_verdict=latest_verdict,
        latest_when="" if latest is None else verification_when(latest.verified_at, latest.trigger),
        seal_verdict=verdict_describe(session.verification) if session.verification else None,
        seal=seal_payload,
        seal_key_id=signature.get("key_id") if isinstance(signature, Mapping) else None,
        findings=selectors.session_findings_latest(session=session),
        raw_allowed=raw_allowed,
        duration=session_duration_text(session),
    )
    events = Event.objects.filter(session=session).order_by("sequence_number")
    page.timeline = Paginator(events, TIMELINE_PAGE_SIZE).get_page(page_number)
    stored = list(page.timeline.object_list)
    first = stored[0].sequence_number if stored else 0
    last = stored[-1].sequence_number if stored else -1

    scanner = scanner_for_project(project=session.project)

    def shown(value: Any, key: str | None = None) -> str:
        return text_shown(value, raw_allowed=raw_allowed, scanner=scanner, key=key)

    page.agent_id, page.project_name = shown(session.agent_id), shown(session.project.name)
    on_page: dict[int, list[tuple[str, str]]] = {}
    covered = 0  # events below this sequence number were scanned when findings were stored
    if page.findings is not None:
        covered = page.findings.event_count
        page.pii_listed, page.pii_total, on_page, audit = _findings_read(page.findings, first, last)
        for finding in page.pii_listed:
            finding["path"] = shown(finding["path"])  # the path spells out the keys
        calls = list(audit.get("calls") or ())
        page.tool_calls_total = len(calls)
        page.tool_calls = [
            {
                **call,
                "tool_name": shown(call.get("tool_name")),
                "args": [
                    {
                        **arg,
                        "key": shown(arg.get("key")),
                        "preview": shown(preview_shown(arg.get("preview"))),
                    }
                    for arg in call.get("args") or ()
                ],
                "args_logged": shown(call.get("args_logged")),
                "status_label": TOOL_STATUSES.get(call.get("status"), call.get("status")),
            }
            for call in calls[:LISTED]
        ]
        page.tool_totals = [
            {**total, "tool_name": shown(total.get("tool_name"))}
            for total in audit.get("totals") or ()
        ]
        page.rule_results = [
            {**rule, "rule": shown(rule.get("rule")), "message": shown(rule.get("message"))}
            for rule in page.findings.rule_results or ()
        ]

    for event in stored:
        page.rows.append(_row(event, on_page, covered, scanner, raw_allowed))
    erasure_notes_apply(page=page, session=session)
    page.exports = list(
        ExportRecord.objects.filter(session=session).order_by("-recorded_at", "-pk")[:LISTED]
    )
    for record in page.exports:
        record.actor = shown(record.actor)  # shown only, never saved: ledger rows are final
    return page


def payload_for_reader(
    *,
    event_type: str,
    payload: Any,
    stored: list[tuple[str, str]] | None,
    scanner: PiiScanner,
    raw_allowed: bool,
) -> tuple[Any, int]:
    """(an event's payload as a reader is shown it, how many of its values hold personal
    data). The one masking of payloads for readers: the timeline, the transcript and the
    PDF's transcript all show payloads through here.

    ``stored`` are the (path, masked preview) pairs of the stored findings of this event, or
    None when the stored findings do not cover it. ``payload`` is changed in place: pass a
    copy you own (an envelope fresh from ``Event.envelope()`` or from an export's spool).
    """
    if stored is not None:
        found = stored
    elif event_type == "CHAIN_SEAL" or payload is None:
        found = []  # the service's own seal holds no agent data
    else:
        # Not covered by the stored findings (the session is still open, or was never
        # evaluated): scan now, so personal data is never shown for want of a finding.
        found = [(f.path, f.preview) for f in payload_scan(scanner=scanner, payload=payload)]
    personal = len({path for path, _ in found})
    if found and not raw_allowed:
        payload, personal = payload_masked(payload, findings=found, scanner=scanner)
    return payload_keys_shown(payload, raw_allowed=raw_allowed, scanner=scanner), personal


def findings_of_events(
    findings: Findings | None, numbers: list[int]
) -> tuple[int, dict[int, list[tuple[str, str]]]]:
    """(events below this sequence number are covered by ``findings``, the (path, preview)
    pairs of the events ``numbers``), for ``payload_for_reader``."""
    if findings is None or not numbers:
        return 0, {}
    _, _, found, _ = _findings_read(findings, min(numbers), max(numbers))
    return findings.event_count, found


def _row(
    event: Event,
    on_page: Mapping[int, list[tuple[str, str]]],
    covered: int,
    scanner: PiiScanner,
    raw_allowed: bool,
) -> TimelineRow:
    envelope = _envelope(event)
    sequence = event.sequence_number
    payload, personal = payload_for_reader(
        event_type=event.event_type,
        payload=envelope["payload"],
        stored=on_page.get(sequence, []) if sequence < covered else None,
        scanner=scanner,
        raw_allowed=raw_allowed,
    )

    def shown(value: Any) -> str:
        return text_shown(value, raw_allowed=raw_allowed, scanner=scanner)

    return TimelineRow(
        sequence_number=sequence,
        event_id=shown(event.event_id),
        event_type=event.event_type,
        timestamp_wall=shown(event.timestamp_wall),
        # Free text is masked there for every reader; names (agent, tool, model) are not.
        summary=shown(event_summary(envelope, scanner)),
        payload_text="(withheld)"
        if payload is None
        else json.dumps(payload, indent=2, ensure_ascii=False),
        personal_data=personal,
        shown_raw=raw_allowed,
        payload_hash=event.payload_hash,
        prev_event_hash=event.prev_event_hash,
        event_hash=event.event_hash,
        chain_authority=event.chain_authority,
        authority_id=shown(event.authority_id),
        source_sdk_ver=shown(event.source_sdk_ver),
        received_at=event.received_at,
    )


def timeline_page_of(sequence_number: int) -> int:
    return sequence_number // TIMELINE_PAGE_SIZE + 1
