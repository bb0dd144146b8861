"""The access ledger: who looked at which evidence in the console, when, and from where.

One row per recorded request (``compliance.access``): a session page, a timeline page, a
finding, a verification, a download, a search, the ledger's own CSV export, and every attempt
the console refused. Rows are never changed or deleted: database triggers (migration 0010)
refuse UPDATE, DELETE and TRUNCATE; ``save()``/``delete()`` only make mistakes fail early.

Nothing personal from the evidence enters a row: search terms are stored masked and the path
without its query string, because an append-only row can never be erased afterwards.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from ingestion.errors import AppendOnlyError

PATH_MAX = 500
DETAIL_MAX = 500


class AccessAction(models.TextChoices):
    VIEW_SESSION = "view_session", "View session page"
    VIEW_TIMELINE = "view_timeline", "View timeline page"
    VIEW_TRANSCRIPT = "view_transcript", "View transcript"
    VIEW_MATTER = "view_matter", "View matter"
    VIEW_FINDING = "view_finding", "View finding"
    VIEW_VERIFICATION = "verify", "Verification"
    VIEW_PDF = "view_pdf", "View PDF report"
    DOWNLOAD = "download", "Download"
    VIEW_EXPORT_JOB = "view_export_job", "View export job"
    SEARCH = "search", "Search"
    EXPORT_CSV = "export_csv", "Export list as CSV"
    OTHER = "other", "Other console page"


class AccessOutcome(models.TextChoices):
    ALLOWED = "allowed", "Allowed"
    REFUSED = "refused", "Refused"
    FAILED = "failed", "Failed (server error)"


class AccessRecord(models.Model):
    at = models.DateTimeField(default=timezone.now)
    # PROTECT, as in the export ledger: a user who has looked at evidence is deactivated,
    # never deleted, so that "everything alice saw" stays one exact filter. SET_NULL would be
    # an UPDATE the triggers refuse; DO_NOTHING would turn deleting a user into a database
    # error, or (without the constraint) leave ids that point nowhere.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="agentops_access_records",
    )
    # The name at that moment: still readable after a rename; empty for a visitor who was
    # not signed in.
    username = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=20, choices=AccessAction.choices)
    outcome = models.CharField(max_length=8, choices=AccessOutcome.choices)
    # The session the request was about, when it names one (not a foreign key: a refused
    # attempt may name a session that does not exist).
    session_id = models.UUIDField(null=True, blank=True)
    # What else was asked for: a format, a finding, the (masked) search terms.
    detail = models.CharField(max_length=DETAIL_MAX, blank=True, default="")
    view_name = models.CharField(max_length=200)
    path = models.CharField(max_length=PATH_MAX)
    method = models.CharField(max_length=10)
    status_code = models.PositiveSmallIntegerField()
    client_address = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = "access record"
        verbose_name_plural = "access records"
        permissions = [
            ("browse_access_ledger", "Can browse everyone's access records and export them"),
        ]
        indexes = [
            models.Index(fields=["user", "-at"], name="access_user_idx"),
            models.Index(fields=["session_id", "-at"], name="access_session_idx"),
            models.Index(fields=["-at"], name="access_at_idx"),
        ]

    def __str__(self) -> str:
        who = self.username or "anonymous"
        return f"{self.get_action_display()} by {who} ({self.outcome})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("access records cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("access records cannot be deleted")
