"""The append-only rules hold in the database itself: raw SQL, no ORM safety nets."""

from __future__ import annotations

import importlib
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ingestion.models import Event, Session

from .factories import session_create, session_with_events

pytestmark = pytest.mark.django_db

triggers_migration = importlib.import_module("ingestion.migrations.0002_append_only_triggers")


def _execute(sql: str, params: list | None = None) -> None:
    # A savepoint per statement: on PostgreSQL a refused statement aborts the transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _run_deferred_constraint_checks() -> None:
    # PostgreSQL refuses TRUNCATE while the test's own transaction still has deferred foreign
    # key checks pending; running them now lets the statement reach the trigger.
    _execute("SET CONSTRAINTS ALL IMMEDIATE")


def _session_param(session: Session):
    return Session._meta.pk.get_db_prep_value(session.pk, connection)


def _insert_event(session: Session, seq: int) -> None:
    _execute(
        "INSERT INTO ingestion_event (session_id, sequence_number, event_id, timestamp_wall,"
        " timestamp_monotonic, event_type, source_sdk_ver, schema_ver, payload_jcs,"
        " payload_hash, prev_event_hash, event_hash, chain_authority, authority_id, received_at)"
        " VALUES (%s, %s, %s, %s, 0, 'TOOL_CALL', 'raw/0', 'v0.6', '{}', %s, NULL, %s,"
        " 'server', 'raw', %s)",
        [
            _session_param(session),
            seq,
            str(uuid.uuid4()),
            "2026-01-25T10:00:00Z",
            "0" * 64,
            "1" * 64,
            connection.ops.adapt_datetimefield_value(timezone.now()),
        ],
    )


def _seal_row(session: Session) -> Session:
    Session.objects.filter(pk=session.pk).update(
        sealed_at=timezone.now(), evidence_class="PARTIAL_AUTHORITATIVE_EVIDENCE"
    )
    return Session.objects.get(pk=session.pk)


def _snapshot(session: Session) -> list[tuple]:
    return list(Event.objects.filter(session=session).order_by("pk").values_list())


# --- events ------------------------------------------------------------------------------


def test_update_of_an_event_is_refused():
    session = session_with_events(2)
    before = _snapshot(session)
    with pytest.raises(IntegrityError, match="append-only: events cannot be updated"):
        _execute(
            "UPDATE ingestion_event SET event_type = 'ERROR' WHERE session_id = %s",
            [_session_param(session)],
        )
    assert _snapshot(session) == before


def test_delete_of_an_event_is_refused():
    session = session_with_events(2)
    before = _snapshot(session)
    with pytest.raises(IntegrityError, match="append-only: events cannot be deleted"):
        _execute("DELETE FROM ingestion_event WHERE sequence_number = 1")
    assert _snapshot(session) == before


def test_delete_of_every_event_is_refused():
    session = session_with_events(2)
    with pytest.raises(IntegrityError, match="append-only: events cannot be deleted"):
        _execute("DELETE FROM ingestion_event")
    assert Event.objects.filter(session=session).count() == 2


@pytest.mark.postgres
def test_truncate_of_events_is_refused():
    session = session_with_events(2)
    _run_deferred_constraint_checks()
    with pytest.raises(IntegrityError, match="append-only: events cannot be truncated"):
        _execute("TRUNCATE ingestion_event")
    assert Event.objects.filter(session=session).count() == 2


def test_insert_into_an_open_session_is_allowed():
    session = session_with_events(1)
    _insert_event(session, 1)
    assert Event.objects.filter(session=session).count() == 2


def test_insert_into_a_sealed_session_is_refused():
    session = _seal_row(session_with_events(1))
    with pytest.raises(IntegrityError, match="append-only: the session is sealed"):
        _insert_event(session, 1)
    assert Event.objects.filter(session=session).count() == 1


# --- sessions ----------------------------------------------------------------------------


def test_an_open_session_row_can_change():
    session = session_create()
    _execute(
        "UPDATE ingestion_session SET agent_id = 'renamed' WHERE id = %s", [_session_param(session)]
    )
    assert Session.objects.get(pk=session.pk).agent_id == "renamed"


@pytest.mark.parametrize(
    "assignment",
    ["sealed_at = NULL", "evidence_class = 'AUTHORITATIVE_EVIDENCE'", "head_hash = NULL"],
)
def test_a_sealed_session_row_cannot_change(assignment):
    session = _seal_row(session_with_events(1))
    before = Session.objects.filter(pk=session.pk).values().get()
    with pytest.raises(IntegrityError, match="append-only: a sealed session cannot change"):
        _execute(
            f"UPDATE ingestion_session SET {assignment} WHERE id = %s", [_session_param(session)]
        )
    assert Session.objects.filter(pk=session.pk).values().get() == before


@pytest.mark.parametrize("sealed", [False, True])
def test_delete_of_a_session_is_refused(sealed):
    session = session_create()
    if sealed:
        session = _seal_row(session)
    with pytest.raises(IntegrityError, match="append-only: sessions cannot be deleted"):
        _execute("DELETE FROM ingestion_session WHERE id = %s", [_session_param(session)])
    assert Session.objects.filter(pk=session.pk).exists()


@pytest.mark.postgres
def test_truncate_of_sessions_is_refused():
    session = session_create()
    _run_deferred_constraint_checks()
    with pytest.raises(IntegrityError, match="append-only: sessions cannot be truncated"):
        _execute("TRUNCATE ingestion_session CASCADE")
    assert Session.objects.filter(pk=session.pk).exists()


# --- the migration -------------------------------------------------------------------------


class _Editor:
    """What the migration functions use of a schema editor, on the test's own transaction."""

    connection = connection

    def execute(self, sql: str, params=None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def test_migration_reverses_and_reapplies_cleanly():
    session = session_with_events(1)
    triggers_migration.drop_triggers(None, _Editor())
    _execute(
        "UPDATE ingestion_event SET event_type = 'ERROR' WHERE session_id = %s",
        [_session_param(session)],
    )
    triggers_migration.create_triggers(None, _Editor())
    with pytest.raises(IntegrityError, match="append-only"):
        _execute("DELETE FROM ingestion_event")
    assert Event.objects.get(session=session).event_type == "ERROR"


statement_migration = importlib.import_module(
    "ingestion.migrations.0003_sealed_check_per_statement"
)


@pytest.mark.postgres
def test_the_per_statement_check_reverses_to_the_per_row_check_and_back():
    session = _seal_row(session_with_events(1))
    _run_deferred_constraint_checks()  # an index cannot be built while checks are pending
    statement_migration.check_per_row(None, _Editor())
    with pytest.raises(IntegrityError, match="append-only: the session is sealed"):
        _insert_event(session, 1)
    statement_migration.check_per_statement(None, _Editor())
    with pytest.raises(IntegrityError, match="append-only: the session is sealed"):
        _insert_event(session, 1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgtype & 1 FROM pg_trigger WHERE tgname = 'ingestion_event_sealed_session'"
        )
        assert cursor.fetchall() == [(0,)]  # bit 0 clear: once per statement, not per row
    assert Event.objects.filter(session=session).count() == 1
