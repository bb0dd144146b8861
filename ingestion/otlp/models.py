"""The index of the spans taken in over OTLP: which session holds each, and its content hash.

It makes re-sent batches idempotent (a span id seen with the same content adds nothing; with
other content it is refused) and keeps the spans of one trace in one session across requests.
Rows are only ever added: migration 0011 refuses UPDATE, DELETE and TRUNCATE.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from ..errors import AppendOnlyError


class SpanReceipt(models.Model):
    project = models.ForeignKey(
        "ingestion.Project", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    session = models.ForeignKey(
        "ingestion.Session", on_delete=models.PROTECT, related_name="span_receipts"
    )
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    content_hash = models.CharField(max_length=64)  # sha256 of the span's canonical content
    first_sequence_number = models.BigIntegerField()  # of the span's first event
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "ingestion"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "trace_id", "span_id"], name="span_receipt_span_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.trace_id}/{self.span_id} -> {self.session_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("span receipts cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("span receipts cannot be deleted")
