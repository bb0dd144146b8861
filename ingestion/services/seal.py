"""Sealing: the signed CHAIN_SEAL that closes a session, on request or after idling."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import agentops_sdk
from agentops_sdk import chain, seal
from django.db import transaction
from django.utils import timezone

from .. import keys, selectors
from ..errors import IngestionError
from ..models import Event, EvidenceClass, Session, VerificationTrigger
from ..transparency.services import log_leaf_append
from .callers import Caller
from .sessions import configured_callables, copy_state, locked_session
from .verification import verification_record, verify_with_service_keys

logger = logging.getLogger(__name__)

#: ``source_sdk_ver`` of the events the service writes itself (the CHAIN_SEAL). The chain
#: rules the service applies are those of this SDK release.
SERVICE_SOURCE_VER = f"agentops-ingest/{agentops_sdk.__version__}"


@dataclass(frozen=True)
class SealResult:
    seal: dict[str, Any]  # the CHAIN_SEAL envelope
    verification: dict[str, Any]  # the §7 report of the sealed chain
    created: bool  # False when the session was already sealed


def session_seal(*, session: Session, actor: Caller | None = None) -> SealResult:
    """Append the signed CHAIN_SEAL and freeze the session; idempotent.

    A session that is already sealed returns its stored seal and the report computed when it
    was sealed (``created`` False). A session without events cannot be sealed: EMPTY_SESSION
    (409), since there is no chain for a seal to close.

    The seal records the chain as the service holds it: ``final_event_hash``, ``event_count``,
    ``complete`` and ``total_drops`` come from the session row the service maintained while
    appending. The whole stored chain, seal included, is then verified once. A chain that fails
    (stored rows altered behind the service's back) is still sealed: its report says FAIL, the
    session's cached evidence class is FAILED, and every verifier sees the same break, because
    the signature covers only the head the service recorded.

    The report is also the first row of the session's history of verifications, written in
    the seal's transaction; ``actor`` is who asked for the seal (by default the service).
    """
    locked, result = _seal(session_pk=session.pk, actor=actor)
    copy_state(locked, session)
    if result is None:  # only a sweep's idle condition yields none
        raise AssertionError("a seal without an idle condition always has a result")
    return result


def _seal(
    *, session_pk: uuid.UUID, idle_before: datetime | None = None, actor: Caller | None = None
) -> tuple[Session, SealResult | None]:
    """Seal under the row lock; with ``idle_before``, only a session still idle since then."""
    with transaction.atomic():
        locked = locked_session(session_pk)
        if locked.sealed:
            stored_seal = selectors.session_seal_envelope(session=locked)
            if stored_seal is None or locked.verification is None:
                raise AssertionError(f"sealed session {locked.pk} has no stored seal or report")
            return locked, SealResult(stored_seal, locked.verification, created=False)
        if idle_before is not None and (
            locked.last_event_at is None or locked.last_event_at >= idle_before
        ):
            return locked, None  # an event arrived since the sweep looked
        if locked.head_sequence is None or locked.head_hash is None:
            raise IngestionError(
                "EMPTY_SESSION", "a session without events cannot be sealed", status=409
            )

        now = timezone.now()
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        session_id = str(locked.pk)
        payload = seal.seal_payload_build(
            private_key=keys.signing_key(),
            session_id=session_id,
            ingestion_service_id=keys.service_id(),
            seal_timestamp=stamp,
            final_event_hash=locked.head_hash,
            event_count=locked.event_count,
            complete=locked.has_session_end,
            total_drops=locked.total_drops,
        )
        envelope = chain.chain_event(
            {
                "event_id": str(uuid.uuid4()),
                "session_id": session_id,
                "sequence_number": locked.head_sequence + 1,
                "timestamp_wall": stamp,
                "timestamp_monotonic": max(
                    0, (now - locked.created_at) // timedelta(milliseconds=1)
                ),
                "event_type": chain.SEAL_EVENT_TYPE,
                "source_sdk_ver": SERVICE_SOURCE_VER,
                "schema_ver": chain.SPEC_VERSION,
                "payload": payload,
            },
            prev_event_hash=locked.head_hash,
            chain_authority=chain.AUTHORITY_SERVER,
            authority_id=keys.service_id(),
        )
        # The seal row goes in while the session is still open; the triggers refuse any
        # insert once sealed_at is set, and any change to the row after that.
        Event.from_envelope(
            envelope,
            session=locked,
            payload_jcs=chain.canonicalize(payload).decode("utf-8"),
            received_at=now,
        ).save()

        report = verify_with_service_keys(selectors.session_envelopes(session=locked))
        locked.head_sequence = envelope["sequence_number"]
        locked.head_hash = envelope["event_hash"]
        locked.sealed_at = now
        locked.evidence_class = report.get("evidence_class") or EvidenceClass.FAILED
        locked.verification = report
        locked.save(
            update_fields=[
                "head_sequence",
                "head_hash",
                "sealed_at",
                "evidence_class",
                "verification",
            ]
        )
        verification_record(
            session=locked,
            report=report,
            trigger=VerificationTrigger.SEAL,
            actor=actor,
            verified_at=now,
            last=(envelope["sequence_number"], envelope["event_hash"]),
        )
        # Last in the transaction: the log's lock is held from here to the commit.
        log_leaf_append(session_id=session_id, seal_payload=payload)
        if report.get("status") != "PASS":
            logger.warning(
                "sealed session %s fails verification: %s",
                session_id,
                [v.get("type") for v in report.get("violations", [])],
            )
        for hook in configured_callables("AGENTOPS_SEAL_HOOKS"):
            transaction.on_commit(_seal_hook_call(hook, locked), robust=True)
    return locked, SealResult(envelope, report, created=True)


def _seal_hook_call(hook: Callable[..., Any], session: Session) -> Callable[[], None]:
    def call() -> None:
        hook(session=session)

    # Django names the callable when it logs a failing robust callback.
    call.__qualname__ = getattr(hook, "__qualname__", repr(hook))
    return call


def sessions_seal_stale(*, idle_minutes: int, now: datetime | None = None) -> list[Session]:
    """Seal every open session whose last event is older than ``idle_minutes``.

    Such sessions usually lack SESSION_END and classify PARTIAL (MISSING_SESSION_END).
    Sessions that never received an event are left open: there is no chain to seal.
    Each session is sealed in its own transaction, re-checked under its lock.
    """
    cutoff = (now or timezone.now()) - timedelta(minutes=idle_minutes)
    candidates = Session.objects.filter(sealed_at__isnull=True, last_event_at__lt=cutoff)
    sealed = []
    for pk in candidates.order_by("last_event_at").values_list("pk", flat=True):
        locked, result = _seal(session_pk=pk, idle_before=cutoff)
        if result is not None and result.created:
            sealed.append(locked)
    return sealed
