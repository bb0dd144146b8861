"""On PostgreSQL: the rate-limit cache table (``agentops_cache``) is UNLOGGED.

Every API request counts itself there, in a transaction of its own (a request refused later
must stay counted). On a logged table that commit waited for its write-ahead log to reach the
disk: one more flush per request beside the one that makes its evidence durable, 0.3 to 0.8 ms
of waiting on the reference machine. The counters are worth nothing after a crash (they count
a window of a minute or so), which is what UNLOGGED is for: PostgreSQL writes no log for the
table, and empties it after a crash. It is not copied to standby servers either; a server
promoted after a failover starts its windows from zero. Evidence tables stay logged.
"""

from django.db import migrations

TABLE = "agentops_cache"


def _persistence(schema_editor, kind: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite has no unlogged tables
    quote = schema_editor.connection.ops.quote_name
    schema_editor.execute(f"ALTER TABLE {quote(TABLE)} SET {kind}")


def table_unlogged(apps, schema_editor):
    _persistence(schema_editor, "UNLOGGED")


def table_logged(apps, schema_editor):
    _persistence(schema_editor, "LOGGED")


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0015_event_id_btree_index")]

    operations = [migrations.RunPython(table_unlogged, table_logged, elidable=False)]
