"""On PostgreSQL: the index on ``ingestion_event.event_id`` alone becomes a hash index.

It serves one thing, the console's search of an event by its id (equality, or a list of two
spellings of the id); the unique (session, event_id) index keeps every guarantee and the
idempotency lookup of an append. A producer's event id is a random UUID, so each insert
writes a random page of this index: a b-tree of about 77 MB per million events, which on a
large table is read back from outside shared buffers once per event
(``docs/decisions/0007-growth-event-id-index.md``, ``bench/growth.py``). A hash index keeps
a 4-byte hash code per entry instead of the 36 characters, so far more of it stays in memory,
and answers the same searches. It is rebuilt ``CONCURRENTLY``: the table keeps taking events
while it is built (hence a migration outside a transaction). SQLite has no hash index and
keeps its b-tree; the model declares the index as before, so the migration state is unchanged.
"""

from django.db import migrations

INDEX = "event_event_id_idx"
TABLE = "ingestion_event"


def _rebuild(schema_editor, method: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    quote_name = schema_editor.quote_name
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote_name(INDEX)}")
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY {quote_name(INDEX)} ON {quote_name(TABLE)}"
        f" USING {method} ({quote_name('event_id')})"
    )


def index_hash(apps, schema_editor):
    _rebuild(schema_editor, "hash")


def index_btree(apps, schema_editor):
    _rebuild(schema_editor, "btree")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("ingestion", "0013_growth")]

    operations = [migrations.RunPython(index_hash, index_btree, elidable=False)]
