"""Appending events: the service recomputes the chain and stores a batch all or nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from agentops_sdk import chain
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .. import keys
from ..errors import IngestionError
from ..models import ApiKey, Event, Project, Session
from .copy_writer import events_insert
from .sessions import configured_callables, copy_state, locked_session, session_head_save

# What must be identical for a re-sent event to count as a duplicate: every producer field
# (the payload through its hash). A retry of a stored batch is byte-identical.
_DUPLICATE_FIELDS = (
    "event_id",
    "sequence_number",
    "timestamp_wall",
    "timestamp_monotonic",
    "event_type",
    "source_sdk_ver",
    "schema_ver",
    "payload_hash",
)


@dataclass(frozen=True)
class AppendResult:
    accepted: int
    duplicates: int
    head_sequence: int | None
    head_hash: str | None


@dataclass(slots=True)
class _Prepared:
    """A proposal with its payload canonicalized and hashed (done before taking the lock)."""

    index: int
    proposal: dict[str, Any]
    payload_jcs: str
    payload_hash: str
    payload_bytes: int  # size of the canonical payload, for size rules

    @property
    def sequence_number(self) -> int:
        return self.proposal["sequence_number"]

    @property
    def event_id(self) -> str:
        return self.proposal["event_id"]

    def fingerprint(self) -> tuple:
        return tuple(
            self.payload_hash if name == "payload_hash" else self.proposal[name]
            for name in _DUPLICATE_FIELDS
        )


def _prepare(index: int, proposal: dict[str, Any], session_id: str, limit: int) -> _Prepared:
    """Canonicalize and hash one proposal's payload; ``limit`` is the payload size limit."""
    if proposal["event_type"] == chain.SEAL_EVENT_TYPE:
        raise IngestionError(
            "AUTHORITY_VIOLATION",
            "only the ingestion service appends CHAIN_SEAL",
            status=403,
            details={"index": index},
        )
    if proposal["session_id"] != session_id:
        raise IngestionError(
            "VALIDATION_ERROR",
            f"event {index} belongs to another session",
            status=400,
            details={"index": index, "field": "session_id"},
        )
    try:
        canonical = chain.canonicalize(proposal["payload"])
    except chain.NonCanonicalValueError as exc:
        raise IngestionError(
            "NON_CANONICAL_VALUE",
            f"event {index}: {exc.reason} at {exc.path}",
            status=422,
            details={"index": index, "path": exc.path, "reason": exc.reason},
        ) from None
    if len(canonical) > limit:
        raise IngestionError(
            "PAYLOAD_TOO_LARGE",
            f"the payload of event {index} is {len(canonical)} bytes of canonical JSON; "
            f"the limit is {limit}",
            status=413,
            details={"index": index, "limit": limit, "bytes": len(canonical)},
        )
    # The canonical bytes are serialized once and serve the size limit, the stored text and
    # the hash (``chain.payload_hash`` is ``sha256_hex(canonicalize(payload))``).
    payload_jcs = canonical.decode("utf-8")
    computed = chain.sha256_hex(canonical)
    supplied = proposal.get("payload_hash")
    if supplied is not None and supplied != computed:
        raise IngestionError(
            "PAYLOAD_HASH_MISMATCH",
            f"event {index}: the supplied payload_hash differs from the payload's hash",
            status=400,
            details={"index": index, "supplied": supplied, "computed": computed},
        )
    return _Prepared(index, proposal, payload_jcs, computed, len(canonical))


def _conflict(item: _Prepared, reason: str) -> IngestionError:
    return IngestionError(
        "SEQUENCE_CONFLICT",
        f"event {item.index}: {reason}",
        status=409,
        details={
            "index": item.index,
            "sequence_number": item.sequence_number,
            "event_id": item.event_id,
        },
    )


def _ordering(item: _Prepared, reason: str) -> IngestionError:
    return IngestionError(
        "ORDERING_VIOLATION",
        f"event {item.index}: {reason}",
        status=409,
        details={"index": item.index, "sequence_number": item.sequence_number},
    )


# The stored events a batch repeats, by sequence number (``_DUPLICATE_FIELDS`` in order); on
# PostgreSQL the numbers travel as one comma-separated text, cheaper to send than an array.
_FINGERPRINT_SQL = (
    "SELECT event_id, sequence_number, timestamp_wall, timestamp_monotonic, event_type,"
    " source_sdk_ver, schema_ver, payload_hash FROM ingestion_event WHERE session_id = %s"
    " AND sequence_number = ANY(string_to_array(%s, ',')::bigint[])"
)


def _stored_fingerprints(session: Session, repeated: list[int]) -> dict[int, tuple]:
    """The stored events with these sequence numbers, by sequence number; no query for none."""
    if not repeated:
        return {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_FINGERPRINT_SQL, [session.pk, ",".join(map(str, repeated))])
            return {row[1]: row for row in cursor.fetchall()}
    rows = Event.objects.filter(session=session, sequence_number__in=repeated).values_list(
        *_DUPLICATE_FIELDS
    )
    return {row[1]: row for row in rows}


def _event_id_reuse(session_pk: uuid.UUID, accepted: list[_Prepared]) -> IngestionError | None:
    """SEQUENCE_CONFLICT for the first accepted event whose event_id is already stored.

    Asked only after the unique (session, event_id) index refused the insert: an ordinary
    batch costs no lookup by event id, which on a long session the planner may answer by
    reading every stored event of the session.
    """
    stored = dict(
        Event.objects.filter(
            session_id=session_pk, event_id__in=[item.event_id for item in accepted]
        ).values_list("event_id", "sequence_number")
    )
    for item in accepted:
        if item.event_id in stored:
            return _conflict(
                item,
                f"event_id {item.event_id} is already used by sequence number "
                f"{stored[item.event_id]}",
            )
    return None


def events_append(
    *,
    session: Session | uuid.UUID,
    proposals: list[dict[str, Any]],
    project: Project | None = None,
    api_key: ApiKey | None = None,
    at_head: bool = False,
) -> AppendResult:
    """Append shape-validated proposals to the session, all or nothing.

    ``at_head`` is for producers inside the service (OTLP ingestion), where the service is
    the one that orders the chain: the proposals' sequence numbers are assigned under the
    session's lock, from the stored head + 1 in list order (any given are replaced), and
    every other check applies unchanged.

    ``session`` is the session or its id. With ``project``, only that project's session is
    found, in the query that locks it: SESSION_NOT_FOUND (404) otherwise, another project's
    session included. The API appends this way, by the id it was given. A ``Session``
    instance is brought up to date with the row as stored.

    Re-sent events (same sequence number, event id and content as stored, or repeated within
    the batch) count as ``duplicates`` and are not stored again; the next new event must be
    ``head + 1``. The number of SQL queries does not depend on the batch size (SQLite aside,
    where Django splits the one INSERT into chunks of 999 parameters).
    """
    session_pk = session.pk if isinstance(session, Session) else session
    limit = settings.AGENTOPS_MAX_PAYLOAD_BYTES
    session_text = str(session_pk)
    prepared = [_prepare(index, p, session_text, limit) for index, p in enumerate(proposals)]
    accepted: list[tuple[_Prepared, dict[str, Any]]] = []
    try:
        locked = _append_locked(project, session_pk, prepared, accepted, api_key, at_head)
    except IntegrityError:
        # An event_id the batch shares with a stored event of another sequence number:
        # the unique index refused the whole insert, which is rolled back.
        reuse = _event_id_reuse(session_pk, [item for item, _ in accepted])
        if reuse is not None:
            raise reuse from None
        raise
    if isinstance(session, Session):
        copy_state(locked, session)
    return AppendResult(
        accepted=len(accepted),
        duplicates=len(prepared) - len(accepted),
        head_sequence=locked.head_sequence,
        head_hash=locked.head_hash,
    )


def _append_locked(
    project: Project | None,
    session_pk: uuid.UUID,
    prepared: list[_Prepared],
    accepted: list[tuple[_Prepared, dict[str, Any]]],
    api_key: ApiKey | None,
    at_head: bool = False,
) -> Session:
    """The transaction of ``events_append``; fills ``accepted`` and returns the locked row."""
    with transaction.atomic():
        locked = locked_session(session_pk, project)
        if locked.sealed:
            raise IngestionError("SESSION_SEALED", "the session is sealed", status=409, details={})
        head = -1 if locked.head_sequence is None else locked.head_sequence
        if at_head:
            for sequence, item in enumerate(prepared, start=head + 1):
                item.proposal["sequence_number"] = sequence

        # Re-sent events, by sequence number. Reuse of a stored event_id by a new sequence
        # number is left to the unique index (see ``events_append``); within the batch it is
        # found here, by ``sequence_of``.
        known = _stored_fingerprints(
            locked, [seq for item in prepared if (seq := item.proposal["sequence_number"]) <= head]
        )
        sequence_of = {fingerprint[0]: seq for seq, fingerprint in known.items()}  # by event id

        expected = head + 1
        authority_id = keys.service_id()
        prev_hash = locked.head_hash
        ended = locked.has_session_end
        drops = 0
        for item in prepared:
            proposal = item.proposal
            seq = proposal["sequence_number"]
            event_id = proposal["event_id"]
            if seq < expected:
                # Stored before, or accepted earlier in this batch (``accepted`` runs from
                # head + 1 without a gap).
                if seq <= head:
                    earlier = known.get(seq)
                else:
                    earlier = accepted[seq - head - 1][0].fingerprint()
                if earlier != item.fingerprint():
                    raise _conflict(item, f"sequence number {seq} is stored with other content")
                continue
            if event_id in sequence_of:
                raise _conflict(
                    item,
                    f"event_id {event_id} is already used by sequence number "
                    f"{sequence_of[event_id]}",
                )
            if seq != expected:
                raise IngestionError(
                    "SEQUENCE_GAP",
                    f"event {item.index}: expected sequence number {expected}, got {seq}",
                    status=409,
                    details={"index": item.index, "expected_sequence": expected, "got": seq},
                )
            event_type = proposal["event_type"]
            if seq == 0:
                problem = chain.genesis_problem({"event_type": event_type, "prev_event_hash": None})
            else:
                problem = chain.ordering_problem(event_type, first=False, ended=ended, sealed=False)
            if problem:
                raise _ordering(item, problem)
            ended = event_type == "SESSION_END"
            if event_type == "LOG_DROP":
                drops += proposal["payload"]["dropped_count"]

            # The payload hash was computed once, when ``_prepare`` canonicalized the payload.
            envelope = chain.chain_event(
                proposal,
                prev_event_hash=prev_hash,
                chain_authority=chain.AUTHORITY_SERVER,
                authority_id=authority_id,
                computed_payload_hash=item.payload_hash,
            )
            accepted.append((item, envelope))
            sequence_of[event_id] = seq
            prev_hash = envelope["event_hash"]
            expected += 1

        if accepted:
            envelopes = [envelope for _, envelope in accepted]
            payload_bytes = [item.payload_bytes for item, _ in accepted]
            for check in configured_callables("AGENTOPS_BATCH_CHECKS"):
                check(
                    session=locked,
                    proposals=envelopes,
                    event_count_after=locked.event_count + len(envelopes),
                    payload_bytes=payload_bytes,
                )
            now = timezone.now()
            events_insert(locked, accepted, received_at=now, api_key=api_key)
            locked.head_sequence = envelopes[-1]["sequence_number"]
            locked.head_hash = envelopes[-1]["event_hash"]
            locked.event_count += len(envelopes)
            locked.total_drops += drops
            locked.has_session_end = ended
            locked.last_event_at = now
            session_head_save(locked)
    return locked
