"""Append-only evidence, enforced by the database itself.

- ingestion_event rows can never be UPDATEd, DELETEd or TRUNCATEd;
- no event can be INSERTed into a sealed session;
- a sealed session's row can no longer change;
- sessions are never DELETEd (nor TRUNCATEd, on PostgreSQL).

Sealing inserts the CHAIN_SEAL first and marks the session sealed afterwards, in one
transaction, so both rules hold during the seal itself.

SQLite drops a table's triggers when Django rebuilds the table to alter it: a later migration
that alters ingestion_event or ingestion_session on SQLite must create these triggers again.
ingestion/tests/test_triggers.py fails if they are missing.
"""

from django.db import migrations

POSTGRESQL_FORWARD = [
    # One function for the plain refusals; each trigger passes its message as argument.
    """
    CREATE FUNCTION ingestion_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE FUNCTION ingestion_event_refuse_sealed() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        session_sealed_at timestamptz;
    BEGIN
        -- FOR SHARE waits for a transaction that is sealing this session right now and then
        -- reads the committed row, so an insert racing a seal cannot land behind the seal.
        SELECT sealed_at INTO session_sealed_at
          FROM ingestion_session WHERE id = NEW.session_id FOR SHARE;
        IF session_sealed_at IS NOT NULL THEN
            RAISE EXCEPTION 'append-only: the session is sealed, no event can be added'
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER ingestion_event_no_update BEFORE UPDATE ON ingestion_event
    FOR EACH ROW EXECUTE FUNCTION ingestion_refuse('append-only: events cannot be updated')
    """,
    """
    CREATE TRIGGER ingestion_event_no_delete BEFORE DELETE ON ingestion_event
    FOR EACH ROW EXECUTE FUNCTION ingestion_refuse('append-only: events cannot be deleted')
    """,
    """
    CREATE TRIGGER ingestion_event_no_truncate BEFORE TRUNCATE ON ingestion_event
    FOR EACH STATEMENT EXECUTE FUNCTION ingestion_refuse('append-only: events cannot be truncated')
    """,
    """
    CREATE TRIGGER ingestion_event_sealed_session BEFORE INSERT ON ingestion_event
    FOR EACH ROW EXECUTE FUNCTION ingestion_event_refuse_sealed()
    """,
    """
    CREATE TRIGGER ingestion_session_sealed_frozen BEFORE UPDATE ON ingestion_session
    FOR EACH ROW WHEN (OLD.sealed_at IS NOT NULL)
    EXECUTE FUNCTION ingestion_refuse('append-only: a sealed session cannot change')
    """,
    """
    CREATE TRIGGER ingestion_session_no_delete BEFORE DELETE ON ingestion_session
    FOR EACH ROW EXECUTE FUNCTION ingestion_refuse('append-only: sessions cannot be deleted')
    """,
    """
    CREATE TRIGGER ingestion_session_no_truncate BEFORE TRUNCATE ON ingestion_session
    FOR EACH STATEMENT EXECUTE FUNCTION ingestion_refuse('append-only: sessions cannot be truncated')
    """,
]

POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS ingestion_session_no_truncate ON ingestion_session",
    "DROP TRIGGER IF EXISTS ingestion_session_no_delete ON ingestion_session",
    "DROP TRIGGER IF EXISTS ingestion_session_sealed_frozen ON ingestion_session",
    "DROP TRIGGER IF EXISTS ingestion_event_sealed_session ON ingestion_event",
    "DROP TRIGGER IF EXISTS ingestion_event_no_truncate ON ingestion_event",
    "DROP TRIGGER IF EXISTS ingestion_event_no_delete ON ingestion_event",
    "DROP TRIGGER IF EXISTS ingestion_event_no_update ON ingestion_event",
    "DROP FUNCTION IF EXISTS ingestion_event_refuse_sealed()",
    "DROP FUNCTION IF EXISTS ingestion_refuse()",
]

# SQLite has no TRUNCATE: "DELETE FROM t" is refused row by row (the truncate optimisation
# is disabled for tables with triggers). Writers are serialized, so no race needs a lock.
SQLITE_FORWARD = [
    """
    CREATE TRIGGER ingestion_event_no_update BEFORE UPDATE ON ingestion_event
    BEGIN SELECT RAISE(ABORT, 'append-only: events cannot be updated'); END
    """,
    """
    CREATE TRIGGER ingestion_event_no_delete BEFORE DELETE ON ingestion_event
    BEGIN SELECT RAISE(ABORT, 'append-only: events cannot be deleted'); END
    """,
    """
    CREATE TRIGGER ingestion_event_sealed_session BEFORE INSERT ON ingestion_event
    WHEN EXISTS (
        SELECT 1 FROM ingestion_session WHERE id = NEW.session_id AND sealed_at IS NOT NULL
    )
    BEGIN SELECT RAISE(ABORT, 'append-only: the session is sealed, no event can be added'); END
    """,
    """
    CREATE TRIGGER ingestion_session_sealed_frozen BEFORE UPDATE ON ingestion_session
    WHEN OLD.sealed_at IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'append-only: a sealed session cannot change'); END
    """,
    """
    CREATE TRIGGER ingestion_session_no_delete BEFORE DELETE ON ingestion_session
    BEGIN SELECT RAISE(ABORT, 'append-only: sessions cannot be deleted'); END
    """,
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS ingestion_session_no_delete",
    "DROP TRIGGER IF EXISTS ingestion_session_sealed_frozen",
    "DROP TRIGGER IF EXISTS ingestion_event_sealed_session",
    "DROP TRIGGER IF EXISTS ingestion_event_no_delete",
    "DROP TRIGGER IF EXISTS ingestion_event_no_update",
]

SQL = {
    "postgresql": (POSTGRESQL_FORWARD, POSTGRESQL_REVERSE),
    "sqlite": (SQLITE_FORWARD, SQLITE_REVERSE),
}


def _statements(schema_editor, direction: int) -> list[str]:
    vendor = schema_editor.connection.vendor
    if vendor not in SQL:
        # Evidence tables without their guarantee must not exist: refuse to migrate.
        raise NotImplementedError(f"no append-only triggers written for {vendor}")
    return SQL[vendor][direction]


def create_triggers(apps, schema_editor):
    for statement in _statements(schema_editor, 0):
        schema_editor.execute(statement, params=None)


def drop_triggers(apps, schema_editor):
    for statement in _statements(schema_editor, 1):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
