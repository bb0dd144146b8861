"""The export ledger: one row for every artifact the service hands out.

The ledger is evidence about the evidence: it answers "who received which bytes of which
session, when, and what did verification say at that moment". Rows are never changed or
deleted; database triggers (migration 0002) refuse UPDATE, DELETE and TRUNCATE. The
``save()``/``delete()`` overrides only make mistakes fail early in Python.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from ingestion.errors import AppendOnlyError

from .access_models import AccessAction, AccessOutcome, AccessRecord  # noqa: F401


class ExportFormat(models.TextChoices):
    JSON = "json", "Compliance JSON"
    JSONL = "jsonl", "JSONL event log"
    PDF = "pdf", "PDF report"


class ExportChannel(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin console"
    COMMAND = "command", "Management command"


class ExportRecord(models.Model):
    session = models.ForeignKey(
        "ingestion.Session", on_delete=models.PROTECT, related_name="exports"
    )
    format = models.CharField(max_length=8, choices=ExportFormat.choices)
    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    # The moment written inside the artifact (the compliance JSON's exported_at); the chain,
    # its verification and the findings were all taken at that moment.
    exported_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)

    channel = models.CharField(max_length=16, choices=ExportChannel.choices)
    # Readable on its own, so that the ledger still says who it was if a key or user is
    # renamed; the foreign keys below make the same actor queryable.
    actor = models.CharField(max_length=300)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="agentops_exports",
    )
    api_key = models.ForeignKey(
        "ingestion.ApiKey",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exports",
    )
    # False for a compliance JSON produced only so that a PDF could cite its hash, and not
    # itself given to the actor (a PDF requested alone through the API).
    delivered = models.BooleanField(default=True)
    # A compliance JSON embedded, byte for byte, as a file attachment of the PDF that cites
    # it (that PDF's json_export): handed out inside the PDF, whatever else is done with it.
    attached_to_pdf = models.BooleanField(default=False)
    # A masked copy for a reader without compliance.view_raw_payload: payloads holding
    # personal data withheld (their hashes kept), the session's personal data masked.
    redacted = models.BooleanField(default=False)

    # What the artifact holds and what verification said about it when it was made.
    sealed = models.BooleanField()
    verification_status = models.CharField(max_length=4)  # PASS or FAIL
    evidence_class = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001
    last_sequence_number = models.BigIntegerField(null=True, blank=True)
    last_event_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    findings = models.ForeignKey(
        "policy.Findings",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exports",
    )
    # For a PDF: the compliance JSON export whose SHA-256 the PDF prints.
    json_export = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cited_by",
    )

    class Meta:
        verbose_name = "export record"
        verbose_name_plural = "export ledger"
        indexes = [
            models.Index(fields=["session", "-recorded_at"], name="export_session_idx"),
            models.Index(fields=["session", "format", "sha256"], name="export_hash_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.format} of {self.session_id} by {self.actor} ({self.sha256[:12]})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("export records cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("export records cannot be deleted")


class ExportJobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"


class ExportJob(models.Model):
    """An export made in the background (``compliance.jobs``): its state and progress, then
    the finished file, which is entered in the ledger each time it is fetched.

    A job's row changes as it runs (it is not evidence: the ledger is); the file is written
    under a temporary name and renamed when complete, so a half file is never served.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(
        "ingestion.Session", on_delete=models.CASCADE, related_name="export_jobs"
    )
    format = models.CharField(max_length=8, choices=ExportFormat.choices)
    redact = models.BooleanField(default=False)
    # Who asked (each fetch is recorded in the ledger under who fetched it).
    channel = models.CharField(max_length=16, choices=ExportChannel.choices)
    actor = models.CharField(max_length=300)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="agentops_export_jobs",
    )
    api_key = models.ForeignKey(
        "ingestion.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="export_jobs",
    )
    state = models.CharField(
        max_length=8, choices=ExportJobState.choices, default=ExportJobState.QUEUED
    )
    stage = models.CharField(max_length=40, default="queued")
    done = models.BigIntegerField(default=0)  # units of the stage done ...
    total = models.BigIntegerField(default=0)  # ... of this many (0: unknown)
    attempt = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # The finished file and what the ledger records when it is fetched.
    file_path = models.CharField(max_length=500, blank=True, default="")
    file_name = models.CharField(max_length=200, blank=True, default="")
    sha256 = models.CharField(max_length=64, blank=True, default="")
    size_bytes = models.BigIntegerField(null=True, blank=True)
    ledger = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "export job"
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="export_job_state_idx")]

    def __str__(self) -> str:
        return f"{self.format} job of {self.session_id} ({self.state})"

    @property
    def active(self) -> bool:
        return self.state in (ExportJobState.QUEUED, ExportJobState.RUNNING)


from .find_models import SavedFilter  # noqa: E402, F401  (a model of this app, in its own module)
from .matter_models import Matter, MatterSession, MatterTagAction, Note  # noqa: E402, F401
