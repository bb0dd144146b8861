"""Reads for exports: which sessions, which events, who ingested them, earlier exports."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Max, Min, QuerySet, TextField
from django.db.models.functions import Cast

from ingestion.models import ApiKey, Event, Project, Session
from policy.models import Findings

from .lazyjson import LazyArray, decode, lazy_document
from .models import ExportRecord

_STREAM_CHUNK = 2000


def sessions_for_export(
    *,
    project: Project | None = None,
    agent_id: str | None = None,
    evidence_class: str | None = None,
    created_since: datetime | None = None,
    created_until: datetime | None = None,
    session_ids: Sequence[uuid.UUID] | None = None,
) -> QuerySet[Session]:
    """Sessions matching every filter given, oldest first (a stable order for bulk runs)."""
    sessions = Session.objects.select_related("project")
    if project is not None:
        sessions = sessions.filter(project=project)
    if agent_id is not None:
        sessions = sessions.filter(agent_id=agent_id)
    if evidence_class is not None:
        sessions = sessions.filter(evidence_class=evidence_class)
    if created_since is not None:
        sessions = sessions.filter(created_at__gte=created_since)
    if created_until is not None:
        sessions = sessions.filter(created_at__lt=created_until)
    if session_ids is not None:
        sessions = sessions.filter(pk__in=list(session_ids))
    return sessions.order_by("created_at", "pk")


# The columns of a §2 envelope, in the order of the loop below.
_ENVELOPE_COLUMNS = (
    "event_id",
    "sequence_number",
    "timestamp_wall",
    "timestamp_monotonic",
    "event_type",
    "source_sdk_ver",
    "schema_ver",
    "payload_jcs",
    "payload_hash",
    "prev_event_hash",
    "event_hash",
    "chain_authority",
    "authority_id",
)


def session_chain_through(
    *, session: Session, last_sequence: int | None
) -> Iterator[tuple[dict[str, Any], str | None]]:
    """(envelope, stored canonical payload text) of each event up to ``last_sequence``
    (every stored event with None).

    Streamed in sequence order. Bounding the read by the head seen when an export began
    keeps one export to one chain, even while a producer is still appending to an unsealed
    session. The envelopes are exactly ``Event.envelope()`` (a test holds them equal), built
    from plain rows: model instances cost a third of an export's time on a long session.
    A payload text that is not JSON at all (altered behind the service's back) is given as
    that string, which the verifier then reports, instead of stopping the read.
    """
    session_id = str(session.pk)
    events = Event.objects.filter(session=session)
    if last_sequence is not None:
        events = events.filter(sequence_number__lte=last_sequence)
    rows = events.order_by("sequence_number").values_list(*_ENVELOPE_COLUMNS)
    loads = json.loads
    for (
        event_id,
        sequence_number,
        timestamp_wall,
        timestamp_monotonic,
        event_type,
        source_sdk_ver,
        schema_ver,
        payload_jcs,
        payload_hash,
        prev_event_hash,
        event_hash,
        chain_authority,
        authority_id,
    ) in rows.iterator(chunk_size=_STREAM_CHUNK):
        payload: Any = None
        if payload_jcs is not None:
            try:
                payload = loads(payload_jcs)
            except ValueError:
                payload = payload_jcs
        yield (
            {
                "event_id": event_id,
                "session_id": session_id,
                "sequence_number": sequence_number,
                "timestamp_wall": timestamp_wall,
                "timestamp_monotonic": timestamp_monotonic,
                "event_type": event_type,
                "source_sdk_ver": source_sdk_ver,
                "schema_ver": schema_ver,
                "payload": payload,
                "payload_hash": payload_hash,
                "prev_event_hash": prev_event_hash,
                "event_hash": event_hash,
                "chain_authority": chain_authority,
                "authority_id": authority_id,
            },
            payload_jcs,
        )


def session_envelopes_through(
    *, session: Session, last_sequence: int | None
) -> Iterator[dict[str, Any]]:
    """The stored envelopes up to ``last_sequence`` (all with None), in sequence order."""
    for envelope, _ in session_chain_through(session=session, last_sequence=last_sequence):
        yield envelope


def session_ingestion_facts(*, session: Session, last_sequence: int) -> dict[str, Any]:
    """When the producer's events reached the service, and through which API keys."""
    producer_events = Event.objects.filter(
        session=session, sequence_number__lte=last_sequence
    ).exclude(event_type="CHAIN_SEAL")
    received = producer_events.aggregate(first=Min("received_at"), last=Max("received_at"))
    api_keys = ApiKey.objects.filter(
        pk__in=producer_events.exclude(api_key=None).values("api_key").distinct()
    ).order_by("created", "pk")
    return {
        "first_received_at": received["first"],
        "last_received_at": received["last"],
        "api_keys": [{"name": key.name, "prefix": key.prefix} for key in api_keys],
    }


def session_findings_latest(*, session: Session) -> Findings | None:
    """The session's latest policy findings, without loading their two long lists.

    ``pii_findings`` and ``tool_audit`` grow with the session (tens of megabytes for 100,000
    events); an export reads them lazily with ``findings_lists`` instead, and any other
    access loads them on demand.
    """
    return (
        Findings.objects.filter(session=session)
        .defer("pii_findings", "tool_audit")
        .order_by("-evaluated_at", "-pk")
        .first()
    )


def findings_lists(*, findings: Findings) -> dict[str, Any]:
    """``pii_findings`` and ``tool_audit`` of a findings row, their arrays left lazy.

    Unless they are already in memory, nothing is parsed whole: PostgreSQL hands the arrays
    over element by element (``jsonb_array_elements`` through a server-side cursor), so
    memory stays flat however long the session; elsewhere the stored JSON texts are read
    and their arrays walked element by element (``lazyjson``), which holds the text only.
    """
    deferred = findings.get_deferred_fields()
    if not deferred & {"pii_findings", "tool_audit"}:
        return {"pii_findings": findings.pii_findings, "tool_audit": findings.tool_audit}
    if connection.vendor == "postgresql":
        [rest] = _jsonb_rows(
            "SELECT (tool_audit - 'calls')::text FROM policy_findings WHERE id = %s",
            findings.pk,
        )
        return {
            "pii_findings": _jsonb_array(findings.pk, "pii_findings"),
            "tool_audit": {
                **lazy_document(rest),
                "calls": _jsonb_array(findings.pk, "tool_audit.calls"),
            },
        }
    pii_text, audit_text = (
        Findings.objects.filter(pk=findings.pk)
        .values_list(Cast("pii_findings", TextField()), Cast("tool_audit", TextField()))
        .get()
    )
    return {"pii_findings": lazy_document(pii_text), "tool_audit": lazy_document(audit_text)}


# Each array of a findings row, element by element and in order (PostgreSQL).
_JSONB_ARRAYS = {
    "pii_findings": (
        "SELECT item::text FROM policy_findings,"
        " jsonb_array_elements(pii_findings) WITH ORDINALITY AS items(item, position)"
        " WHERE policy_findings.id = %s ORDER BY position"
    ),
    "tool_audit.calls": (
        "SELECT item::text FROM policy_findings,"
        " jsonb_array_elements(tool_audit -> 'calls') WITH ORDINALITY AS items(item, position)"
        " WHERE policy_findings.id = %s ORDER BY position"
    ),
}


def _jsonb_array(findings_pk: int, array: str) -> LazyArray:
    sql = _JSONB_ARRAYS[array]
    return LazyArray(lambda: (decode(text) for text in _jsonb_rows(sql, findings_pk)))


def _jsonb_rows(sql: str, findings_pk: int) -> Iterator[str]:
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [findings_pk])
        while rows := cursor.fetchmany(_STREAM_CHUNK):
            for (text,) in rows:
                yield text


def export_record_matching(
    *, session: Session, fmt: str, sha256: str, size_bytes: int
) -> ExportRecord | None:
    """The latest recorded export of the session with exactly these bytes, if any."""
    return (
        ExportRecord.objects.filter(
            session=session, format=fmt, sha256=sha256, size_bytes=size_bytes
        )
        .order_by("-recorded_at", "-pk")
        .first()
    )
