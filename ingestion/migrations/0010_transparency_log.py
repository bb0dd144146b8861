"""The transparency log: leaves, complete subtrees and signed tree heads, append-only.

Every seal appends one leaf (ingestion/transparency/). The three tables' rows can never be
UPDATEd or DELETEd, nor TRUNCATEd on PostgreSQL; SQLite refuses "DELETE FROM t" row by row.
The PostgreSQL function runs with a fixed search_path (the schema migrated into, then
pg_temp), as every trigger function since 0005.

Sessions sealed before this migration have no leaf: the log starts with the first seal after
it, and their exports say the session is not in the log.

SQLite drops a table's triggers when Django rebuilds the table to alter it: a later migration
that alters one of these tables on SQLite must create its triggers again.
ingestion/transparency/tests/test_log_storage.py fails if they are missing.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

FUNCTION = "ingestion_log_refuse"
TABLES = {
    "ingestion_logleaf": "log leaves",
    "ingestion_lognode": "log nodes",
    "ingestion_treehead": "tree heads",
}


def _postgresql_forward(schema_editor) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = connection.ops.quote_name(cursor.fetchone()[0])
    statements = [
        f"""
        CREATE FUNCTION {schema}.{FUNCTION}() RETURNS trigger LANGUAGE plpgsql
        SET search_path = {schema}, pg_temp AS $$
        BEGIN
            RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    ]
    for table, what in TABLES.items():
        for action, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            statements.append(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"FOR EACH {level} EXECUTE FUNCTION {schema}.{FUNCTION}"
                f"('append-only: {what} cannot be {action.lower()}d')"
            )
    return statements


def _postgresql_reverse() -> list[str]:
    statements = [
        f"DROP TRIGGER IF EXISTS {table}_no_{action} ON {table}"
        for table in TABLES
        for action in ("truncate", "delete", "update")
    ]
    return [*statements, f"DROP FUNCTION IF EXISTS {FUNCTION}()"]


def _sqlite(direction: int) -> list[str]:
    if direction:
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_{action}"
            for table in TABLES
            for action in ("delete", "update")
        ]
    return [
        f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'append-only: {what} cannot be {action.lower()}d'); END"
        for table, what in TABLES.items()
        for action in ("UPDATE", "DELETE")
    ]


def _statements(schema_editor, direction: int) -> list[str]:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        return _postgresql_forward(schema_editor) if direction == 0 else _postgresql_reverse()
    if vendor == "sqlite":
        return _sqlite(direction)
    # A log without its guarantee must not exist: refuse to migrate.
    raise NotImplementedError(f"no append-only triggers written for {vendor}")


def create_triggers(apps, schema_editor):
    for statement in _statements(schema_editor, 0):
        schema_editor.execute(statement, params=None)


def drop_triggers(apps, schema_editor):
    for statement in _statements(schema_editor, 1):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0009_erasure_ledger")]

    operations = [
        migrations.CreateModel(
            name="LogLeaf",
            fields=[
                ("leaf_index", models.BigIntegerField(primary_key=True, serialize=False)),
                ("leaf", models.TextField()),
                ("leaf_hash", models.CharField(max_length=64)),
                ("appended_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "session",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="log_leaf",
                        to="ingestion.session",
                    ),
                ),
            ],
            options={"verbose_name": "log leaf"},
        ),
        migrations.CreateModel(
            name="LogNode",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("level", models.SmallIntegerField()),
                ("position", models.BigIntegerField()),
                ("hash", models.CharField(max_length=64)),
            ],
            options={
                "verbose_name": "log node",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("level", "position"), name="lognode_level_position"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="TreeHead",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("tree_size", models.BigIntegerField()),
                ("root_hash", models.CharField(max_length=64)),
                ("timestamp", models.CharField(max_length=40)),
                ("key_id", models.CharField(max_length=16)),
                ("signature", models.TextField()),
                ("tsa_token", models.TextField(blank=True, default="")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "verbose_name": "signed tree head",
                "indexes": [models.Index(fields=["tree_size", "-id"], name="treehead_size_idx")],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
