"""Reads for exports: who ingested a session's events, its findings, earlier exports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.db.models import Max, Min, TextField
from django.db.models.functions import Cast

from ingestion.models import ApiKey, Event, Session
from policy.models import Findings

from .lazyjson import LazyArray, decode, lazy_document
from .models import ExportRecord

_STREAM_CHUNK = 2000


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
