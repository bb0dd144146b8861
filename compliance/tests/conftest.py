from __future__ import annotations

import pytest
from django.db import connection

from ingestion import keys


@pytest.fixture(autouse=True)
def _service_identity(settings, tmp_path):
    """Every test seals with its own development key, never with var/dev-seal-key.pem."""
    settings.AGENTOPS_INGESTION_SERVICE_ID = "test-ingest"
    settings.AGENTOPS_SEAL_KEY_FILE = ""
    settings.AGENTOPS_DEV_SEAL_KEY_FILE = str(tmp_path / "dev-seal-key.pem")
    settings.AGENTOPS_REQUIRE_SEAL_KEY = False
    settings.AGENTOPS_RETIRED_PUBLIC_KEYS = []
    settings.AGENTOPS_API_RATE = "100000/min"
    keys.cache_clear()
    yield
    keys.cache_clear()


@pytest.fixture
def evidence_transactional_db(transactional_db):
    """``transactional_db`` for tests whose threads need committed rows (PostgreSQL only).

    Django empties the tables after such a test with TRUNCATE, which the append-only triggers
    refuse; ``session_replication_role = replica`` skips triggers on this one connection, and
    Django closes it right after the flush.
    """
    yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
