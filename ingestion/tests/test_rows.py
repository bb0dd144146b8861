"""The statements written once (``ingestion.rows``) load and store what the ORM would."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingestion import selectors
from ingestion.errors import IngestionError
from ingestion.models import ApiKey, Project, Session
from ingestion.services.sessions import HEAD_FIELDS, locked_session, session_head_save

from .factories import api_key_create, project_create, session_create

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def _assert_loaded_as_the_orm(loaded, model) -> None:
    expected = model.objects.get(pk=loaded.pk)
    assert _fields(loaded) == _fields(expected)
    # The same Python types, not merely equal values (a UUID is not its text, JSON is parsed).
    assert {k: type(v) for k, v in _fields(loaded).items()} == {
        k: type(v) for k, v in _fields(expected).items()
    }
    assert loaded._state.adding is False
    assert loaded._state.db == expected._state.db


def test_the_locked_session_is_the_row_the_orm_reads():
    session = session_create(
        metadata={"team": "support", "nested": {"list": [1, 2.5, None, "é"]}},
        agent_id="bot-ü",
    )
    Session.objects.filter(pk=session.pk).update(
        last_event_at=timezone.now() - timedelta(minutes=3), head_sequence=4, head_hash="a" * 64
    )
    with transaction.atomic():
        locked = locked_session(session.pk, session.project)
    assert locked.project is session.project
    _assert_loaded_as_the_orm(locked, Session)
    assert locked.metadata == {"team": "support", "nested": {"list": [1, 2.5, None, "é"]}}
    assert isinstance(locked.pk, uuid.UUID)


def test_another_projects_session_is_not_found_and_not_locked():
    session = session_create()
    with transaction.atomic(), pytest.raises(IngestionError) as caught:
        locked_session(session.pk, project_create())
    assert (caught.value.code, caught.value.status) == ("SESSION_NOT_FOUND", 404)
    with transaction.atomic(), pytest.raises(IngestionError):
        locked_session(uuid.uuid4(), session.project)


def test_the_session_is_read_for_update_in_one_statement():
    session = session_create()
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked_session(session.pk, session.project)
    assert len(queries) == 1
    # Row locks where the database has them (PostgreSQL); SQLite locks the whole database
    # for the write transaction instead, and refuses the clause.
    assert queries[0]["sql"].rstrip().endswith("FOR UPDATE") == (
        connection.features.has_select_for_update
    )


def test_the_head_is_written_as_save_would_write_it():
    session = session_create(metadata={"kept": True})
    other = session_create(project=session.project)
    now = timezone.now()
    with transaction.atomic():
        locked = locked_session(session.pk, session.project)
        locked.head_sequence, locked.head_hash = 41, "b" * 64
        locked.event_count, locked.total_drops = 42, 3
        locked.has_session_end, locked.last_event_at = True, now
        locked.agent_id = "not written"  # only the head fields are
        session_head_save(locked)
    stored = Session.objects.get(pk=session.pk)
    assert {name: getattr(stored, name) for name in HEAD_FIELDS} == {
        "head_sequence": 41,
        "head_hash": "b" * 64,
        "event_count": 42,
        "total_drops": 3,
        "has_session_end": True,
        "last_event_at": now,
    }
    assert stored.agent_id == session.agent_id
    assert stored.metadata == {"kept": True}
    assert _fields(Session.objects.get(pk=other.pk)) == _fields(other)


def test_the_api_key_comes_with_its_project_as_the_orm_reads_them():
    key, plaintext = api_key_create(project_create("rows-project"))
    ApiKey.objects.filter(pk=key.pk).update(expiry_date=timezone.now() + timedelta(days=1))
    with CaptureQueriesContext(connection) as queries:
        found = selectors.api_key_by_prefix(key.prefix)
        assert found is not None
        project = found.project
    assert len(queries) == 1  # the project came with the key
    _assert_loaded_as_the_orm(found, ApiKey)
    _assert_loaded_as_the_orm(project, Project)
    assert project.name == "rows-project"
    assert found.is_valid(plaintext)
    assert selectors.api_key_by_prefix("nokey123") is None
