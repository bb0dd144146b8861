"""The index on ``ingestion_event.event_id`` alone (the console's search by event id): a
b-tree on both databases (a hash index on PostgreSQL between migrations 0014 and 0015), used by
that search on both."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _index_method() -> str | None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam"
                " JOIN pg_index i ON i.indexrelid = c.oid"
                " WHERE c.relname = 'event_event_id_idx' AND i.indisvalid"
            )
        else:
            cursor.execute(
                "SELECT 'btree' FROM sqlite_master WHERE type = 'index'"
                " AND name = 'event_event_id_idx'"
            )
        row = cursor.fetchone()
    return row[0] if row else None


def test_the_event_id_index_is_a_btree():
    assert _index_method() == "btree"
