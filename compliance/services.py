"""Exports of stored sessions (compliance JSON, JSONL, PDF), their ledger, and re-verification.

How an export is made:

1. ``export_context`` reads the session's chain once, up to the head it saw when it began,
   verifies it with the service's keys (``ingestion.services.session_verify``, which appends
   the result to the session's history of verifications), spools the
   canonical events to a temporary file and collects what the PDF needs. Policy findings are
   the latest stored ones if they cover the same events, otherwise the session is evaluated
   now (and that evaluation stored, like any other).
2. ``export_write`` writes one format from the context to any binary file object, hashing
   the bytes as they go, and appends the ledger row (``ExportRecord``). A compliance JSON is
   signed whole by the service (``export_signature``). A PDF prints the SHA-256 of a
   compliance JSON written from the same context and carries those exact bytes as a file
   attachment, so the JSON is always written first and every PDF comes with the JSON it
   cites.
3. ``export_render`` does both for views (API, admin): the bytes come back in a temporary
   file, already recorded in the ledger. ``session_files_export`` does it for the bulk
   command, into a folder, skipping files that are already a recorded export of the chain.

``redact`` makes a masked export for a reader without ``compliance.view_raw_payload``
(``compliance.exports.redaction``): labelled as such, signed like any export, recorded in
the ledger as redacted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agentops_sdk import chain
from django.utils import timezone

from ingestion import selectors as ingestion_selectors
from ingestion import services as ingestion_services
from ingestion.models import Session, VerificationTrigger
from policy.rules import PolicyError
from policy.services import scanner_for_project, session_findings_evaluate

from . import selectors, statements
from .canonical import canonical_write, envelope_canonical
from .exports import document
from .exports.context import Actor, ChainStats, ExportContext, rfc3339
from .exports.redaction import RedactionImpossible, redaction_for, session_masked
from .exports.timeline import Timeline
from .models import ExportFormat, ExportRecord

CONTENT_TYPES: dict[str, str] = {
    ExportFormat.JSON: "application/json",
    ExportFormat.JSONL: "application/x-ndjson",
    ExportFormat.PDF: "application/pdf",
}
EXTENSIONS: dict[str, str] = {
    ExportFormat.JSON: "json",
    ExportFormat.JSONL: "jsonl",
    ExportFormat.PDF: "pdf",
}
# The order formats are written in: a PDF cites the compliance JSON written before it.
FORMAT_ORDER = (ExportFormat.JSONL.value, ExportFormat.JSON.value, ExportFormat.PDF.value)

_SPOOL_IN_MEMORY = 8 * 1024 * 1024

# Told how far an export is: (stage, done, total); called often, so it must be cheap.
Progress = Callable[[str, int, int], None]
_HASH_BLOCK = 1 << 20

# --------------------------------------------------------------------------------------
# The context: one pass over the chain
# --------------------------------------------------------------------------------------


__all__ = ["RedactionImpossible"]  # raised by the exports below for a masked copy


def _findings_for(session: Session, event_count: int) -> tuple[Any, str | None]:
    latest = selectors.session_findings_latest(session=session)
    if latest is not None and latest.event_count == event_count:
        return latest, None
    try:
        return session_findings_evaluate(session=session), None
    except PolicyError as exc:
        return None, f"the policy cannot be used: {exc}"
    except ValueError as exc:  # stored events altered into something the policy cannot read
        return None, f"the stored events cannot be evaluated: {exc}"


def session_findings_page(*, session: Session, after: int, limit: int) -> dict[str, Any]:
    """What was found in the session's events after ``after``, ``limit`` events of them:
    ``GET /api/v1/sessions/{id}/findings``.

    The findings are those an export made now carries (the latest stored ones if they cover
    the session's events, otherwise an evaluation made now and stored): PII findings with
    their masked previews only, the tool calls and results left unanswered of the page's
    events, and on every page the policy, its rule results, the summary and the tool
    totals. ``next_after`` is the last sequence number the page covers, None on the last.
    """
    findings, problem = _findings_for(session, session.event_count)
    page: dict[str, Any] = {
        "session_id": str(session.pk),
        "available": findings is not None,
        "reason": problem,
        "event_count": None,
        "policy": None,
        "evaluated_at": None,
        "passed": None,
        "summary": None,
        "rule_results": [],
        "pii_findings": [],
        "tool_audit": {"calls": [], "totals": [], "unmatched_results": []},
        "next_after": None,
    }
    if findings is None:
        return page
    last = after + limit

    def on_page(sequence_number: Any) -> bool:
        return isinstance(sequence_number, int) and after < sequence_number <= last

    lists = selectors.findings_lists(findings=findings)
    audit = lists["tool_audit"]
    page.update(
        event_count=findings.event_count,
        policy={"name": findings.policy_name, "sha256": findings.policy_sha256},
        evaluated_at=findings.evaluated_at.isoformat(),
        passed=findings.passed,
        summary=findings.summary,
        rule_results=findings.rule_results,
        pii_findings=[f for f in lists["pii_findings"] if on_page(f.get("sequence_number"))],
        tool_audit={
            "calls": [
                c for c in audit.get("calls") or () if on_page(c.get("call_sequence_number"))
            ],
            "totals": list(audit.get("totals") or ()),
            "unmatched_results": [n for n in audit.get("unmatched_results") or () if on_page(n)],
        },
        next_after=last if last < findings.event_count - 1 else None,
    )
    return page


class _Spool:
    """Canonical events, one per line, in a temporary file (in memory while small).

    Writes are batched: a long session would otherwise spend a noticeable part of its export
    in the temporary file's per-call overhead.
    """

    _BATCH = 1000

    def __init__(self) -> None:
        # Owned by the export context, which closes it on exit.
        self.file = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        self._pending: list[bytes] = []
        self._empty = True

    def add(self, line: bytes) -> None:
        self._pending.append(line)
        if len(self._pending) >= self._BATCH:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.file.write((b"" if self._empty else b"\n") + b"\n".join(self._pending))
            self._empty = False
            self._pending = []

    def lines(self) -> Iterator[bytes]:
        self.flush()
        self.file.seek(0)
        for line in self.file:
            yield line.rstrip(b"\n")


def _event_bytes(envelope: dict[str, Any], payload_jcs: str | None, lost: list[int]) -> bytes:
    """The event's canonical bytes; a payload RFC 8785 cannot represent (NaN, a huge
    integer, written behind the service's back) is exported as null and listed in ``lost``."""
    try:
        return envelope_canonical(envelope, payload_jcs)
    except chain.NonCanonicalValueError:
        lost.append(envelope["sequence_number"])
        return chain.canonicalize({**envelope, "payload": None})


def _recanonicalized(spool: _Spool, lost: list[int]) -> _Spool:
    """Every event canonicalized whole, for a chain whose stored payload texts cannot be
    trusted to be canonical (the verifier found a payload that does not match its hash)."""
    redone = _Spool()
    for line in spool.lines():
        redone.add(_event_bytes(json.loads(line), None, lost))
    redone.flush()
    return redone


@contextlib.contextmanager
def export_context(
    *,
    session: Session,
    timeline: bool = False,
    actor: Actor | None = None,
    redact: bool = False,
    progress: Progress | None = None,
) -> Iterator[ExportContext]:
    """The chain of ``session`` as it stands now, verified, with its findings.

    The verification is appended to the session's history under ``actor``, as an export's.
    ``timeline`` also builds the PDF's timeline lines. Use as a context manager: the spooled
    events are deleted on exit. Memory stays flat whatever the session's length (apart from
    the timeline lines, one short string per event).

    ``redact`` masks the export (payloads holding personal data withheld, the session's
    agent id and metadata masked) and raises ``RedactionImpossible`` when personal data sits
    in a chain field. The stored chain itself is what is verified, so a withheld payload
    that was altered still fails the report.
    """
    session = Session.objects.select_related("project").get(pk=session.pk)
    last_sequence = -1 if session.head_sequence is None else session.head_sequence
    exported_at = timezone.now()
    stats = ChainStats()
    spool = _Spool()
    lost: list[int] = []
    lines = Timeline(scanner_for_project(project=session.project)) if timeline else None
    redaction = redaction_for(session=session) if redact else None

    def stream() -> Iterator[dict[str, Any]]:
        for envelope, payload_jcs in ingestion_selectors.session_chain_through(
            session=session, last_sequence=last_sequence
        ):
            shown = envelope if redaction is None else redaction.envelope(envelope)
            spool.add(_event_bytes(shown, payload_jcs if shown is envelope else None, lost))
            stats.add(envelope)
            if lines is not None:
                lines.add(shown)
            if progress is not None and stats.last_sequence is not None:
                progress("verifying", stats.last_sequence + 1, last_sequence + 1)
            yield envelope

    try:
        report = ingestion_services.session_verify(
            session=session, trigger=VerificationTrigger.EXPORT, actor=actor, events=stream()
        )
        spool.flush()
        if any(v["type"] == "PAYLOAD_HASH_MISMATCH" for v in report["violations"]):
            redone = _recanonicalized(spool, lost)
            spool.file.close()
            spool = redone
        agent_id, metadata = session.agent_id, session.metadata
        if redaction is not None:
            # The stored chain's report, naming what this copy withholds (spec §3).
            withheld = sorted(set(report["redacted_events"]) | set(redaction.withheld))
            report = {**report, "redacted_events": withheld}
            agent_id, metadata, _ = session_masked(
                redaction=redaction, agent_id=agent_id, metadata=metadata
            )
        findings, problem = _findings_for(session, report["event_count"])
        yield ExportContext(
            session=session,
            exported_at=exported_at,
            report=report,
            stats=stats,
            findings=findings,
            findings_problem=problem,
            ingestion=selectors.session_ingestion_facts(
                session=session, last_sequence=last_sequence
            ),
            timeline=lines,
            spool=spool.file,
            payloads_not_exported=tuple(sorted(set(lost))),
            redaction=redaction,
            agent_id=agent_id,
            metadata=metadata,
        )
    finally:
        spool.file.close()


# --------------------------------------------------------------------------------------
# Writing one format, and the ledger
# --------------------------------------------------------------------------------------


class _Digest:
    """Passes bytes on to a file while counting and hashing them."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.target.write(data)
        self.sha256.update(data)
        self.size += len(data)


def export_file_name(*, session: Session, fmt: str, context: ExportContext) -> str:
    """``agentops-<session>-<yyyymmdd>[-unsealed][-redacted].<ext>``: the seal state and a
    masked copy are visible even in a JSONL file, which cannot state them inside."""
    date = context.exported_at.strftime("%Y%m%d")
    unsealed = "" if context.sealed else "-unsealed"
    redacted = "-redacted" if context.redacted else ""
    return f"agentops-{session.pk}-{date}{unsealed}{redacted}.{EXTENSIONS[fmt]}"


def export_write(
    *,
    context: ExportContext,
    fmt: str,
    target: IO[bytes],
    actor: Actor,
    json_export: ExportRecord | None = None,
    json_data: bytes | None = None,
    attached_to_pdf: bool = False,
    file_name: str | None = None,
) -> ExportRecord:
    """Write one format of the context to ``target`` and record it in the ledger.

    A PDF needs ``json_export`` and ``json_data``: the ledger row and the exact bytes of the
    compliance JSON written from this same context, whose SHA-256 the PDF prints and which
    it carries as a file attachment. ``attached_to_pdf`` marks a JSON written for a PDF to
    carry. Raises ValueError for an unknown format, or a JSON of another export.
    """
    fmt = ExportFormat(fmt).value  # a plain string; ValueError for an unknown format
    sink = export_bytes_write(
        context=context,
        fmt=fmt,
        target=target,
        actor=actor,
        json_export=json_export,
        json_data=json_data,
    )
    return ExportRecord.objects.create(
        **export_ledger_fields(
            context=context,
            fmt=fmt,
            sha256=sink.sha256.hexdigest(),
            size_bytes=sink.size,
            json_export=json_export,
            attached_to_pdf=attached_to_pdf,
            file_name=file_name,
        ),
        **actor_ledger_fields(actor),
    )


def export_bytes_write(
    *,
    context: ExportContext,
    fmt: str,
    target: IO[bytes],
    actor: Actor,
    json_export: ExportRecord | None = None,
    json_data: bytes | None = None,
    progress: Progress | None = None,
) -> _Digest:
    """The bytes of one format of the context, written to ``target`` (hashed and counted on
    the way); nothing is recorded. ``export_write`` and export jobs record them."""
    fmt = ExportFormat(fmt).value
    sink = _Digest(target)
    if fmt == ExportFormat.JSONL:
        document.jsonl_write(context=context, write=sink.write)
    elif fmt == ExportFormat.JSON:
        document.compliance_json_write(context=context, actor=actor, write=sink.write)
    else:
        if (
            json_export is None
            or json_data is None
            or not (
                json_export.format == ExportFormat.JSON
                and json_export.session_id == context.session.pk
                and json_export.exported_at == context.exported_at
                and json_export.attached_to_pdf
                and json_export.sha256 == hashlib.sha256(json_data).hexdigest()
            )
        ):
            raise ValueError(
                "a PDF cites the compliance JSON written from the same context, and carries it"
            )
        from .exports.pdf import pdf_write  # WeasyPrint loads slowly; only PDFs need it

        pdf_write(
            context=context,
            actor=actor,
            json_export=json_export,
            json_data=json_data,
            write=sink.write,
            progress=progress,
        )
    return sink


def export_ledger_fields(
    *,
    context: ExportContext,
    fmt: str,
    sha256: str,
    size_bytes: int,
    json_export: ExportRecord | None = None,
    attached_to_pdf: bool = False,
    file_name: str | None = None,
) -> dict[str, Any]:
    """What the ledger records of an export's bytes, apart from who received them."""
    report = context.report
    return {
        "session": context.session,
        "format": fmt,
        "file_name": file_name
        or export_file_name(session=context.session, fmt=fmt, context=context),
        "sha256": sha256,
        "size_bytes": size_bytes,
        "exported_at": context.exported_at,
        "delivered": True,
        "attached_to_pdf": attached_to_pdf and fmt == ExportFormat.JSON,
        "redacted": context.redacted,
        "sealed": context.sealed,
        "verification_status": report["status"],
        "evidence_class": report.get("evidence_class"),
        "last_sequence_number": context.stats.last_sequence,
        "last_event_hash": context.stats.last_hash,
        "findings": context.findings,
        "json_export": json_export if fmt == ExportFormat.PDF else None,
    }


def actor_ledger_fields(actor: Actor) -> dict[str, Any]:
    """Who received an export, as the ledger records it."""
    return {
        "channel": actor.channel,
        "actor": actor.name[:300],
        "user": actor.user,
        "api_key": actor.api_key,
    }


@dataclass
class RenderedExport:
    """An export ready to hand out: its bytes in a temporary file, already in the ledger."""

    record: ExportRecord
    file: IO[bytes]  # positioned at the start; the caller closes it
    content_type: str

    @property
    def file_name(self) -> str:
        return self.record.file_name


def export_render(
    *, session: Session, fmt: str, actor: Actor, redact: bool = False
) -> RenderedExport:
    """Render one format of the session for ``actor`` and record it.

    A PDF is preceded by the compliance JSON it cites, which it carries as an attachment
    (recorded as delivered, attached to the PDF). ``redact`` makes a masked export; it
    raises ``RedactionImpossible`` when one cannot be made.
    """
    fmt = ExportFormat(fmt).value  # a plain string; ValueError for an unknown format
    # Handed to the caller, who closes it (a FileResponse does once it is sent).
    output = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    try:
        with export_context(
            session=session, timeline=fmt == ExportFormat.PDF, actor=actor, redact=redact
        ) as context:
            pair: dict[str, Any] = {}
            if fmt == ExportFormat.PDF:
                with tempfile.TemporaryFile() as companion:  # read back once: one copy
                    pair["json_export"] = export_write(
                        context=context,
                        fmt=ExportFormat.JSON,
                        target=companion,
                        actor=actor,
                        attached_to_pdf=True,
                    )
                    companion.seek(0)
                    pair["json_data"] = companion.read()
            record = export_write(context=context, fmt=fmt, target=output, actor=actor, **pair)
    except BaseException:
        output.close()
        raise
    output.seek(0)
    return RenderedExport(record=record, file=output, content_type=CONTENT_TYPES[fmt])


# --------------------------------------------------------------------------------------
# Bulk export into folders
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    record: ExportRecord
    skipped: bool  # already present with the recorded hash: not written again


@dataclass(frozen=True)
class SessionFiles:
    session: Session
    files: tuple[ExportedFile, ...]
    agent_id: str  # as the files show it (masked in a masked export)

    @property
    def redacted(self) -> bool:
        return self.files[0].record.redacted

    @property
    def no_events(self) -> bool:
        """Started and never given an event: reported as such, not as a failure."""
        record = self.files[0].record
        events = 0 if record.last_sequence_number is None else record.last_sequence_number + 1
        return statements.session_without_events(
            head_sequence=self.session.head_sequence, events_read=events
        )

    @property
    def verification_status(self) -> str:
        return self.files[0].record.verification_status

    @property
    def evidence_class(self) -> str | None:
        return self.files[0].record.evidence_class

    @property
    def failed(self) -> bool:
        if self.no_events:
            return False
        return any(f.record.verification_status != "PASS" for f in self.files)


def file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _recorded_export(session: Session, fmt: str, path: Path, redact: bool) -> ExportRecord | None:
    """The ledger row of the file at ``path`` if it is an export of the session's current
    chain, byte for byte, masked or not as asked; None when it is missing, altered, of an
    older head, or not masked as asked."""
    if not path.is_file():
        return None
    sha256, size = file_sha256(path)
    record = selectors.export_record_matching(
        session=session, fmt=fmt, sha256=sha256, size_bytes=size
    )
    if record is None or record.last_event_hash != session.head_hash:
        return None
    if record.redacted != redact:
        return None
    return record


def session_files_export(
    *,
    session: Session,
    folder: Path,
    formats: Iterable[str],
    actor: Actor,
    redact: bool = False,
) -> SessionFiles:
    """Export the session into ``folder`` as ``<session id>.<ext>``, one file per format.

    A PDF comes with the compliance JSON it cites, written beside it and attached inside it
    (the same bytes). ``redact`` makes masked exports (``RedactionImpossible`` when it
    cannot), and only a masked file is kept for a masked export. A file already present
    whose bytes are a recorded export of the session's current chain (same head) is kept as
    it is, with the verification recorded when it was written; anything else is (re)written
    through a temporary name, so a crash never leaves half a file under the final name. A
    PDF and its JSON are always written together.
    """
    wanted = {ExportFormat(fmt).value for fmt in formats}
    if ExportFormat.PDF in wanted:
        wanted.add(ExportFormat.JSON.value)
    session = Session.objects.select_related("project").get(pk=session.pk)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {fmt: folder / f"{session.pk}.{EXTENSIONS[fmt]}" for fmt in wanted}

    kept = {fmt: _recorded_export(session, fmt, paths[fmt], redact) for fmt in wanted}
    pdf, json_record = kept.get(ExportFormat.PDF), kept.get(ExportFormat.JSON)
    if pdf is not None and (json_record is None or pdf.json_export_id != json_record.pk):
        kept[ExportFormat.PDF] = None  # it cites a JSON that is no longer beside it
    todo = {fmt for fmt in wanted if kept[fmt] is None}
    if ExportFormat.PDF in todo:
        todo.add(ExportFormat.JSON.value)

    files = {
        fmt: ExportedFile(paths[fmt], record, skipped=True)
        for fmt, record in kept.items()
        if fmt not in todo and record is not None
    }
    if todo:
        with export_context(
            session=session, timeline=ExportFormat.PDF in todo, actor=actor, redact=redact
        ) as context:
            pair: dict[str, Any] = {}
            for fmt in (fmt for fmt in FORMAT_ORDER if fmt in todo):
                if fmt == ExportFormat.PDF:
                    pair["json_data"] = paths[ExportFormat.JSON].read_bytes()
                record = _file_write(
                    paths[fmt],
                    context=context,
                    fmt=fmt,
                    actor=actor,
                    attached_to_pdf=ExportFormat.PDF in todo,
                    **pair,
                )
                if fmt == ExportFormat.JSON:
                    pair["json_export"] = record
                files[fmt] = ExportedFile(paths[fmt], record, skipped=False)
            shown_agent_id = context.agent_id
    else:
        shown_agent_id = _agent_id_shown(session, redact)
    ordered = tuple(files[fmt] for fmt in FORMAT_ORDER if fmt in files)
    return SessionFiles(session=session, files=ordered, agent_id=shown_agent_id)


def _agent_id_shown(session: Session, redact: bool) -> str:
    if not redact:
        return session.agent_id
    redaction = redaction_for(session=session)
    return session_masked(redaction=redaction, agent_id=session.agent_id, metadata=None)[0]


def _file_write(path: Path, **export: Any) -> ExportRecord:
    """``export_write`` into ``path`` through a temporary name in the same folder, so that a
    crash never leaves half a file under the final name."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        with open(partial, "wb") as target:
            record = export_write(target=target, file_name=path.name, **export)
            target.flush()
            os.fsync(target.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return record


MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "agentops-export-manifest"


def _manifest_entry(result: SessionFiles, out_dir: Path) -> dict[str, Any]:
    session = result.session
    return {
        "session_id": str(session.pk),
        "project": session.project.name,
        "agent_id": result.agent_id,
        "redacted": result.redacted,
        "no_events": result.no_events,
        "sealed": result.files[0].record.sealed,
        "verification_status": result.verification_status,
        "evidence_class": result.evidence_class,
        "flagged": result.failed,
        "files": [
            {
                "path": exported.path.relative_to(out_dir).as_posix(),
                "format": exported.record.format,
                "sha256": exported.record.sha256,
                "size_bytes": exported.record.size_bytes,
                "export_id": exported.record.pk,
                "exported_at": rfc3339(exported.record.exported_at),
                "verification_status": exported.record.verification_status,
                "evidence_class": exported.record.evidence_class,
            }
            for exported in result.files
        ],
    }


def export_manifest_write(
    *,
    out_dir: Path,
    results: Iterable[SessionFiles],
    generated_by: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``manifest.json`` (RFC 8785) listing every exported file with its SHA-256.

    ``extra`` adds top-level members (a matter's export names its matter); it cannot replace
    the members written here.

    Sessions listed by an earlier manifest in the folder and not exported this time keep
    their entries, so that re-running with another filter extends the folder's manifest.
    """
    path = out_dir / MANIFEST_NAME
    entries: dict[str, dict[str, Any]] = {}
    if path.is_file():
        previous = _json_load(path)
        for entry in previous.get("sessions", []) if isinstance(previous, Mapping) else []:
            if isinstance(entry, Mapping) and isinstance(entry.get("session_id"), str):
                entries[entry["session_id"]] = dict(entry)
    for result in results:
        entries[str(result.session.pk)] = _manifest_entry(result, out_dir)
    sessions = [entries[key] for key in sorted(entries)]
    manifest = {
        **(extra or {}),
        "manifest_format": MANIFEST_FORMAT,
        "manifest_version": "1",
        "generated_at": rfc3339(timezone.now()),
        "generated_by": generated_by,
        "hash_algorithm": document.HASH_ALGORITHM,
        "sessions": sessions,
        "summary": {
            "sessions": len(sessions),
            "files": sum(len(entry["files"]) for entry in sessions),
            "flagged": sum(bool(entry.get("flagged")) for entry in sessions),
        },
    }
    partial = path.with_name(f".{MANIFEST_NAME}.partial")
    with open(partial, "wb") as target:
        canonical_write(manifest, target.write)
    os.replace(partial, path)
    return manifest


def _json_load(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (ValueError, OSError):
        return None  # an unreadable manifest is rebuilt from this run


# --------------------------------------------------------------------------------------
# Re-verification of stored chains
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionVerification:
    session: Session
    report: dict[str, Any] | None  # None: the session holds no event yet

    @property
    def failed(self) -> bool:
        return self.report is not None and self.report["status"] != "PASS"


def sessions_verify(
    *, actor: Actor, session_ids: Iterable[uuid.UUID] | None = None
) -> Iterator[SessionVerification]:
    """Recompute every stored chain (of the given sessions, or of all), one at a time, each
    result appended to its session's history of verifications under ``actor``.

    Every stored row takes part, including any beyond the head the service recorded, and a
    payload text that is no longer JSON is reported by the verifier instead of stopping it.
    """
    ids = list(session_ids) if session_ids is not None else None
    sessions = ingestion_selectors.sessions_for_project(
        project=None, session_ids=ids, newest_first=False
    )
    for session in sessions.iterator(chunk_size=200):
        if not session.events.exists():
            yield SessionVerification(session, None)
            continue
        envelopes = ingestion_selectors.session_envelopes(session=session)
        report = ingestion_services.session_verify(
            session=session, trigger=VerificationTrigger.COMMAND, actor=actor, events=envelopes
        )
        yield SessionVerification(session, report)
