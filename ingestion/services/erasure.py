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

from collections.abc import Iterable, Mapping
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
    """Withhold the payloads of ``session``'s events at ``sequence_numbers``; see
    ``events_erase_many``."""
    return events_erase_many(
        targets={session: sequence_numbers}, request_ref=request_ref, reason=reason, caller=caller
    )


def _locked_rows(targets: dict[Session, list[int]]) -> list[tuple]:
    """The wanted events' rows, locked, in (session, sequence) order: the one order every
    erasure locks in, so two erasures never deadlock."""
    by_id = {session.pk: session for session in targets}
    ordered = sorted(by_id, key=str)
    rows: list[tuple] = []
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        numbers = sorted({n for pk in chunk for n in targets[by_id[pk]]})
        found = (
            Event.objects.select_for_update()
            .filter(session_id__in=chunk, sequence_number__in=numbers)
            .order_by("session_id", "sequence_number")
            .values_list(
                "pk",
                "session_id",
                "sequence_number",
                "event_id",
                "payload_hash",
                "event_type",
                "payload_jcs",
            )
        )
        wanted = {(pk, n) for pk in chunk for n in targets[by_id[pk]]}
        rows.extend(row for row in found if (row[1], row[2]) in wanted)
    return rows


_CHUNK = 500


def events_erase_many(
    *,
    targets: Mapping[Session, Iterable[int]],
    request_ref: str,
    reason: str,
    caller: Caller,
) -> list[ErasedEvent]:
    """Withhold the payloads of the events at the sequence numbers ``targets`` names for each
    session, in one transaction: the ledger rows first, then the payloads.

    Call inside a transaction of your own to add more to it (the findings' previews);
    otherwise this opens one. Sequence numbers a session does not hold are refused
    (``ERASURE_EVENT_NOT_FOUND``), nothing changed. A CHAIN_SEAL is never erased: its
    payload is the service's own signature, not anybody's data. Events already withheld
    are left as they are (``erased_now`` False).
    """
    request_ref, reason = erasure_request_check(request_ref=request_ref, reason=reason)
    wanted = {session: sorted(set(numbers)) for session, numbers in targets.items()}
    by_id = {session.pk: session for session in wanted}
    with transaction.atomic():
        # The lock serializes erasures (appends never touch stored rows).
        rows = _locked_rows(wanted)
        found = {(row[1], row[2]) for row in rows}
        for session, numbers in wanted.items():
            missing = [n for n in numbers if (session.pk, n) not in found]
            if missing:
                raise IngestionError(
                    "ERASURE_EVENT_NOT_FOUND",
                    "the session holds no event with these sequence numbers",
                    status=404,
                    details={"session_id": str(session.pk), "sequence_numbers": missing},
                )
        sealed = [row[2] for row in rows if row[5] == "CHAIN_SEAL"]
        if sealed:
            raise IngestionError(
                "ERASURE_SEAL_REFUSED",
                "a CHAIN_SEAL holds no personal data and is never erased",
                status=409,
                details={"sequence_numbers": sealed},
            )
        now = timezone.now()
        to_erase = [row for row in rows if row[6] is not None]
        Erasure.objects.bulk_create(
            [
                Erasure(
                    session=by_id[session_id],
                    sequence_number=sequence,
                    event_id=event_id,
                    payload_hash=payload_hash,
                    erased_at=now,
                    request_ref=request_ref,
                    reason=reason,
                    actor=caller.name[:300],
                    user=caller.user,
                )
                for _, session_id, sequence, event_id, payload_hash, _, _ in to_erase
            ],
            batch_size=1000,
        )
        pks = [row[0] for row in to_erase]
        for start in range(0, len(pks), 1000):
            Event.objects.filter(pk__in=pks[start : start + 1000]).update(payload_jcs=None)
    erased_now = {row[0] for row in to_erase}
    return [
        ErasedEvent(str(session_id), sequence, event_id, payload_hash, pk in erased_now)
        for pk, session_id, sequence, event_id, payload_hash, _, _ in rows
    ]
