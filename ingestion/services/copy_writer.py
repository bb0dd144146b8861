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


def copy_text(value: str) -> str:
    r"""``value`` as one column of COPY's text format.

    PostgreSQL's COPY documentation: in the text format a backslash, a newline, a carriage
    return or the delimiter (a tab) inside a value must be written with a backslash before it
    (``\\``, ``\n``, ``\r``, ``\t``); every other character stands for itself, and ``\N``
    alone is NULL. A value with none of the four comes back as it is, unchanged.
    """
    return (
        value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )


_NULL = "\\N"


def _copy_column(values: list[str]) -> list[str]:
    """``copy_text`` of each value of one column of the batch.

    The column is scanned once as a whole: usually none of its values holds a character to
    escape, or (the canonical payloads, whose JSON escapes every control character) only
    backslashes do.
    """
    joined = "".join(values)
    if "\t" in joined or "\n" in joined or "\r" in joined:
        return [copy_text(value) for value in values]
    if "\\" not in joined:
        return values
    return [value.replace("\\", "\\\\") for value in values]


def _copy_rows(
    raw_cursor: Any,
    sql: str,
    accepted: list[tuple[_Prepared, dict[str, Any]]],
    session_pk: uuid.UUID,
    received_at: datetime,
    api_key: ApiKey | None,
) -> None:
    """Write the batch as COPY text, in the order of ``_COPY_COLUMNS``, and send it at once.

    The rows are formatted here rather than by psycopg's ``write_row``, which looks up a
    dumper for each of the 16 values of each row: about half of the client's CPU for a batch
    went there. Every text a producer or the configuration chose passes through
    ``copy_text`` (``_copy_column``); the numbers are Python ints, the hashes are hex this
    service computed, and the values common to the batch (the session id, the receipt time
    and the key) are written once. The ingestion suite stores hostile text this way and reads
    back the same values.
    """
    if not accepted:
        return
    envelopes = [envelope for _, envelope in accepted]

    def column(name: str) -> list[str]:
        return _copy_column([envelope[name] for envelope in envelopes])

    texts = zip(
        column("event_id"),
        column("timestamp_wall"),
        column("event_type"),
        column("source_sdk_ver"),
        column("schema_ver"),
        _copy_column([item.payload_jcs for item, _ in accepted]),
        column("chain_authority"),
        column("authority_id"),
        strict=True,
    )
    # The session id and the receipt time as the text PostgreSQL reads for uuid and
    # timestamptz.
    head = f"{session_pk}\t"
    tail = (
        f"\t{received_at.isoformat()}\t{_NULL if api_key is None else copy_text(str(api_key.pk))}\n"
    )
    lines = [
        f"{head}{event_id}\t{envelope['sequence_number']:d}\t{wall}"
        f"\t{envelope['timestamp_monotonic']:d}\t{event_type}\t{sdk_ver}\t{schema_ver}"
        f"\t{payload}\t{envelope['payload_hash']}"
        f"\t{_NULL if envelope['prev_event_hash'] is None else envelope['prev_event_hash']}"
        f"\t{envelope['event_hash']}\t{authority}\t{authority_id}{tail}"
        for envelope, (
            event_id,
            wall,
            event_type,
            sdk_ver,
            schema_ver,
            payload,
            authority,
            authority_id,
        ) in zip(envelopes, texts, strict=True)
    ]
    with raw_cursor.copy(sql) as copy:
        copy.write("".join(lines).encode())
