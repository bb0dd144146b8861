"""An index on ``ingestion_event.event_id`` alone, for the console's search by event id.

The unique (session, event_id) index cannot answer a lookup by event id without the session,
so that search read the whole events table. The index is created without rebuilding the
table: on SQLite a rebuild would drop the append-only triggers, and on PostgreSQL it is
built ``CONCURRENTLY`` so a large table keeps taking events while it is built (hence a
migration outside a transaction). The model declares the same index, so the migration
state knows it.
"""

from django.db import migrations, models

INDEX = "event_event_id_idx"
TABLE = "ingestion_event"


def index_create(apps, schema_editor):
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    quote_name = schema_editor.quote_name
    schema_editor.execute(
        f"CREATE INDEX{concurrently} IF NOT EXISTS {quote_name(INDEX)} "
        f"ON {quote_name(TABLE)} ({quote_name('event_id')})"
    )


def index_drop(apps, schema_editor):
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {schema_editor.quote_name(INDEX)}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("ingestion", "0007_shared_cache_table"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(index_create, index_drop, elidable=False),
            ],
            state_operations=[
                migrations.AddIndex(
                    model_name="event",
                    index=models.Index(fields=["event_id"], name=INDEX),
                ),
            ],
        ),
    ]
