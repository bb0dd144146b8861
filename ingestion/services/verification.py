"""Verifying stored and uploaded evidence with the service's keys, and the append-only
history of verifications of each session."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from agentops_sdk.verify import LogFormatError, verify_export, verify_session
from django.utils import timezone

from .. import keys, selectors
from ..errors import IngestionError
from ..models import EvidenceClass, Session, Verification, VerificationStatus, VerificationTrigger
from .callers import Caller


def verify_with_service_keys(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Verify a chain the way the service does: trusting its own current and retired keys."""
    return verify_session(events, trusted_keys=keys.trusted_public_keys())


def session_verify(
    *,
    session: Session,
    trigger: str,
    actor: Caller | None = None,
    events: Iterable[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Re-verify the stored chain, append the result to the session's history, return the
    §7 report.

    The one way a stored session is verified after its seal, whichever door asks
    (``trigger``: the console's Verify now, POST /api/v1/verify, manage.py verify_sessions,
    an export) and whoever asks (``actor``; by default the service itself). Every stored
    event takes part, streamed from the database; ``events`` is that same chain when the
    caller already streams it for another purpose (an export reads it once for both).
    """
    last: dict[str, Any] = {}

    def through(source: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        # The last envelope read is the head the report covers; kept without a second pass.
        nonlocal last
        for envelope in source:
            last = envelope
            yield envelope

    source = selectors.session_envelopes(session=session) if events is None else events
    report = verify_with_service_keys(through(source))
    verification_record(
        session=session,
        report=report,
        trigger=trigger,
        actor=actor,
        last=(last.get("sequence_number"), last.get("event_hash")),
    )
    return report


def verification_record(
    *,
    session: Session,
    report: dict[str, Any],
    trigger: str,
    actor: Caller | None,
    last: tuple[Any, Any],
    verified_at: datetime | None = None,
) -> Verification:
    passed = report.get("status") == VerificationStatus.PASS
    actor = actor or Caller(f"ingestion service {keys.service_id()}")
    last_sequence, last_hash = last
    return Verification.objects.create(
        session=session,
        verified_at=verified_at or timezone.now(),
        trigger=VerificationTrigger(trigger).value,
        actor=actor.name[:300],
        user=actor.user,
        api_key=actor.api_key,
        status=VerificationStatus.PASS if passed else VerificationStatus.FAIL,
        evidence_class=(passed and report.get("evidence_class")) or EvidenceClass.FAILED,
        report=report,
        event_count=report.get("event_count") or 0,
        last_sequence_number=last_sequence if isinstance(last_sequence, int) else None,
        last_event_hash=last_hash if isinstance(last_hash, str) else None,
    )


def events_verify(*, events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Verify envelopes from elsewhere (an uploaded JSONL session) with the service's keys."""
    return verify_with_service_keys(events)


def export_verify(*, document: Any) -> dict[str, Any]:
    """Verify a parsed compliance JSON export (spec §8) with the service's keys.

    The service's own keys are trusted; the key embedded in the export is only used by the
    verifier when none of them applies, and never makes a seal trusted on its own.
    """
    try:
        return verify_export(document, trusted_keys=keys.trusted_public_keys())
    except LogFormatError as exc:
        raise IngestionError("VALIDATION_ERROR", str(exc), status=400) from None
