"""The append-only rules hold in the database itself: raw SQL, no ORM safety nets."""

from __future__ import annotations

import contextlib
import importlib
import uuid
from collections.abc import Iterator

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ingestion.errors import AppendOnlyError
from ingestion.models import ApiKey, Event, Session

from .factories import api_key_create, project_create, session_create, session_with_events

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


def _insert_event(session: Session, seq: int, api_key_id: str | None = None) -> None:
    _execute(
        "INSERT INTO ingestion_event (session_id, sequence_number, event_id, timestamp_wall,"
        " timestamp_monotonic, event_type, source_sdk_ver, schema_ver, payload_jcs,"
        " payload_hash, prev_event_hash, event_hash, chain_authority, authority_id, received_at,"
        " api_key_id)"
        " VALUES (%s, %s, %s, %s, 0, 'TOOL_CALL', 'raw/0', 'v0.6', '{}', %s, NULL, %s,"
        " 'server', 'raw', %s, %s)",
        [
            _session_param(session),
            seq,
            str(uuid.uuid4()),
            "2026-01-25T10:00:00Z",
            "0" * 64,
            "1" * 64,
            connection.ops.adapt_datetimefield_value(timezone.now()),
            api_key_id,
        ],
    )


def _references_checked() -> None:
    """Run now the checks a commit would run. A missing session or API key is refused on
    PostgreSQL at the end of the INSERT (the statement trigger), but by deferred foreign keys
    on SQLite, and on PostgreSQL too once the migration that checks them is reversed."""
    if connection.vendor == "sqlite":
        connection.check_constraints(table_names=["ingestion_event"])
    else:
        _run_deferred_constraint_checks()


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


# --- references ---------------------------------------------------------------------------

MISSING_REFERENCE = "does not exist|FOREIGN KEY|foreign key"


def test_insert_naming_a_missing_session_is_refused():
    unsaved = Session(id=uuid.uuid4())
    with pytest.raises(IntegrityError, match=MISSING_REFERENCE), transaction.atomic():
        _insert_event(unsaved, 0)
        _references_checked()
    assert not Event.objects.filter(session_id=unsaved.pk).exists()


def test_insert_naming_a_missing_api_key_is_refused():
    session = session_with_events(1)
    with pytest.raises(IntegrityError, match=MISSING_REFERENCE), transaction.atomic():
        _insert_event(session, 1, api_key_id="NoSuch.key")
        _references_checked()
    assert Event.objects.filter(session=session).count() == 1


def test_insert_naming_an_existing_api_key_is_allowed():
    session = session_with_events(1)
    key, _ = api_key_create(session.project)
    _insert_event(session, 1, api_key_id=key.pk)
    _references_checked()
    assert Event.objects.get(session=session, sequence_number=1).api_key_id == key.pk


@pytest.mark.postgres
def test_one_batch_may_name_several_sessions_and_keys_all_checked():
    """The statement check counts distinct sessions and keys: a missing one among present
    ones, or repeated present ones, are judged right."""
    first, second = session_with_events(1), session_with_events(1)
    key, _ = api_key_create(first.project)
    rows = "(%s, %s, %s::uuid, '2026-01-25T10:00:00Z', 0, 'TOOL_CALL', 'raw/0', 'v0.6', '{}',"
    rows += " repeat('0', 64), NULL, repeat('1', 64), 'server', 'raw', now(), %s)"
    sql = (
        "INSERT INTO ingestion_event (session_id, sequence_number, event_id, timestamp_wall,"
        " timestamp_monotonic, event_type, source_sdk_ver, schema_ver, payload_jcs,"
        " payload_hash, prev_event_hash, event_hash, chain_authority, authority_id,"
        " received_at, api_key_id) VALUES " + ", ".join([rows] * 3)
    )

    def params(*triples):
        return [
            v for session, seq, key_id in triples for v in (session.pk, seq, uuid.uuid4(), key_id)
        ]

    with pytest.raises(IntegrityError, match="names an API key that does not exist"):
        _execute(sql, params((first, 1, key.pk), (second, 1, key.pk), (first, 2, "NoSuch.key")))
    with pytest.raises(IntegrityError, match="names a session that does not exist"):
        _execute(
            sql, params((first, 1, key.pk), (Session(id=uuid.uuid4()), 0, None), (first, 2, None))
        )
    _execute(sql, params((first, 1, key.pk), (second, 1, key.pk), (first, 2, None)))
    assert Event.objects.filter(session__in=[first, second]).count() == 5


@pytest.mark.postgres
def test_no_row_trigger_runs_on_insert_of_events():
    """Work, not time: inserting a batch costs no trigger or foreign-key check per row."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'ingestion_event'::regclass"
            " AND tgtype & 1 = 1 AND tgtype & 4 = 4"  # bit 0: per row; bit 2: on INSERT
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT count(*) FROM pg_constraint"
            " WHERE conrelid = 'ingestion_event'::regclass AND contype = 'f'"
        )
        assert cursor.fetchone() == (0,)


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("DELETE FROM ingestion_apikey WHERE id = %s", "API keys are revoked, never deleted"),
        ("UPDATE ingestion_apikey SET id = 'other.key' WHERE id = %s", "id cannot change"),
    ],
)
def test_an_api_key_is_never_deleted_nor_renumbered(statement, refusal):
    key, _ = api_key_create()
    with pytest.raises(IntegrityError, match=f"append-only: .*{refusal}"):
        _execute(statement, [key.pk])
    assert ApiKey.objects.filter(pk=key.pk).exists()
    with pytest.raises(AppendOnlyError):
        key.delete()


def test_an_api_key_can_still_be_revoked():
    key, _ = api_key_create()
    _execute("UPDATE ingestion_apikey SET revoked = %s WHERE id = %s", [True, key.pk])
    assert ApiKey.objects.get(pk=key.pk).revoked


@pytest.mark.parametrize(
    ("assignment", "refusal"),
    [
        ("revoked = %s", "a revoked API key cannot be restored"),
        ("project_id = %s", "project, prefix, hash and creation time cannot change"),
        ("prefix = %s", "project, prefix, hash and creation time cannot change"),
        ("hashed_key = %s", "project, prefix, hash and creation time cannot change"),
        ("created = %s", "project, prefix, hash and creation time cannot change"),
    ],
)
def test_an_api_key_stays_revoked_and_keeps_its_identity(assignment, refusal):
    key, _ = api_key_create()
    ApiKey.objects.filter(pk=key.pk).update(revoked=True)
    values = {
        "revoked": False,
        "project_id": project_create().pk,
        "prefix": "Other123",
        "hashed_key": "sha512$$" + "0" * 128,
        "created": connection.ops.adapt_datetimefield_value(timezone.now()),
    }
    before = ApiKey.objects.filter(pk=key.pk).values().get()
    with pytest.raises(IntegrityError, match=f"append-only: .*{refusal}"):
        _execute(
            f"UPDATE ingestion_apikey SET {assignment} WHERE id = %s",
            [values[assignment.split(" ")[0]], key.pk],
        )
    assert ApiKey.objects.filter(pk=key.pk).values().get() == before


def test_an_api_key_can_be_renamed_given_an_expiry_and_saved_unchanged():
    key, _ = api_key_create()
    _execute(
        "UPDATE ingestion_apikey SET name = 'renamed', expiry_date = %s, revoked = %s,"
        " project_id = project_id, prefix = prefix, hashed_key = hashed_key, created = created"
        " WHERE id = %s",
        [connection.ops.adapt_datetimefield_value(timezone.now()), False, key.pk],
    )
    assert ApiKey.objects.get(pk=key.pk).name == "renamed"


def test_the_model_refuses_moving_a_key_and_saves_only_what_may_change():
    key, _ = api_key_create()
    key.project = project_create()
    with pytest.raises(ValidationError, match="stays with its project"):
        key.full_clean()
    with pytest.raises(ValidationError, match="stays with its project"):
        key.save()
    key = ApiKey.objects.get(pk=key.pk)
    key.name, key.hashed_key, key.revoked = "renamed", "sha512$$stale", True
    key.save()  # a full save writes the columns that may change, nothing else
    stored = ApiKey.objects.get(pk=key.pk)
    assert (stored.name, stored.revoked) == ("renamed", True)
    assert stored.hashed_key != "sha512$$stale"


@pytest.mark.postgres
def test_truncate_of_api_keys_is_refused():
    key, _ = api_key_create()
    _run_deferred_constraint_checks()
    with pytest.raises(IntegrityError, match="append-only: API keys cannot be truncated"):
        _execute("TRUNCATE ingestion_apikey CASCADE")
    assert ApiKey.objects.filter(pk=key.pk).exists()


# --- sessions ----------------------------------------------------------------------------


def test_the_id_of_a_session_never_changes():
    session = session_with_events(1)
    with pytest.raises(IntegrityError, match="append-only: a session's id cannot change"):
        _execute(
            "UPDATE ingestion_session SET id = %s WHERE id = %s",
            [_session_param(Session(id=uuid.uuid4())), _session_param(session)],
        )
    assert Event.objects.get(session=session).session_id == session.pk


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


references_migration = importlib.import_module(
    "ingestion.migrations.0004_references_checked_per_statement"
)


search_path_migration = importlib.import_module(
    "ingestion.migrations.0005_trigger_functions_search_path"
)


@contextlib.contextmanager
def _references_checked_per_row() -> Iterator[None]:
    """0005 and 0004 reversed for the block, so that an earlier migration can be reversed
    inside it."""
    postgresql = connection.vendor == "postgresql"
    if postgresql:
        _run_deferred_constraint_checks()  # foreign keys are added and dropped around the block
    search_path_migration.soften(None, _Editor())
    references_migration.check_per_row(None, _Editor())
    yield
    if postgresql:
        _run_deferred_constraint_checks()
    references_migration.check_per_statement(None, _Editor())
    search_path_migration.harden(None, _Editor())


def test_migration_reverses_and_reapplies_cleanly():
    session = session_with_events(1)
    with _references_checked_per_row():
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
    with _references_checked_per_row():
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


def test_the_reference_checks_reverse_to_foreign_keys_and_back():
    session = session_with_events(1)
    unused, kept = api_key_create(session.project, "unused")[0], api_key_create(session.project)[0]
    with _references_checked_per_row():
        with pytest.raises(IntegrityError, match=MISSING_REFERENCE), transaction.atomic():
            _insert_event(session, 1, api_key_id="NoSuch.key")
            _references_checked()
        _execute("DELETE FROM ingestion_apikey WHERE id = %s", [unused.pk])  # allowed again
        assert not ApiKey.objects.filter(pk=unused.pk).exists()
    with pytest.raises(IntegrityError, match=MISSING_REFERENCE), transaction.atomic():
        _insert_event(session, 1, api_key_id="NoSuch.key")
        _references_checked()
    with pytest.raises(IntegrityError, match="API keys are revoked, never deleted"):
        _execute("DELETE FROM ingestion_apikey WHERE id = %s", [kept.pk])
    assert Event.objects.filter(session=session).count() == 1
