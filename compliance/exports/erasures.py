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


#: The export's notice when a payload was withheld in the database behind the ledger's back.
UNRECORDED_NOTICE = (
    "The stored payloads of events {sequences} are missing, and the erasure ledger records no "
    "erasure of them: they were removed outside the service (the database's append-only "
    "guarantee was set aside). The chain still verifies, since a payload may be withheld, but "
    "this is not a recorded erasure."
)


def unrecorded_notice(context: ExportContext) -> str | None:
    """A notice naming the events this export withholds because the database no longer holds
    their payload, though the ledger records no erasure (none for a masked copy's own
    withholding, which leaves the database as it was)."""
    from ingestion.models import Event

    withheld = [n for n in context.report.get("redacted_events") or [] if isinstance(n, int)]
    if not withheld:
        return None
    missing = set(
        Event.objects.filter(
            session=context.session, sequence_number__in=withheld, payload_jcs__isnull=True
        ).values_list("sequence_number", flat=True)
    )
    missing -= {row.sequence_number for row in _rows(context)}
    if not missing:
        return None
    return UNRECORDED_NOTICE.format(sequences=", ".join(map(str, sorted(missing))))


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
