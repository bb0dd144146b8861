"""Matters (cases) that sessions are tagged with, and reviewers' notes.

All three tables only grow; migration 0011 gives each database triggers that refuse UPDATE,
DELETE and TRUNCATE, and the ``save()``/``delete()`` overrides below only make a mistake fail
early in Python.

* ``Matter``: a case, named once (names are unique whatever their case).
* ``MatterSession``: a tag or an untag, each a row of its own. A session belongs to a matter
  while the latest row of the pair says "tag"; untagging appends a row instead of removing
  one, so the history of who put which session in which matter, and when, is kept.
* ``Note``: a reviewer's note on a matter or on a session, attributed to its author (a
  foreign key and the username as it was when written), never edited, never deleted.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from ingestion.errors import AppendOnlyError

MATTER_NAME_MAX = 200
MATTER_DESCRIPTION_MAX = 2000
NOTE_TEXT_MAX = 10_000
REASON_MAX = 500


class _AppendOnly(models.Model):
    """Rows are added, never changed nor deleted."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{self._meta.verbose_name_plural} cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError(f"{self._meta.verbose_name_plural} cannot be deleted")


class Matter(_AppendOnly):
    name = models.CharField(max_length=MATTER_NAME_MAX)
    description = models.TextField(blank=True, max_length=MATTER_DESCRIPTION_MAX)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="agentops_matters"
    )
    # The username when the matter was opened: still readable if the user is renamed.
    created_by_name = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "matter"
        verbose_name_plural = "matters"
        ordering = ("-created_at", "-pk")
        constraints = [
            models.UniqueConstraint(Lower("name"), name="compliance_matter_name_ci_unique"),
            models.CheckConstraint(
                condition=~models.Q(name=""), name="compliance_matter_name_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MatterTagAction(models.TextChoices):
    TAG = "tag", "Tagged"
    UNTAG = "untag", "Untagged"


class MatterSession(_AppendOnly):
    matter = models.ForeignKey(Matter, on_delete=models.PROTECT, related_name="tag_events")
    session = models.ForeignKey(
        "ingestion.Session", on_delete=models.PROTECT, related_name="matter_tag_events"
    )
    action = models.CharField(max_length=8, choices=MatterTagAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="agentops_matter_tags"
    )
    actor_name = models.CharField(max_length=150)
    at = models.DateTimeField(default=timezone.now)
    # Why a session was taken out of a matter (optional, kept with the untag).
    reason = models.CharField(max_length=REASON_MAX, blank=True)

    class Meta:
        verbose_name = "matter tag"
        verbose_name_plural = "matter tags"
        indexes = [
            models.Index(fields=["matter", "session", "-id"], name="matter_tag_pair_idx"),
            models.Index(fields=["session", "-id"], name="matter_tag_session_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=MatterTagAction.values),
                name="compliance_mattersession_action_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.session_id} in {self.matter_id} by {self.actor_name}"


class Note(_AppendOnly):
    # Exactly one of the two: a note is on a matter or on a session.
    matter = models.ForeignKey(
        Matter, on_delete=models.PROTECT, null=True, blank=True, related_name="notes"
    )
    session = models.ForeignKey(
        "ingestion.Session",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reviewer_notes",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="agentops_notes"
    )
    author_name = models.CharField(max_length=150)
    text = models.TextField(max_length=NOTE_TEXT_MAX)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "note"
        verbose_name_plural = "notes"
        ordering = ("created_at", "pk")
        indexes = [
            models.Index(fields=["matter", "created_at"], name="note_matter_idx"),
            models.Index(fields=["session", "created_at"], name="note_session_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(matter__isnull=False, session__isnull=True)
                    | models.Q(matter__isnull=True, session__isnull=False)
                ),
                name="compliance_note_one_subject",
            ),
            models.CheckConstraint(
                condition=~models.Q(text=""), name="compliance_note_text_not_empty"
            ),
        ]

    def __str__(self) -> str:
        subject = f"matter {self.matter_id}" if self.matter_id else f"session {self.session_id}"
        return f"note on {subject} by {self.author_name}"
