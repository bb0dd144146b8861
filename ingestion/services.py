"""What the ingestion service does: start sessions, append to them, seal and verify them.

The service is the chain authority (spec §1, §5): it recomputes every hash through
``agentops_sdk.chain`` and stores events with ``chain_authority = "server"``. Every write
locks the session row (``select_for_update``) in one short transaction, so concurrent
appends and seals of one session are serialized and the chain stays linear.

Extension points, both lists of dotted paths to callables:

``AGENTOPS_BATCH_CHECKS``
    Each is called as ``check(session=session, proposals=envelopes, event_count_after=n,
    payload_bytes=sizes)``
    inside the append transaction, after the lock and after the chain checks, before anything
    is stored. ``session`` is the locked ``Session`` (its counters not yet updated),
    ``envelopes`` the list of complete §2 envelopes about to be stored (duplicates excluded;
    never empty), ``n`` the session's event count once they are stored, ``sizes`` the byte
    length of each envelope's canonical payload (so size rules need not serialize it again).
    A check refuses the batch by raising ``IngestionError`` (e.g. POLICY_VIOLATION); nothing
    is then stored.

``AGENTOPS_SEAL_HOOKS``
    Each is called as ``hook(session=session)`` after the transaction that sealed the session
    has committed (``transaction.on_commit``, robust: a failing hook is logged and does not
    undo or hide the seal). Not called when a seal request finds the session already sealed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self, cast

import agentops_sdk
from agentops_sdk import chain, seal
from agentops_sdk.verify import LogFormatError, verify_export, verify_session
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from . import keys, selectors
from .errors import IngestionError, session_not_found
from .models import (
    ENVELOPE_COLUMNS,
    ApiKey,
    Event,
    EvidenceClass,
    Project,
    Session,
    Verification,
    VerificationStatus,
    VerificationTrigger,
)

logger = logging.getLogger(__name__)

#: ``source_sdk_ver`` of the events the service writes itself (the CHAIN_SEAL). The chain
#: rules the service applies are those of this SDK release.
SERVICE_SOURCE_VER = f"agentops-ingest/{agentops_sdk.__version__}"

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


@dataclass(frozen=True)
class Caller:
    """Who asked the service for something it records (a verification, an export): a name
    readable on its own, plus the user or API key when there is one. The one place these
    names are worded; the export ledger's ``Actor`` adds the channel."""

    name: str
    user: Any = None
    api_key: ApiKey | None = None

    @classmethod
    def for_api_key(cls, api_key: ApiKey, **extra: Any) -> Self:
        name = f"API key {api_key.name!r} ({api_key.prefix}) of project {api_key.project.name}"
        return cls(name, api_key=api_key, **extra)

    @classmethod
    def for_user(cls, user: Any, **extra: Any) -> Self:
        return cls(f"user {user.get_username()!r} (id {user.pk})", user=user, **extra)

    @classmethod
    def for_command(cls, command: str, *, operator: str, **extra: Any) -> Self:
        return cls(f"manage.py {command} run by {operator}", **extra)


@dataclass(frozen=True)
class SealResult:
    seal: dict[str, Any]  # the CHAIN_SEAL envelope
    verification: dict[str, Any]  # the §7 report of the sealed chain
    created: bool  # False when the session was already sealed


# --------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------


def session_start(
    *,
    project: Project,
    agent_id: str,
    metadata: dict[str, Any] | None = None,
    session_id: uuid.UUID | None = None,
) -> tuple[Session, bool]:
    """Create a session, or return the project's existing one with that id (``created`` False).

    Starting is idempotent so that a producer can retry it: an existing session is returned
    unchanged (the first start's agent_id and metadata stand). An id already used by another
    project raises SESSION_CONFLICT (409): the id cannot be created, and the answer reveals
    nothing about the other session.
    """
    fields = {"project": project, "agent_id": agent_id, "metadata": metadata or {}}
    if session_id is None:
        return Session.objects.create(**fields), True
    with transaction.atomic():
        session, created = Session.objects.get_or_create(id=session_id, defaults=fields)
    if session.project_id != project.pk:
        raise IngestionError(
            "SESSION_CONFLICT", "this session id is already in use", status=409, details={}
        )
    return session, created


# --------------------------------------------------------------------------------------
# Appending
# --------------------------------------------------------------------------------------


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


def _locked_session(pk: uuid.UUID, project: Project | None = None) -> Session:
    """The session row, re-read and locked until the transaction ends.

    Only the session row is locked, so that sessions of one project never wait for each other.
    Its project comes along for batch checks and seal hooks: the caller's instance when it
    names one (then SESSION_NOT_FOUND unless the session is that project's), else read in
    the same query.
    """
    if project is None:
        return Session.objects.select_related("project").select_for_update(of=("self",)).get(pk=pk)
    try:
        locked = Session.objects.select_for_update().get(pk=pk, project=project)
    except Session.DoesNotExist:
        raise session_not_found() from None
    locked.project = project
    return locked


def _callables(setting: str) -> list[Callable[..., Any]]:
    return [import_string(path) for path in getattr(settings, setting, ())]


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
) -> AppendResult:
    """Append shape-validated proposals to the session, all or nothing.

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
        locked = _append_locked(project, session_pk, prepared, accepted, api_key)
    except IntegrityError:
        # An event_id the batch shares with a stored event of another sequence number:
        # the unique index refused the whole insert, which is rolled back.
        reuse = _event_id_reuse(session_pk, [item for item, _ in accepted])
        if reuse is not None:
            raise reuse from None
        raise
    if isinstance(session, Session):
        _copy_state(locked, session)
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
) -> Session:
    """The transaction of ``events_append``; fills ``accepted`` and returns the locked row."""
    with transaction.atomic():
        locked = _locked_session(session_pk, project)
        if locked.sealed:
            raise IngestionError("SESSION_SEALED", "the session is sealed", status=409, details={})
        head = -1 if locked.head_sequence is None else locked.head_sequence

        # Re-sent events, by sequence number. Reuse of a stored event_id by a new sequence
        # number is left to the unique index (see ``events_append``); within the batch it is
        # found here, by ``sequence_of``.
        known = _stored_fingerprints(
            locked, [item.sequence_number for item in prepared if item.sequence_number <= head]
        )
        sequence_of = {fingerprint[0]: seq for seq, fingerprint in known.items()}  # by event id

        expected = head + 1
        authority_id = keys.service_id()
        prev_hash = locked.head_hash
        ended = locked.has_session_end
        drops = 0
        for item in prepared:
            seq = item.sequence_number
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
            if item.event_id in sequence_of:
                raise _conflict(
                    item,
                    f"event_id {item.event_id} is already used by sequence number "
                    f"{sequence_of[item.event_id]}",
                )
            if seq != expected:
                raise IngestionError(
                    "SEQUENCE_GAP",
                    f"event {item.index}: expected sequence number {expected}, got {seq}",
                    status=409,
                    details={"index": item.index, "expected_sequence": expected, "got": seq},
                )
            event_type = item.proposal["event_type"]
            if seq == 0:
                problem = chain.genesis_problem({"event_type": event_type, "prev_event_hash": None})
            else:
                problem = chain.ordering_problem(event_type, first=False, ended=ended, sealed=False)
            if problem:
                raise _ordering(item, problem)
            ended = event_type == "SESSION_END"
            if event_type == "LOG_DROP":
                drops += item.proposal["payload"]["dropped_count"]

            envelope = _server_envelope(item, prev_hash, authority_id)
            accepted.append((item, envelope))
            sequence_of[item.event_id] = seq
            prev_hash = envelope["event_hash"]
            expected += 1

        if accepted:
            envelopes = [envelope for _, envelope in accepted]
            payload_bytes = [item.payload_bytes for item, _ in accepted]
            for check in _callables("AGENTOPS_BATCH_CHECKS"):
                check(
                    session=locked,
                    proposals=envelopes,
                    event_count_after=locked.event_count + len(envelopes),
                    payload_bytes=payload_bytes,
                )
            now = timezone.now()
            _events_insert(locked, accepted, received_at=now, api_key=api_key)
            locked.head_sequence = envelopes[-1]["sequence_number"]
            locked.head_hash = envelopes[-1]["event_hash"]
            locked.event_count += len(envelopes)
            locked.total_drops += drops
            locked.has_session_end = ended
            locked.last_event_at = now
            locked.save(
                update_fields=[
                    "head_sequence",
                    "head_hash",
                    "event_count",
                    "total_drops",
                    "has_session_end",
                    "last_event_at",
                ]
            )
    return locked


def _server_envelope(item: _Prepared, prev_hash: str | None, authority_id: str) -> dict[str, Any]:
    """The §2 envelope the service stores for a proposal; the payload hash was computed once,
    when ``_prepare`` canonicalized the payload to check it."""
    return chain.chain_event(
        item.proposal,
        prev_event_hash=prev_hash,
        chain_authority=chain.AUTHORITY_SERVER,
        authority_id=authority_id,
        computed_payload_hash=item.payload_hash,
    )


# The columns ``_events_insert`` writes with COPY, in the order ``_copy_rows`` writes them.
_COPY_COLUMNS = ("session_id", *ENVELOPE_COLUMNS, "received_at", "api_key_id")


def _events_insert(
    session: Session,
    accepted: list[tuple[_Prepared, dict[str, Any]]],
    *,
    received_at: datetime,
    api_key: ApiKey | None,
) -> None:
    """Store the accepted events in one statement, inside the caller's transaction.

    On PostgreSQL one ``COPY ... FROM STDIN``: it fires the same row triggers as INSERT (the
    sealed-session refusal) and is checked by the same constraints, without building a model
    instance per event or quoting every value into the SQL text. Elsewhere ``bulk_create``.
    """
    if connection.vendor != "postgresql":
        Event.objects.bulk_create(
            Event.from_envelope(
                envelope,
                session=session,
                payload_jcs=item.payload_jcs,
                received_at=received_at,
                api_key=api_key,
            )
            for item, envelope in accepted
        )
        return
    table = connection.ops.quote_name(Event._meta.db_table)
    sql = f"COPY {table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
    began = time.monotonic()
    # The raw psycopg cursor is used for COPY; its errors are translated like any other
    # statement's (a refusing trigger or constraint surfaces as Django's IntegrityError...).
    with connection.wrap_database_errors, connection.cursor() as cursor:
        _copy_rows(cursor.cursor, sql, accepted, session.pk, received_at, api_key)
    if connection.queries_logged:
        # The COPY bypasses Django's cursor wrapper; log it like any statement so that query
        # counts (debug toolbar, CaptureQueriesContext) stay truthful.
        connection.queries_log.append(
            {"sql": f"{sql} -- {len(accepted)} rows", "time": f"{time.monotonic() - began:.3f}"}
        )


def _copy_rows(
    raw_cursor: Any,
    sql: str,
    accepted: list[tuple[_Prepared, dict[str, Any]]],
    session_pk: uuid.UUID,
    received_at: datetime,
    api_key: ApiKey | None,
) -> None:
    api_key_pk = api_key.pk if api_key is not None else None
    # The session id and the receipt time are the same on every row: written out once here as
    # the text PostgreSQL reads for uuid and timestamptz, instead of being converted per row
    # (psycopg's uuid and datetime conversions took about half of the client's COPY time).
    session_text = str(session_pk)
    received_text = received_at.isoformat()
    with raw_cursor.copy(sql) as copy:
        write = copy.write_row
        for item, envelope in accepted:
            write(
                (
                    session_text,
                    envelope["event_id"],
                    envelope["sequence_number"],
                    envelope["timestamp_wall"],
                    envelope["timestamp_monotonic"],
                    envelope["event_type"],
                    envelope["source_sdk_ver"],
                    envelope["schema_ver"],
                    item.payload_jcs,
                    envelope["payload_hash"],
                    envelope["prev_event_hash"],
                    envelope["event_hash"],
                    envelope["chain_authority"],
                    envelope["authority_id"],
                    received_text,
                    api_key_pk,
                )
            )


def _copy_state(source: Session, target: Session) -> None:
    """Bring the caller's instance up to date with the row the service wrote."""
    if source is not target:
        for field in Session._meta.concrete_fields:
            setattr(target, field.attname, getattr(source, field.attname))


# --------------------------------------------------------------------------------------
# Sealing and verification
# --------------------------------------------------------------------------------------


def _report(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Verify a chain the way the service does: trusting its own current and retired keys."""
    return verify_session(events, trusted_keys=keys.trusted_public_keys())


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
    _copy_state(locked, session)
    if result is None:  # only a sweep's idle condition yields none
        raise AssertionError("a seal without an idle condition always has a result")
    return result


def _seal(
    *, session_pk: uuid.UUID, idle_before: datetime | None = None, actor: Caller | None = None
) -> tuple[Session, SealResult | None]:
    """Seal under the row lock; with ``idle_before``, only a session still idle since then."""
    with transaction.atomic():
        locked = _locked_session(session_pk)
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

        report = _report(selectors.session_envelopes(session=locked))
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
        _verification_record(
            session=locked,
            report=report,
            trigger=VerificationTrigger.SEAL,
            actor=actor,
            verified_at=now,
            last=(envelope["sequence_number"], envelope["event_hash"]),
        )
        if report.get("status") != "PASS":
            logger.warning(
                "sealed session %s fails verification: %s",
                session_id,
                [v.get("type") for v in report.get("violations", [])],
            )
        for hook in _callables("AGENTOPS_SEAL_HOOKS"):
            transaction.on_commit(_seal_hook_call(hook, locked), robust=True)
    return locked, SealResult(envelope, report, created=True)


def _seal_hook_call(hook: Callable[..., Any], session: Session) -> Callable[[], None]:
    def call() -> None:
        hook(session=session)

    # Django names the callable when it logs a failing robust callback.
    call.__qualname__ = getattr(hook, "__qualname__", repr(hook))
    return call


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
    report = _report(through(source))
    _verification_record(
        session=session,
        report=report,
        trigger=trigger,
        actor=actor,
        last=(last.get("sequence_number"), last.get("event_hash")),
    )
    return report


def _verification_record(
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
    return _report(events)


def export_verify(*, document: Any) -> dict[str, Any]:
    """Verify a parsed compliance JSON export (spec §8) with the service's keys.

    The service's own keys are trusted; the key embedded in the export is only used by the
    verifier when none of them applies, and never makes a seal trusted on its own.
    """
    try:
        return verify_export(document, trusted_keys=keys.trusted_public_keys())
    except LogFormatError as exc:
        raise IngestionError("VALIDATION_ERROR", str(exc), status=400) from None


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


# --------------------------------------------------------------------------------------
# API keys
# --------------------------------------------------------------------------------------


def api_key_create(*, project_name: str, name: str) -> tuple[ApiKey, str]:
    """Create an API key for the project (created if needed); the plaintext is returned once."""
    with transaction.atomic():
        project, _ = Project.objects.get_or_create(name=project_name)
        key, plaintext = ApiKey.objects.create_key(name=name, project=project)
        return cast(ApiKey, key), plaintext


def api_key_revoke(*, prefix: str) -> ApiKey:
    """Revoke the key with this prefix (for good: the library refuses to un-revoke)."""
    api_key = ApiKey.objects.filter(prefix=prefix).first()
    if api_key is None:
        raise IngestionError("API_KEY_NOT_FOUND", f"no API key with prefix {prefix!r}", status=404)
    if not api_key.revoked:
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
    return api_key
