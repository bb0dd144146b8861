"""The index of spans taken in over OTLP (``ingestion.otlp.models.SpanReceipt``).

Each span stored as events leaves one row: which session holds it and the hash of its content,
so that a re-sent batch adds nothing and a span id re-sent with other content is refused. The
rows tie span ids to evidence, so they are append-only like the events: UPDATE, DELETE (and on
PostgreSQL TRUNCATE) are refused by triggers. The PostgreSQL function runs with a fixed
search_path (the schema migrated into, then pg_temp), as in 0005 and 0006.

SQLite drops a table's triggers when Django rebuilds the table to alter it: a later migration
that alters ingestion_spanreceipt on SQLite must create these triggers again.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

TABLE = "ingestion_spanreceipt"
FUNCTION = "ingestion_spanreceipt_refuse"

POSTGRESQL_TRIGGERS = [
    f"""
    CREATE TRIGGER ingestion_spanreceipt_no_update BEFORE UPDATE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}('append-only: span receipts cannot be updated')
    """,
    f"""
    CREATE TRIGGER ingestion_spanreceipt_no_delete BEFORE DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}('append-only: span receipts cannot be deleted')
    """,
    f"""
    CREATE TRIGGER ingestion_spanreceipt_no_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT
    EXECUTE FUNCTION {FUNCTION}('append-only: span receipts cannot be truncated')
    """,
]

POSTGRESQL_REVERSE = [
    f"DROP TRIGGER IF EXISTS ingestion_spanreceipt_no_truncate ON {TABLE}",
    f"DROP TRIGGER IF EXISTS ingestion_spanreceipt_no_delete ON {TABLE}",
    f"DROP TRIGGER IF EXISTS ingestion_spanreceipt_no_update ON {TABLE}",
    f"DROP FUNCTION IF EXISTS {FUNCTION}()",
]

SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER ingestion_spanreceipt_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'append-only: span receipts cannot be updated'); END
    """,
    f"""
    CREATE TRIGGER ingestion_spanreceipt_no_delete BEFORE DELETE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'append-only: span receipts cannot be deleted'); END
    """,
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS ingestion_spanreceipt_no_delete",
    "DROP TRIGGER IF EXISTS ingestion_spanreceipt_no_update",
]


def _postgresql_forward(schema_editor) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = connection.ops.quote_name(cursor.fetchone()[0])
    function = f"""
    CREATE FUNCTION {schema}.{FUNCTION}() RETURNS trigger LANGUAGE plpgsql
    SET search_path = {schema}, pg_temp AS $$
    BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
    END
    $$
    """
    return [function, *POSTGRESQL_TRIGGERS]


def _statements(schema_editor, direction: int) -> list[str]:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        return _postgresql_forward(schema_editor) if direction == 0 else POSTGRESQL_REVERSE
    if vendor == "sqlite":
        return SQLITE_FORWARD if direction == 0 else SQLITE_REVERSE
    raise NotImplementedError(f"no append-only triggers written for {vendor}")


def create_triggers(apps, schema_editor):
    for statement in _statements(schema_editor, 0):
        schema_editor.execute(statement, params=None)


def drop_triggers(apps, schema_editor):
    for statement in _statements(schema_editor, 1):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0010_transparency_log")]

    operations = [
        migrations.CreateModel(
            name="SpanReceipt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("trace_id", models.CharField(max_length=32)),
                ("span_id", models.CharField(max_length=16)),
                ("content_hash", models.CharField(max_length=64)),
                ("first_sequence_number", models.BigIntegerField()),
                ("received_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "project",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ingestion.project",
                    ),
                ),
                (
                    "session",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="span_receipts",
                        to="ingestion.session",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("project", "trace_id", "span_id"), name="span_receipt_span_uniq"
                    )
                ],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
