"""On PostgreSQL: the index on ``ingestion_event.event_id`` alone is a b-tree again.

Migration 0014 made it a hash index because every producer's event id was a random UUID, so
each insert wrote a random page of the index. The SDK's ids are now time-ordered (UUID
version 7, ``agentops_sdk.events.new_id``; the server's ids of OpenTelemetry spans use the same
layout), so in a b-tree each new id lands beside the previous ones, on pages already in
memory, while a hash index scatters them again whatever their order
(``docs/decisions/0008-time-ordered-event-ids.md``). Rebuilt ``CONCURRENTLY``, as 0014 did.
"""

import importlib

from django.db import migrations

_rebuilt = importlib.import_module("ingestion.migrations.0014_event_id_hash_index")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("ingestion", "0014_event_id_hash_index")]

    operations = [migrations.RunPython(_rebuilt.index_btree, _rebuilt.index_hash, elidable=False)]
