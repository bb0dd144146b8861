"""Sessions to export: a realistic agent run appended and sealed through the services."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db import connection

from compliance import services as compliance_services
from compliance.exports.context import Actor
from compliance.models import ExportRecord
from ingestion import services
from ingestion.models import Project, Session
from ingestion.tests.factories import proposal_build, session_create

# One agent run: a question with an e-mail address in it (PII), a tool call answered, a
# recoverable error, the end. Each entry is (event type, payload).
RUN: list[tuple[str, dict[str, Any]]] = [
    ("SESSION_START", {"agent_id": "support-bot", "environment": "prod", "framework": "langchain"}),
    (
        "MODEL_REQUEST",
        {
            "model": "gpt-test",
            "messages": [{"role": "user", "content": "Where is order 1000? jane.doe@example.com"}],
        },
    ),
    ("MODEL_RESPONSE", {"model": "gpt-test", "finish_reason": "tool_calls", "content": "Looking."}),
    ("TOOL_CALL", {"tool_name": "orders.lookup", "args": {"order_id": "ORD-1000", "limit": 1.5}}),
    (
        "TOOL_RESULT",
        {"tool_name": "orders.lookup", "status": "success", "result": {"status": "shipped"}},
    ),
    ("ERROR", {"error_type": "Timeout", "message": "the CRM timed out", "fatal": False}),
    ("MODEL_RESPONSE", {"model": "gpt-test", "finish_reason": "stop", "content": "It shipped."}),
    ("SESSION_END", {"status": "success", "duration_ms": 4321}),
]


def session_recorded(
    *,
    project: Project | None = None,
    end: bool = True,
    extra: int = 0,
    agent_id: str = "support-bot",
) -> Session:
    """An open session holding the run above (without its end unless ``end``), plus
    ``extra`` further tool calls before the end."""
    session = session_create(project, agent_id=agent_id)
    steps = list(RUN[:-1])
    steps += [RUN[3]] * extra
    if end:
        steps.append(RUN[-1])
    proposals = [
        proposal_build(session.id, seq, event_type, dict(payload))
        for seq, (event_type, payload) in enumerate(steps)
    ]
    services.events_append(session=session, proposals=proposals)
    return session


def session_sealed(**fields: Any) -> Session:
    session = session_recorded(**fields)
    services.session_seal(session=session)
    return session


@contextlib.contextmanager
def triggers_disabled(table: str) -> Iterator[None]:
    """Switch off the append-only triggers of ``table`` inside the test, as only an attacker
    with the database owner's rights could: on PostgreSQL by disabling them, on SQLite by
    dropping them and creating them again from their stored SQL."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE waits for no deferred foreign-key check of the test's transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            try:
                yield
            finally:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            return
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
            [table],
        )
        triggers = cursor.fetchall()
        for name, _ in triggers:
            cursor.execute(f'DROP TRIGGER "{name}"')
        try:
            yield
        finally:
            for _, sql in triggers:
                cursor.execute(sql)


def event_tamper(session: Session, sequence_number: int, **columns: Any) -> None:
    """Overwrite columns of one stored event behind the service's back."""
    assignments = ", ".join(f"{name} = %s" for name in columns)
    session_id = Session._meta.pk.get_db_prep_value(session.pk, connection)
    with triggers_disabled("ingestion_event"), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE ingestion_event SET {assignments}"
            " WHERE session_id = %s AND sequence_number = %s",
            [*columns.values(), session_id, sequence_number],
        )


ACTOR = Actor.for_command("export test", operator="tester")


def export_bytes(session: Session, fmt: str) -> tuple[bytes, ExportRecord]:
    """One export of ``session`` in ``fmt``, recorded in the ledger under ``ACTOR``."""
    rendered = compliance_services.export_render(session=session, fmt=fmt, actor=ACTOR)
    with rendered.file:
        return rendered.file.read(), rendered.record
