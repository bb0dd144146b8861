"""Withholding event payloads for data protection, behind the append-only erasure ledger.

Only payloads are withheld: ``payload_jcs`` becomes NULL, ``payload_hash`` and every chain
field stay, so the chain still verifies and the verifier lists the event under
``redacted_events`` (spec §3). For each event the ledger row comes first, in the same
transaction; migration 0009's triggers refuse the change otherwise.

Concurrent erasures of the same events are serialized by row locks on those events: the
second waits, then finds the payloads already withheld and does nothing (one ledger row per
event, no error). Erasing an already erased event is a no-op, so re-running is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from ingestion.erasure_models import Erasure
from ingestion.errors import IngestionError
from ingestion.models import Event, Session

from .callers import Caller

MAX_REFERENCE = 200
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class ErasedEvent:
    session_id: str
    sequence_number: int
    event_id: str
    payload_hash: str
    erased_now: bool  # False: the payload had already been withheld


def erasure_request_check(*, request_ref: str, reason: str) -> tuple[str, str]:
    """The request reference and reason, trimmed; refuses an empty or overlong one."""
    request_ref, reason = (request_ref or "").strip(), (reason or "").strip()
    if not request_ref:
        raise IngestionError(
            "ERASURE_REQUEST_REQUIRED", "an erasure needs a request reference", status=400
        )
    if not reason:
        raise IngestionError(
            "ERASURE_REASON_REQUIRED", "an erasure needs a legal basis or reason", status=400
        )
    if len(request_ref) > MAX_REFERENCE or len(reason) > MAX_REASON:
        raise IngestionError(
            "ERASURE_REQUEST_TOO_LONG",
            f"the request reference is at most {MAX_REFERENCE} characters, the reason {MAX_REASON}",
            status=400,
        )
    return request_ref, reason


def events_erase(
    *,
    session: Session,
    sequence_numbers: Iterable[int],
    request_ref: str,
    reason: str,
    caller: Caller,
) -> list[ErasedEvent]:
    """Withhold the payloads of ``session``'s events at ``sequence_numbers``.

    Call inside a transaction of your own to add more to it (the findings' previews);
    otherwise this opens one. Sequence numbers the session does not hold are refused
    (``ERASURE_EVENT_NOT_FOUND``), nothing changed. A CHAIN_SEAL is never erased: its
    payload is the service's own signature, not anybody's data.
    """
    request_ref, reason = erasure_request_check(request_ref=request_ref, reason=reason)
    wanted = sorted(set(sequence_numbers))
    with transaction.atomic():
        # The lock serializes erasures (and appends to the same rows cannot exist: events
        # are never updated otherwise). Ordered, so two erasures never deadlock.
        rows = list(
            Event.objects.select_for_update()
            .filter(session=session, sequence_number__in=wanted)
            .order_by("sequence_number")
            .values_list("sequence_number", "event_id", "payload_hash", "event_type", "payload_jcs")
        )
        found = {row[0] for row in rows}
        missing = [n for n in wanted if n not in found]
        if missing:
            raise IngestionError(
                "ERASURE_EVENT_NOT_FOUND",
                "the session holds no event with these sequence numbers",
                status=404,
                details={"session_id": str(session.pk), "sequence_numbers": missing},
            )
        sealed = [row[0] for row in rows if row[3] == "CHAIN_SEAL"]
        if sealed:
            raise IngestionError(
                "ERASURE_SEAL_REFUSED",
                "a CHAIN_SEAL holds no personal data and is never erased",
                status=409,
                details={"sequence_numbers": sealed},
            )
        now = timezone.now()
        to_erase = [row for row in rows if row[4] is not None]
        Erasure.objects.bulk_create(
            [
                Erasure(
                    session=session,
                    sequence_number=sequence,
                    event_id=event_id,
                    payload_hash=payload_hash,
                    erased_at=now,
                    request_ref=request_ref,
                    reason=reason,
                    actor=caller.name[:300],
                    user=caller.user,
                )
                for sequence, event_id, payload_hash, _, _ in to_erase
            ]
        )
        if to_erase:
            Event.objects.filter(
                session=session, sequence_number__in=[row[0] for row in to_erase]
            ).update(payload_jcs=None)
    erased_now = {row[0] for row in to_erase}
    return [
        ErasedEvent(str(session.pk), sequence, event_id, payload_hash, sequence in erased_now)
        for sequence, event_id, payload_hash, _, _ in rows
    ]
