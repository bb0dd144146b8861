"""Ingestion does a fixed amount of database work per batch, whatever the batch size.

The guard counts SQL statements, not time: an appended batch of 500 events through the whole
API request path (authentication, throttling, parsing, validation, the session lock, the
duplicate lookup, the policy batch check, the insert, the head update) issues as many
statements as a batch of 10. A change that adds a query per event fails here at once.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from ingestion import services

from .factories import proposals_build

pytestmark = pytest.mark.django_db


def _is_event_insert(sql: str) -> bool:
    # PostgreSQL stores a batch with COPY, other databases with INSERT (SQLite in chunks).
    return (
        sql.lstrip().upper().startswith(('INSERT INTO "INGESTION_EVENT"', 'COPY "INGESTION_EVENT"'))
    )


def _append_queries(size: int) -> list[str]:
    """The statements of one API request appending ``size`` events to an open session."""
    _, key = services.api_key_create(project_name="acme", name=f"guard-{uuid.uuid4()}")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    session_id = str(uuid.uuid4())
    started = client.post(
        "/api/v1/sessions",
        json.dumps({"agent_id": "support-bot", "session_id": session_id}),
        content_type="application/json",
    )
    assert started.status_code == 201, started.content
    path = f"/api/v1/sessions/{session_id}/events"
    first = client.post(
        path,
        json.dumps({"events": proposals_build(session_id, 1)}),
        content_type="application/json",
    )
    assert first.status_code == 200, first.content
    body = json.dumps({"events": proposals_build(session_id, size, start=1)})
    with CaptureQueriesContext(connection) as captured:
        response = client.post(path, body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == size
    return [query["sql"] for query in captured.captured_queries]


def test_the_policy_batch_check_is_on_the_measured_path(settings):
    assert "policy.services.batch_check" in settings.AGENTOPS_BATCH_CHECKS


def test_statements_other_than_the_insert_do_not_grow_with_the_batch():
    small, large = _append_queries(10), _append_queries(500)
    others_small = [sql for sql in small if not _is_event_insert(sql)]
    others_large = [sql for sql in large if not _is_event_insert(sql)]
    assert len(others_large) == len(others_small), others_large


@pytest.mark.postgres
def test_a_batch_is_one_insert_statement_on_postgresql():
    small, large = _append_queries(10), _append_queries(500)
    assert len(large) == len(small)
    assert sum(map(_is_event_insert, large)) == 1
