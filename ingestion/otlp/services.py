"""Taking in decoded spans: sessions, idempotency, the chain through ``events_append``.

Spans are grouped by session; each session's spans are appended in one short transaction
that holds the session's row lock (the same lock and the same checks as the SDK's appends,
through ``events_append(at_head=True)``), so the service assigns the sequence numbers in
arrival order. A span already stored with the same content adds nothing; with other content
it is rejected (reported in ``partial_success``), never stored twice.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..errors import IngestionError
from ..models import ApiKey, Project, Session
from ..services import Caller, events_append, session_seal, session_start
from ..services.sessions import locked_session
from ..validation import proposals_validate
from . import mapping
from .decoding import OtlpSpan
from .models import SpanReceipt

logger = logging.getLogger(__name__)

#: Names sessions: a project's conversation (or trace) always maps to the same session id.
SESSION_NAMESPACE = uuid.UUID("6a0f7a53-2b0c-4a43-8c55-0f5d1e6c9b27")

#: ``metadata["source"]`` of the sessions this service makes from OTLP spans.
SESSION_SOURCE = "otlp"


@dataclass
class ExportResult:
    accepted_spans: int = 0
    duplicate_spans: int = 0
    rejected_spans: int = 0
    messages: list[str] = field(default_factory=list)
    sessions: list[uuid.UUID] = field(default_factory=list)
    sealed: list[uuid.UUID] = field(default_factory=list)

    def reject(self, count: int, message: str) -> None:
        self.rejected_spans += count
        self.messages.append(message)

    @property
    def error_message(self) -> str:
        return "; ".join(self.messages)[:2000]


def session_id_for(*, project: Project, kind: str, value: str) -> uuid.UUID:
    return uuid.uuid5(SESSION_NAMESPACE, f"{project.pk}/{kind}/{value}")


def _session_keys(project: Project, spans: list[OtlpSpan]) -> dict[str, dict[str, str]]:
    """Each span's session key, by span id: its conversation, else one named by another span of
    its trace (in this request, else stored), else its trace."""
    by_trace: dict[str, str] = {}
    for span in spans:
        conversation = mapping.conversation_of(span)
        if conversation is not None:
            by_trace.setdefault(span.trace_id, conversation)
    unnamed = {span.trace_id for span in spans} - set(by_trace)
    stored: dict[str, uuid.UUID] = {}
    if unnamed:
        for trace_id, session_pk in SpanReceipt.objects.filter(
            project=project, trace_id__in=unnamed
        ).values_list("trace_id", "session_id"):
            stored.setdefault(trace_id, session_pk)
    keys: dict[str, dict[str, str]] = {}
    for span in spans:
        conversation = mapping.conversation_of(span) or by_trace.get(span.trace_id)
        if conversation is not None:
            keys[span.trace_id + span.span_id] = {"conversation_id": conversation}
        elif span.trace_id in stored:
            keys[span.trace_id + span.span_id] = {"session": str(stored[span.trace_id])}
        else:
            keys[span.trace_id + span.span_id] = {"trace_id": span.trace_id}
    return keys


_RECEIPT_COLUMNS = (
    "project_id",
    "session_id",
    "trace_id",
    "span_id",
    "content_hash",
    "first_sequence_number",
    "received_at",
)


def receipts_insert(
    *, project: Project, session_pk: uuid.UUID, rows: list[tuple[str, str, str, int]]
) -> None:
    """Store span receipts ``(trace_id, span_id, content_hash, first_sequence_number)`` in one
    statement: COPY on PostgreSQL (as the events are stored), ``bulk_create`` elsewhere."""
    now = timezone.now()
    if connection.vendor != "postgresql":
        SpanReceipt.objects.bulk_create(
            SpanReceipt(
                project=project,
                session_id=session_pk,
                trace_id=trace_id,
                span_id=span_id,
                content_hash=digest,
                first_sequence_number=first,
                received_at=now,
            )
            for trace_id, span_id, digest, first in rows
        )
        return
    table = connection.ops.quote_name(SpanReceipt._meta.db_table)
    sql = f"COPY {table} ({', '.join(_RECEIPT_COLUMNS)}) FROM STDIN"
    fixed = (project.pk, str(session_pk))
    received = now.isoformat()
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row((*fixed, *row, received))


# The receipts of a request's spans; the ids (hex digits) travel as two comma-separated texts,
# one parameter each, instead of one parameter per span.
_STORED_SQL = (
    "SELECT trace_id, span_id, content_hash FROM ingestion_spanreceipt WHERE project_id = %s"
    " AND trace_id = ANY(string_to_array(%s, ',')) AND span_id = ANY(string_to_array(%s, ','))"
)


def receipts_stored(*, project: Project, spans: list[OtlpSpan]) -> dict[tuple[str, str], str]:
    """The content hash of each of these spans already received, by (trace id, span id)."""
    trace_ids = {s.trace_id for s in spans}
    span_ids = {s.span_id for s in spans}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_STORED_SQL, [project.pk, ",".join(trace_ids), ",".join(span_ids)])
            rows = cursor.fetchall()
    else:
        rows = list(
            SpanReceipt.objects.filter(
                project=project, trace_id__in=trace_ids, span_id__in=span_ids
            ).values_list("trace_id", "span_id", "content_hash")
        )
    return {(trace_id, span_id): digest for trace_id, span_id, digest in rows}


def _session_pk(project: Project, key: dict[str, str]) -> uuid.UUID:
    if "session" in key:
        return uuid.UUID(key["session"])
    ((kind, value),) = key.items()
    return session_id_for(project=project, kind=kind, value=value)


def spans_ingest(
    *, project: Project, spans: list[OtlpSpan], api_key: ApiKey | None = None
) -> ExportResult:
    """Append the spans of one export request to their sessions; seal the sessions whose root
    agent span ended. Spans that cannot be stored are counted and explained in the result."""
    result = ExportResult()
    keys = _session_keys(project, spans)
    groups: dict[uuid.UUID, list[OtlpSpan]] = defaultdict(list)
    group_keys: dict[uuid.UUID, dict[str, str]] = {}
    pks: dict[tuple[tuple[str, str], ...], uuid.UUID] = {}
    for span in spans:
        key = keys[span.trace_id + span.span_id]
        name = tuple(key.items())
        pk = pks.get(name) or pks.setdefault(name, _session_pk(project, key))
        groups[pk].append(span)
        group_keys.setdefault(pk, key)
    for pk, group in groups.items():
        # Children end, and are exported, before their parents: appending by end time keeps
        # the root agent span (whose end closes the session) last.
        group.sort(key=lambda s: (s.end_ns, s.start_ns))
        try:
            ended = _group_append(project, pk, group_keys[pk], group, api_key, result)
        except IngestionError as exc:
            if exc.status in (429, 503):
                raise
            result.reject(len(group), f"session {pk}: {exc.code}: {exc.message}")
            continue
        result.sessions.append(pk)
        if ended:
            session = Session.objects.get(pk=pk)
            session_seal(session=session, actor=Caller.for_api_key(api_key) if api_key else None)
            result.sealed.append(pk)
    return result


def _group_append(
    project: Project,
    pk: uuid.UUID,
    key: dict[str, str],
    spans: list[OtlpSpan],
    api_key: ApiKey | None,
    result: ExportResult,
) -> bool:
    """Append one session's spans in one transaction; True when the session ended.

    The spans are mapped to proposed events before the session's lock is taken (the mapping
    depends on nothing stored): the lock covers the idempotency check, the chain append and
    the receipts."""
    session_text = str(pk)
    mapped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for span in spans:
        ident = (span.trace_id, span.span_id)
        if ident not in mapped:  # a repeat within the request is a duplicate or refused
            mapped[ident] = mapping.span_proposals(span, session_id=session_text)
    with transaction.atomic():
        try:
            locked = locked_session(pk, project)
        except IngestionError:  # SESSION_NOT_FOUND: the session's first spans
            session_start(
                project=project,
                agent_id=mapping.agent_id_of(spans),
                metadata={"source": SESSION_SOURCE, "otel_session_key": key},
                session_id=pk,
            )
            locked = locked_session(pk, project)
        stored = receipts_stored(project=project, spans=spans)
        proposals: list[dict[str, Any]] = []
        if locked.head_sequence is None:
            first = min(spans, key=lambda s: s.start_ns)
            proposals.append(
                mapping.session_start_proposal(
                    first,
                    session_id=session_text,
                    agent_id=locked.agent_id,
                    key=key,
                    start_ns=first.start_ns,
                )
            )
        fresh: list[tuple[OtlpSpan, str, int]] = []  # span, content hash, index of first event
        seen: dict[tuple[str, str], str] = {}
        end_span = None
        for span in spans:
            ident = (span.trace_id, span.span_id)
            digest = span.content_hash()
            earlier = stored.get(ident) or seen.get(ident)
            if earlier is not None:
                if earlier == digest:
                    result.duplicate_spans += 1
                else:
                    result.reject(
                        1,
                        f"span {span.span_id} of trace {span.trace_id} was received before "
                        "with other content; the first version stands",
                    )
                continue
            if locked.sealed:
                result.reject(1, f"session {pk} is sealed; span {span.span_id} was not stored")
                continue
            seen[ident] = digest
            fresh.append((span, digest, len(proposals)))
            proposals.extend(mapped[ident])
            if mapping.ends_session(span) and settings.AGENTOPS_OTLP_END_ON_ROOT_SPAN:
                end_span = span
        if end_span is not None:
            proposals.append(mapping.session_end_proposal(end_span, session_id=session_text))
        if not fresh:
            return False
        limit = settings.AGENTOPS_MAX_EVENTS_PER_REQUEST
        for start in range(0, len(proposals), limit):
            proposals_validate(
                {"events": proposals[start : start + limit]}, session_id=session_text
            )
        head_before = -1 if locked.head_sequence is None else locked.head_sequence
        events_append(
            session=pk, proposals=proposals, project=project, api_key=api_key, at_head=True
        )
        receipts_insert(
            project=project,
            session_pk=pk,
            rows=[
                (span.trace_id, span.span_id, digest, head_before + 1 + index)
                for span, digest, index in fresh
            ],
        )
        result.accepted_spans += len(fresh)
    return end_span is not None
