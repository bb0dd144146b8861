"""The append-only erasure ledger: one row per event payload withheld for data protection.

A payload may leave the database only behind a ledger row naming that very event and the
``payload_hash`` it keeps: migration 0009's triggers refuse any other change to an event, and
refuse to change or delete a ledger row. Rows are added by ``ingestion.services.erasure``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from .errors import AppendOnlyError


class Erasure(models.Model):
    """One erased (withheld) event payload, recorded before the payload is withheld."""

    # No index of its own: the unique (session, sequence_number) index serves every lookup.
    session = models.ForeignKey(
        "ingestion.Session", on_delete=models.PROTECT, related_name="erasures", db_index=False
    )
    sequence_number = models.BigIntegerField()
    event_id = models.CharField(max_length=36)
    # The hash the chain keeps: what the withheld payload was, without the payload.
    payload_hash = models.CharField(max_length=64)
    erased_at = models.DateTimeField(default=timezone.now)
    request_ref = models.CharField("request reference", max_length=200)
    reason = models.CharField("legal basis / reason", max_length=500)
    # Who erased, readable on its own, and the console user when there is one.
    actor = models.CharField(max_length=300)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="agentops_erasures",
    )
    # PostgreSQL: the inserting transaction, written by the database itself (0009), so that the
    # event trigger can tell a ledger row of the erasing transaction from an older one.
    transaction_id = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "erasure"
        verbose_name_plural = "erasure ledger"
        # Held by the "Data protection officers" group (compliance.reviewers), checked as
        # held, never implied by superuser status.
        permissions = [("erase_personal_data", "Can erase personal data (withhold payloads)")]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "sequence_number"], name="erasure_session_sequence_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["request_ref"], name="erasure_request_idx"),
            models.Index(fields=["-erased_at"], name="erasure_erased_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.sequence_number} erased under {self.request_ref}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("erasure ledger rows cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("erasure ledger rows cannot be deleted")
