"""The SDK against a real ingestion service: pytest-django's live server on a loopback port.

Evidence tables refuse DELETE and TRUNCATE through database triggers, yet a transactional
test is cleaned up by emptying every table. Before that clean-up the triggers are set aside
for the one connection that empties the tables (PostgreSQL) or dropped and created again
before the next test and at the end of each module (SQLite, which has no way to disable
them). Each test therefore runs with the append-only guarantee in force.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from ingestion import keys, services

#: SQLite triggers set aside during a clean-up: name -> the SQL that creates it.
_dropped_sqlite_triggers: dict[str, str] = {}


def _sqlite_triggers_restore() -> None:
    with connection.cursor() as cursor:
        for sql in _dropped_sqlite_triggers.values():
            cursor.execute(sql)
    _dropped_sqlite_triggers.clear()


def _sqlite_triggers_drop() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        for name, sql in cursor.fetchall():
            cursor.execute(f'DROP TRIGGER "{name}"')
            _dropped_sqlite_triggers[name] = sql


@pytest.fixture(scope="module", autouse=True)
def _triggers_back_after_module(django_db_blocker: Any) -> Iterator[None]:
    yield
    if _dropped_sqlite_triggers:
        with django_db_blocker.unblock():
            _sqlite_triggers_restore()


@pytest.fixture(autouse=True)
def _evidence_db(transactional_db: None) -> Iterator[None]:
    if connection.vendor == "sqlite" and _dropped_sqlite_triggers:
        _sqlite_triggers_restore()
    yield
    # This runs before pytest-django empties the tables.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
    elif connection.vendor == "sqlite":
        _sqlite_triggers_drop()


@pytest.fixture(autouse=True)
def _service_identity(settings: Any, tmp_path: Path) -> Iterator[None]:
    """Each test seals with its own key; the rate limit stays out of the way of retries."""
    settings.AGENTOPS_INGESTION_SERVICE_ID = "integration-ingest"
    settings.AGENTOPS_SEAL_KEY_FILE = ""
    settings.AGENTOPS_DEV_SEAL_KEY_FILE = str(tmp_path / "seal.pem")
    settings.AGENTOPS_REQUIRE_SEAL_KEY = False
    settings.AGENTOPS_RETIRED_PUBLIC_KEYS = []
    settings.AGENTOPS_API_RATE = "100000/min"
    keys.cache_clear()
    yield
    keys.cache_clear()


@pytest.fixture(autouse=True)
def _no_agentops_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AGENTOPS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def api_key() -> str:
    _, plaintext = services.api_key_create(project_name="integration", name="sdk")
    return plaintext
