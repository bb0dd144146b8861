"""Export jobs: exports made off the request path, by ``manage.py export_worker``.

A job is queued with Django's tasks framework (the django-tasks backport, its database
backend: the queue is a table of the service's own database, PostgreSQL or SQLite, so no
other server is needed). The worker renders the export with the same code as an export made
at once (``compliance.services``), into a temporary name in ``AGENTOPS_EXPORT_JOB_DIR``, and
renames it when it is complete: a half file is never under the final name, and never served.

A job that loses its worker (killed, machine gone) stops sending heartbeats; after
``AGENTOPS_EXPORT_JOB_STALE_SECONDS`` it is queued again with its attempt number raised, at
most ``AGENTOPS_EXPORT_JOB_ATTEMPTS`` times in all. Only the current attempt may finish a job
(a worker that was merely slow finds its attempt superseded and stops).

The finished file is entered in the export ledger each time it is fetched, under whoever
fetched it. A PDF's companion compliance JSON (the evidence it cites and carries) is entered
when the PDF is made, as for an export made at once.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ingestion.errors import IngestionError
from ingestion.models import Session

from . import services
from .exports.context import Actor
from .models import ExportFormat, ExportJob, ExportJobState, ExportRecord

# Between two writes of a job's progress (each is an UPDATE of its row).
_HEARTBEAT_SECONDS = 1.0


class JobSuperseded(Exception):
    """The job was queued again (its worker was thought dead): this attempt must stop."""


def job_not_found() -> IngestionError:
    """A malformed id, no such job, or another project's: answered alike."""
    return IngestionError("EXPORT_JOB_NOT_FOUND", "export job not found", status=404)


def export_needs_job(*, session: Session, fmt: str) -> bool:
    """A PDF always is a job; a JSON or JSONL export when the session is long."""
    fmt = ExportFormat(fmt).value
    if fmt == ExportFormat.PDF:
        return True
    return session.event_count > settings.AGENTOPS_EXPORT_INLINE_MAX_EVENTS


def export_job_create(
    *, session: Session, fmt: str, actor: Actor, redact: bool = False
) -> ExportJob:
    """Queue an export of ``session`` for ``actor``. Raises ``EXPORT_JOBS_LIMIT`` (429) when
    the session's project already has its share of jobs queued or running."""
    fmt = ExportFormat(fmt).value
    export_jobs_recover()
    limit = settings.AGENTOPS_EXPORT_JOBS_PER_PROJECT
    with transaction.atomic():
        active = ExportJob.objects.filter(
            session__project_id=session.project_id,
            state__in=(ExportJobState.QUEUED, ExportJobState.RUNNING),
        ).count()
        if active >= limit:
            raise IngestionError(
                "EXPORT_JOBS_LIMIT",
                f"the project has {active} export job(s) queued or running, its limit",
                status=429,
                details={"limit": limit, "retry_after": 5},
            )
        job = ExportJob.objects.create(
            session=session,
            format=fmt,
            redact=redact,
            channel=actor.channel,
            actor=actor.name[:300],
            user=actor.user,
            api_key=actor.api_key,
        )
        _enqueue(job)
    return job


def _enqueue(job: ExportJob) -> None:
    from .tasks import export_job_task

    export_job_task.enqueue(str(job.pk), job.attempt)


def export_jobs_recover() -> list[ExportJob]:
    """Queue again every running job whose worker has not been heard from for
    ``AGENTOPS_EXPORT_JOB_STALE_SECONDS``; fail those out of attempts. Returns them."""
    stale = timezone.now() - timedelta(seconds=settings.AGENTOPS_EXPORT_JOB_STALE_SECONDS)
    recovered = []
    candidates = ExportJob.objects.filter(state=ExportJobState.RUNNING, heartbeat_at__lt=stale)
    for job in candidates:
        with transaction.atomic():
            if job.attempt >= settings.AGENTOPS_EXPORT_JOB_ATTEMPTS:
                changed = ExportJob.objects.filter(
                    pk=job.pk, attempt=job.attempt, state=ExportJobState.RUNNING
                ).update(
                    state=ExportJobState.FAILED,
                    stage="failed",
                    error=f"the worker stopped answering {job.attempt} time(s)",
                    finished_at=timezone.now(),
                )
            else:
                changed = ExportJob.objects.filter(
                    pk=job.pk, attempt=job.attempt, state=ExportJobState.RUNNING
                ).update(
                    state=ExportJobState.QUEUED,
                    stage="queued again",
                    attempt=F("attempt") + 1,
                    heartbeat_at=None,
                )
                if changed:
                    job.refresh_from_db()
                    _enqueue(job)
        if changed:
            recovered.append(job)
    return recovered


class _Heartbeat:
    """Writes a job's progress at most once a second, and stops a superseded attempt."""

    def __init__(self, job: ExportJob) -> None:
        self.job = job
        self.last = 0.0
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and stage == self.stage and now - self.last < _HEARTBEAT_SECONDS:
            return
        self.last, self.stage = now, stage
        changed = ExportJob.objects.filter(
            pk=self.job.pk, attempt=self.job.attempt, state=ExportJobState.RUNNING
        ).update(stage=stage, done=done, total=total, heartbeat_at=timezone.now())
        if not changed:
            raise JobSuperseded(str(self.job.pk))


class _Pulse:
    """A thread that marks the job alive while its attempt runs, however long one step of the
    rendering takes: only a dead worker (or a lost database) lets the heartbeat go stale."""

    def __init__(self, job: ExportJob) -> None:
        self.job = job
        self.stop = threading.Event()
        self.every = max(0.2, settings.AGENTOPS_EXPORT_JOB_STALE_SECONDS / 4)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.wait(self.every):
                ExportJob.objects.filter(
                    pk=self.job.pk, attempt=self.job.attempt, state=ExportJobState.RUNNING
                ).update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    def __enter__(self) -> _Pulse:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _claim(job_id: str, attempt: int) -> ExportJob | None:
    now = timezone.now()
    changed = ExportJob.objects.filter(
        pk=job_id, attempt=attempt, state=ExportJobState.QUEUED
    ).update(state=ExportJobState.RUNNING, stage="starting", started_at=now, heartbeat_at=now)
    return ExportJob.objects.select_related("session").get(pk=job_id) if changed else None


def export_job_dir() -> Path:
    folder = Path(settings.AGENTOPS_EXPORT_JOB_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def export_job_run(*, job_id: str, attempt: int) -> str:
    """Run one attempt of a job (the task body). Returns what became of it."""
    job = _claim(job_id, attempt)
    if job is None:
        return "not claimed (finished, or superseded by a later attempt)"
    heartbeat = _Heartbeat(job)
    folder = export_job_dir()
    final = folder / f"{job.pk}.{services.EXTENSIONS[job.format]}"
    for left in folder.glob(f".{job.pk}.*.partial"):  # of an attempt whose worker died
        left.unlink(missing_ok=True)
    partial = folder / f".{job.pk}.{attempt}.{uuid.uuid4().hex}.partial"
    try:
        with open(partial, "wb") as target, _Pulse(job):
            ledger = _render(job, target, heartbeat)
            target.flush()
            os.fsync(target.fileno())
        heartbeat("finishing", 1, 1, force=True)
        with transaction.atomic():
            changed = ExportJob.objects.filter(
                pk=job.pk, attempt=attempt, state=ExportJobState.RUNNING
            ).update(
                state=ExportJobState.DONE,
                stage="ready",
                file_path=str(final),
                file_name=ledger["file_name"],
                sha256=ledger["sha256"],
                size_bytes=ledger["size_bytes"],
                ledger=ledger,
                finished_at=timezone.now(),
            )
            if not changed:
                raise JobSuperseded(str(job.pk))
            os.replace(partial, final)  # the file appears whole, with the job's state
        return "done"
    except JobSuperseded:
        return "superseded"
    except Exception as exc:
        ExportJob.objects.filter(pk=job.pk, attempt=attempt, state=ExportJobState.RUNNING).update(
            state=ExportJobState.FAILED,
            stage="failed",
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        raise
    finally:
        partial.unlink(missing_ok=True)


def _render(job: ExportJob, target: IO[bytes], heartbeat: _Heartbeat) -> dict[str, Any]:
    """Render the job's export into ``target``; what the ledger will record when fetched."""
    actor = Actor(name=job.actor, channel=job.channel, user=job.user, api_key=job.api_key)
    fmt = job.format
    with services.export_context(
        session=job.session,
        timeline=fmt == ExportFormat.PDF,
        actor=actor,
        redact=job.redact,
        progress=heartbeat,
    ) as context:
        pair: dict[str, Any] = {}
        if fmt == ExportFormat.PDF:
            heartbeat("writing the compliance JSON", 0, 1, force=True)
            with tempfile.TemporaryFile() as companion:
                pair["json_export"] = services.export_write(
                    context=context,
                    fmt=ExportFormat.JSON,
                    target=companion,
                    actor=actor,
                    attached_to_pdf=True,
                )
                companion.seek(0)
                pair["json_data"] = companion.read()
        else:
            heartbeat(f"writing the {fmt.upper()} file", 0, 1, force=True)
        sink = services.export_bytes_write(
            context=context, fmt=fmt, target=target, actor=actor, progress=heartbeat, **pair
        )
        fields = services.export_ledger_fields(
            context=context,
            fmt=fmt,
            sha256=sink.sha256.hexdigest(),
            size_bytes=sink.size,
            json_export=pair.get("json_export"),
        )
    return {
        "file_name": fields["file_name"],
        "sha256": fields["sha256"],
        "size_bytes": fields["size_bytes"],
        "exported_at": fields["exported_at"].isoformat(),
        "redacted": fields["redacted"],
        "sealed": fields["sealed"],
        "verification_status": fields["verification_status"],
        "evidence_class": fields["evidence_class"],
        "last_sequence_number": fields["last_sequence_number"],
        "last_event_hash": fields["last_event_hash"],
        "findings_id": fields["findings"].pk if fields["findings"] is not None else None,
        "json_export_id": fields["json_export"].pk if fields["json_export"] else None,
    }


@dataclass
class FetchedExport:
    """A finished job's file, opened, and its new entry in the ledger."""

    record: ExportRecord
    file: IO[bytes]  # the caller closes it
    content_type: str

    @property
    def file_name(self) -> str:
        return self.record.file_name


def export_job_fetch(*, job: ExportJob, actor: Actor) -> FetchedExport:
    """The finished file of ``job`` for ``actor``, entered in the ledger under ``actor``.

    Raises ``EXPORT_NOT_READY`` (409) while it runs, ``EXPORT_FAILED`` (409) when it failed,
    ``EXPORT_EXPIRED`` (410) once its file was deleted."""
    from django.utils.dateparse import parse_datetime

    if job.state == ExportJobState.FAILED:
        raise IngestionError(
            "EXPORT_FAILED", "the export job failed", status=409, details={"reason": job.error}
        )
    if job.state != ExportJobState.DONE:
        raise IngestionError(
            "EXPORT_NOT_READY",
            "the export job has not finished",
            status=409,
            details={"state": job.state},
        )
    try:
        handle = open(job.file_path, "rb")  # noqa: SIM115 - handed to the response
    except FileNotFoundError as exc:
        raise IngestionError(
            "EXPORT_EXPIRED", "the export job's file has been deleted", status=410
        ) from exc
    ledger = job.ledger
    exported_at = parse_datetime(ledger["exported_at"])
    if exported_at is None:
        raise ValueError(f"export job {job.pk} holds no export time")
    try:
        record = ExportRecord.objects.create(
            session_id=job.session_id,
            format=job.format,
            file_name=ledger["file_name"],
            sha256=ledger["sha256"],
            size_bytes=ledger["size_bytes"],
            exported_at=exported_at,
            delivered=True,
            redacted=ledger["redacted"],
            sealed=ledger["sealed"],
            verification_status=ledger["verification_status"],
            evidence_class=ledger["evidence_class"],
            last_sequence_number=ledger["last_sequence_number"],
            last_event_hash=ledger["last_event_hash"],
            findings_id=ledger["findings_id"],
            json_export_id=ledger["json_export_id"],
            **services.actor_ledger_fields(actor),
        )
    except BaseException:
        handle.close()
        raise
    return FetchedExport(
        record=record, file=handle, content_type=services.CONTENT_TYPES[job.format]
    )


def export_job_status(job: ExportJob) -> dict[str, Any]:
    """What ``GET /api/v1/exports/{job}`` and the console show of a job."""
    fraction = None
    if job.state == ExportJobState.DONE:
        fraction = 1.0
    elif job.total:
        fraction = round(min(1.0, job.done / job.total), 4)
    return {
        "id": str(job.pk),
        "session_id": str(job.session_id),
        "format": job.format,
        "redacted": job.redact,
        "state": job.state,
        "stage": job.stage,
        "progress": {"done": job.done, "total": job.total, "fraction": fraction},
        "attempt": job.attempt,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "error": job.error or None,
        "file_name": job.file_name or None,
        "sha256": job.sha256 or None,
        "size_bytes": job.size_bytes,
    }


def export_jobs_expire() -> int:
    """Delete the files of jobs finished longer ago than ``AGENTOPS_EXPORT_JOB_KEEP_HOURS``
    (the ledger keeps what was fetched); returns how many."""
    cutoff = timezone.now() - timedelta(hours=settings.AGENTOPS_EXPORT_JOB_KEEP_HOURS)
    count = 0
    for job in ExportJob.objects.filter(state=ExportJobState.DONE, finished_at__lt=cutoff):
        if job.file_path and Path(job.file_path).exists():
            Path(job.file_path).unlink(missing_ok=True)
            count += 1
    return count


def export_job_get(*, project: Any, job_id: str) -> ExportJob:
    """The job ``job_id`` of ``project``; ``EXPORT_JOB_NOT_FOUND`` otherwise (a malformed id
    and another project's job are answered alike)."""
    try:
        key = uuid.UUID(str(job_id))
    except ValueError as exc:
        raise job_not_found() from exc
    job = (
        ExportJob.objects.select_related("session").filter(pk=key, session__project=project).first()
    )
    if job is None:
        raise job_not_found()
    return job
