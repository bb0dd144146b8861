"""The right to erasure (GDPR Art. 17), keeping every chain, seal and verdict verifiable.

``erasure_plan`` finds what a request covers: a data subject's events across a project
(through the keyed fingerprints of ``policy.subjects``), or named events of one session; and
every export in the export ledger that already handed those payloads out (GDPR Art. 19: the
controller notifies the recipients). ``erasure_execute`` erases them in one transaction: the
ledger rows first, the payloads withheld, the findings' previews withdrawn. Its report is
RFC 8785 JSON and names no personal data (sessions, sequence numbers, kept hashes, exports).

Not covered, and said so in the report: backups, exports already handed out (listed),
copies outside this database (logs, mail). A process's in-memory scan cache is cleared in
the process that erases; other worker processes drop the texts as their caches turn over.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agentops_sdk import chain
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from compliance.exports.erasures import erasure_note
from compliance.models import ExportRecord
from ingestion.erasure_models import Erasure
from ingestion.errors import IngestionError
from ingestion.models import Event, Project, Session
from ingestion.services import Caller
from ingestion.services.erasure import erasure_request_check, events_erase_many
from policy import pii
from policy.erasure import findings_previews_withdraw_many
from policy.models import SubjectFingerprint
from policy.subjects import subject_fingerprints

REPORT_FORMAT = "agentops-erasure-report"
REPORT_VERSION = "1"
NOT_COVERED = (
    "Erasure withholds payloads in this database only. It does not reach backups, exports "
    "already handed out (listed under exports_already_handed_out: notify their recipients), "
    "nor copies kept outside this database. Each payload's hash stays in the chain: a guessable "
    "payload recorded without a nonce can still be confirmed by whoever guesses it."
)


@dataclass
class PlannedEvent:
    sequence_number: int
    event_id: str
    event_type: str
    payload_hash: str
    already_erased: bool


@dataclass
class PlannedSession:
    session: Session
    events: list[PlannedEvent] = field(default_factory=list)


@dataclass
class ErasurePlan:
    project: Project | None
    subject_kinds: list[str]
    sessions: list[PlannedSession]
    exports: list[ExportRecord]

    @property
    def event_count(self) -> int:
        return sum(len(s.events) for s in self.sessions)

    @property
    def pending_count(self) -> int:
        return sum(1 for s in self.sessions for e in s.events if not e.already_erased)


def subject_rows(
    *, fingerprints: Iterable[str], project: Project | None = None
) -> QuerySet[SubjectFingerprint]:
    """The stored fingerprint rows (one per event holding the value) of any of
    ``fingerprints`` (what ``subject_fingerprints`` makes of a value), in ``project`` or in
    every project: how erasure and the console's person search find a data subject's events
    without the value being stored anywhere."""
    rows = SubjectFingerprint.objects.filter(fingerprint__in=sorted(set(fingerprints)))
    return rows if project is None else rows.filter(session__project=project)


def subject_events_find(*, project: Project, subject: str) -> tuple[list[str], dict[Any, set[int]]]:
    """(kinds the subject was read as, session id -> sequence numbers) of the events of
    ``project`` in which the subject's value was found."""
    pairs = subject_fingerprints(value=subject)
    if not pairs:
        raise IngestionError(
            "ERASURE_SUBJECT_UNREADABLE",
            "the subject is not an e-mail address, phone number, SSN, card number or IBAN",
            status=400,
        )
    found: dict[Any, set[int]] = defaultdict(set)
    rows = subject_rows(fingerprints=[fp for _, fp in pairs], project=project).values_list(
        "session_id", "sequence_number"
    )
    for session_id, sequence in rows:
        found[session_id].add(sequence)
    return sorted({kind for kind, _ in pairs}), found


def erasure_plan(
    *,
    project: Project | None = None,
    subject: str | None = None,
    session: Session | None = None,
    sequence_numbers: Iterable[int] | None = None,
) -> ErasurePlan:
    """What an erasure would do: by ``subject`` within ``project``, or ``sequence_numbers``
    of ``session`` (all of its producer events when None). Changes nothing."""
    kinds: list[str] = []
    if subject is not None:
        if project is None:
            raise IngestionError(
                "ERASURE_PROJECT_REQUIRED", "a subject is searched within a project", status=400
            )
        kinds, wanted = subject_events_find(project=project, subject=subject)
        if session is not None:
            wanted = {k: v for k, v in wanted.items() if k == session.pk}
    elif session is not None:
        numbers = None if sequence_numbers is None else set(sequence_numbers)
        wanted = {session.pk: numbers} if numbers is None or numbers else {}
    else:
        raise IngestionError(
            "ERASURE_SCOPE_REQUIRED", "name a subject or a session to erase from", status=400
        )
    sessions = _planned_sessions(wanted, project)
    return ErasurePlan(project, kinds, sessions, _exports_handing_out(sessions))


def _planned_sessions(wanted: dict[Any, set[int] | None], project: Project | None):
    by_id = Session.objects.select_related("project").in_bulk(list(wanted))
    for session_id in wanted:
        session = by_id.get(session_id)
        if session is None or (project is not None and session.project_id != project.pk):
            raise IngestionError("SESSION_NOT_FOUND", "no such session", status=404)
    ordered = sorted(wanted, key=str)
    entries = {pk: PlannedSession(by_id[pk]) for pk in ordered}
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        events = Event.objects.filter(session_id__in=chunk).exclude(
            event_type=chain.SEAL_EVENT_TYPE
        )
        if all(wanted[pk] is not None for pk in chunk):
            numbers = sorted({n for pk in chunk for n in wanted[pk] or ()})
            events = events.filter(sequence_number__in=numbers)
        rows = events.order_by("session_id", "sequence_number").values_list(
            "session_id", "sequence_number", "event_id", "event_type", "payload_hash", "payload_jcs"
        )
        for session_id, sequence, event_id, event_type, payload_hash, payload_jcs in rows:
            numbers_wanted = wanted[session_id]
            if numbers_wanted is not None and sequence not in numbers_wanted:
                continue
            entries[session_id].events.append(
                PlannedEvent(sequence, event_id, event_type, payload_hash, payload_jcs is None)
            )
    for pk in ordered:
        numbers_wanted = wanted[pk]
        if numbers_wanted is None:
            continue
        missing = sorted(numbers_wanted - {e.sequence_number for e in entries[pk].events})
        if missing:
            raise IngestionError(
                "ERASURE_EVENT_NOT_FOUND",
                "the session holds no producer event with these sequence numbers",
                status=404,
                details={"session_id": str(pk), "sequence_numbers": missing},
            )
    return [entry for entry in entries.values() if entry.events]


_CHUNK = 500


def _exports_handing_out(sessions: list[PlannedSession]) -> list[ExportRecord]:
    """Exports of these sessions that held at least one of the payloads in full: every
    export but a masked one, which withheld each payload holding personal data."""
    first = {e.session.pk: min(x.sequence_number for x in e.events) for e in sessions}
    ids = list(first)
    found: list[ExportRecord] = []
    for start in range(0, len(ids), _CHUNK):
        records = ExportRecord.objects.filter(
            session_id__in=ids[start : start + _CHUNK], redacted=False
        ).order_by("recorded_at", "pk")
        found.extend(
            r
            for r in records
            if r.last_sequence_number is None or r.last_sequence_number >= first[r.session_id]
        )
    found.sort(key=lambda r: (r.recorded_at, r.pk))
    return found


def _export_entry(record: ExportRecord) -> dict[str, Any]:
    return {
        "session_id": str(record.session_id),
        "format": record.format,
        "file_name": record.file_name,
        "sha256": record.sha256,
        "recorded_at": record.recorded_at.isoformat(),
        "channel": record.channel,
        "actor": record.actor,
        "delivered": record.delivered,
    }


def erasure_report(
    *,
    plan: ErasurePlan,
    executed: bool,
    request_ref: str,
    reason: str,
    caller: Caller,
    at: datetime,
    erased_now: dict[tuple[str, int], bool] | None = None,
) -> dict[str, Any]:
    """The report of a dry run or an erasure: no personal data, only what names events."""
    sessions = []
    for entry in plan.sessions:
        events = []
        for event in entry.events:
            key = (str(entry.session.pk), event.sequence_number)
            events.append(
                {
                    "sequence_number": event.sequence_number,
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "payload_hash": event.payload_hash,
                    "already_erased": event.already_erased,
                    "erased_now": bool(erased_now and erased_now.get(key)),
                }
            )
        sessions.append(
            {
                "session_id": str(entry.session.pk),
                "project": entry.session.project.name,
                "sealed": entry.session.sealed,
                "events": events,
            }
        )
    return {
        "report_format": REPORT_FORMAT,
        "report_version": REPORT_VERSION,
        "executed": executed,
        "at": at.isoformat(),
        "request_ref": request_ref,
        "reason": reason,
        "by": caller.name,
        "project": plan.project.name if plan.project else None,
        "subject_read_as": plan.subject_kinds,
        "event_count": plan.event_count,
        "sessions": sessions,
        "exports_already_handed_out": [_export_entry(r) for r in plan.exports],
        "not_covered": NOT_COVERED,
    }


def erasure_execute(
    *, plan: ErasurePlan, request_ref: str, reason: str, caller: Caller
) -> dict[str, Any]:
    """Erase every planned event in one transaction; the report of what was done.

    Idempotent: events already erased are left as they are (their ledger rows stand).
    """
    request_ref, reason = erasure_request_check(request_ref=request_ref, reason=reason)
    erased_now: dict[tuple[str, int], bool] = {}
    with transaction.atomic():
        results = events_erase_many(
            targets={e.session: [x.sequence_number for x in e.events] for e in plan.sessions},
            request_ref=request_ref,
            reason=reason,
            caller=caller,
        )
        fresh: dict[Any, list[int]] = defaultdict(list)
        for result in results:
            erased_now[(result.session_id, result.sequence_number)] = result.erased_now
            if result.erased_now:
                fresh[uuid.UUID(result.session_id)].append(result.sequence_number)
        findings_previews_withdraw_many(targets=fresh)
    # The scanner's in-process cache holds recently scanned texts: drop them.
    pii.scan_cache_clear()
    return erasure_report(
        plan=plan,
        executed=True,
        request_ref=request_ref,
        reason=reason,
        caller=caller,
        at=timezone.now(),
        erased_now=erased_now,
    )


def erasure_report_bytes(report: dict[str, Any]) -> bytes:
    """The report as RFC 8785 JSON."""
    return chain.canonicalize(report)


def session_erasures(*, session: Session, sequence_numbers: Iterable[int] | None = None):
    """The ledger rows of ``session`` (of ``sequence_numbers`` only, when given)."""
    rows = Erasure.objects.filter(session=session).order_by("sequence_number")
    if sequence_numbers is not None:
        rows = rows.filter(sequence_number__in=list(sequence_numbers))
    return list(rows)


def erasure_notes_apply(*, page: Any, session: Session) -> None:
    """Show "payload erased on DATE under request REF" for the erased events of a page."""
    numbers = [row.sequence_number for row in page.rows]
    if not numbers:
        return
    notes = {
        row.sequence_number: erasure_note(erased_at=row.erased_at, request_ref=row.request_ref)
        for row in Erasure.objects.filter(session=session, sequence_number__in=numbers)
    }
    for row in page.rows:
        if row.sequence_number in notes:
            # The line and its details say so; nothing of the payload is left to mark as
            # personal data.
            row.summary = notes[row.sequence_number]
            row.payload_text = f"({notes[row.sequence_number]})"
            row.personal_data = 0


def erasures_unrecorded(*, sessions: Iterable[Session] | None = None) -> dict[Any, list[int]]:
    """Session id -> sequence numbers of events whose stored payload is missing although the
    erasure ledger records no erasure of them: a payload removed behind the triggers' back
    (the owner's rights), which verification alone cannot tell from a recorded erasure."""
    from django.db.models import Exists, OuterRef

    withheld = Event.objects.filter(payload_jcs__isnull=True).exclude(
        Exists(
            Erasure.objects.filter(
                session_id=OuterRef("session_id"), sequence_number=OuterRef("sequence_number")
            )
        )
    )
    if sessions is not None:
        withheld = withheld.filter(session__in=list(sessions))
    found: dict[Any, list[int]] = defaultdict(list)
    for session_id, sequence in withheld.order_by("session_id", "sequence_number").values_list(
        "session_id", "sequence_number"
    ):
        found[session_id].append(sequence)
    return dict(found)
