"""The export ledger is append-only, enforced by the database itself.

compliance_exportrecord rows can never be UPDATEd or DELETEd, nor TRUNCATEd on PostgreSQL
(SQLite has no TRUNCATE: "DELETE FROM t" is refused row by row, because SQLite disables its
truncate optimisation for tables with triggers).

SQLite drops a table's triggers when Django rebuilds the table to alter it: a later migration
that alters compliance_exportrecord on SQLite must create these triggers again.
compliance/tests/test_ledger.py fails if they are missing.
"""

from django.db import migrations

POSTGRESQL_FORWARD = [
    # A function of its own rather than ingestion's, so that either app's triggers can be
    # reversed without touching the other's.
    """
    CREATE FUNCTION compliance_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER compliance_export_no_update BEFORE UPDATE ON compliance_exportrecord
    FOR EACH ROW EXECUTE FUNCTION compliance_refuse('append-only: export records cannot be updated')
    """,
    """
    CREATE TRIGGER compliance_export_no_delete BEFORE DELETE ON compliance_exportrecord
    FOR EACH ROW EXECUTE FUNCTION compliance_refuse('append-only: export records cannot be deleted')
    """,
    """
    CREATE TRIGGER compliance_export_no_truncate BEFORE TRUNCATE ON compliance_exportrecord
    FOR EACH STATEMENT
    EXECUTE FUNCTION compliance_refuse('append-only: export records cannot be truncated')
    """,
]

POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS compliance_export_no_truncate ON compliance_exportrecord",
    "DROP TRIGGER IF EXISTS compliance_export_no_delete ON compliance_exportrecord",
    "DROP TRIGGER IF EXISTS compliance_export_no_update ON compliance_exportrecord",
    "DROP FUNCTION IF EXISTS compliance_refuse()",
]

SQLITE_FORWARD = [
    """
    CREATE TRIGGER compliance_export_no_update BEFORE UPDATE ON compliance_exportrecord
    BEGIN SELECT RAISE(ABORT, 'append-only: export records cannot be updated'); END
    """,
    """
    CREATE TRIGGER compliance_export_no_delete BEFORE DELETE ON compliance_exportrecord
    BEGIN SELECT RAISE(ABORT, 'append-only: export records cannot be deleted'); END
    """,
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS compliance_export_no_delete",
    "DROP TRIGGER IF EXISTS compliance_export_no_update",
]

SQL = {
    "postgresql": (POSTGRESQL_FORWARD, POSTGRESQL_REVERSE),
    "sqlite": (SQLITE_FORWARD, SQLITE_REVERSE),
}


def _statements(schema_editor, direction: int) -> list[str]:
    vendor = schema_editor.connection.vendor
    if vendor not in SQL:
        # A ledger without its guarantee must not exist: refuse to migrate.
        raise NotImplementedError(f"no append-only triggers written for {vendor}")
    return SQL[vendor][direction]


def create_triggers(apps, schema_editor):
    for statement in _statements(schema_editor, 0):
        schema_editor.execute(statement, params=None)


def drop_triggers(apps, schema_editor):
    for statement in _statements(schema_editor, 1):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
