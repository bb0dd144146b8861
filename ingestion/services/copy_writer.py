"""Storing an accepted batch in one statement: COPY on PostgreSQL, bulk_create elsewhere."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection

from ..models import ENVELOPE_COLUMNS, ApiKey, Event, Session

if TYPE_CHECKING:
    from .append import _Prepared

# The columns ``events_insert`` writes with COPY, in the order ``_copy_rows`` writes them.
_COPY_COLUMNS = ("session_id", *ENVELOPE_COLUMNS, "received_at", "api_key_id")


def events_insert(
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
