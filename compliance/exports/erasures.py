"""The ``erasures`` section of an export: which withheld payloads were erased, when, why.

Only events whose payload the export itself withholds are listed (an export racing an
erasure lists exactly the erasures its events show), with sequence numbers, dates and
request references: no personal data.
"""

from __future__ import annotations

from typing import Any

from ingestion.erasure_models import Erasure

from .context import ExportContext


def _rows(context: ExportContext) -> list[Erasure]:
    withheld = context.report.get("redacted_events") or []
    numbers = [n for n in withheld if isinstance(n, int)]
    if not numbers:
        return []
    return list(
        Erasure.objects.filter(session=context.session, sequence_number__in=numbers).order_by(
            "sequence_number"
        )
    )


def erasures_section(context: ExportContext) -> list[dict[str, Any]]:
    """One entry per erased event of the export, in sequence order (empty: none)."""
    return [
        {
            "sequence_number": row.sequence_number,
            "event_id": row.event_id,
            "payload_hash": row.payload_hash,
            "erased_at": row.erased_at.isoformat(),
            "request_ref": row.request_ref,
            "reason": row.reason,
        }
        for row in _rows(context)
    ]


def erasure_note(*, erased_at: Any, request_ref: str) -> str:
    """How a page shows an erased payload."""
    return f"payload erased on {erased_at:%Y-%m-%d} under request {request_ref}"


def erasure_notes(context: ExportContext) -> dict[str, str]:
    """Sequence number (as the timeline prints it) -> the note shown for its payload."""
    return {
        str(row.sequence_number): erasure_note(erased_at=row.erased_at, request_ref=row.request_ref)
        for row in _rows(context)
    }
