"""The admin's lists (``compliance.changelist``): search, the agent filter, counting very
large tables, and the index that answers a search by event id."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from compliance import changelist
from ingestion.models import Event, Session
from ingestion.tests.factories import session_create
from policy.masking import Reader

from .factories import session_recorded

pytestmark = pytest.mark.django_db


def plan_of(queryset) -> str:
    """The database's plan for ``queryset``, as text."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A test table is tiny: make the planner show whether an index could be used.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def test_a_search_by_event_id_finds_its_session_through_the_event_id_index():
    wanted = session_recorded(agent_id="refund-agent-7")
    session_recorded(agent_id="other")
    event = Event.objects.get(session=wanted, sequence_number=2)
    found = changelist.sessions_matching(Session.objects.all(), event.event_id)
    assert list(found) == [wanted]
    assert "event_event_id_idx" in plan_of(found)


def test_a_search_by_an_event_id_written_in_capitals_finds_it_too():
    wanted = session_recorded()
    event = Event.objects.get(session=wanted, sequence_number=1)
    found = changelist.sessions_matching(Session.objects.all(), event.event_id.upper())
    assert list(found) == [wanted]


def test_a_search_by_masked_agent_id_never_matches_the_hidden_text():
    session_recorded(agent_id="jane.doe@example.com")
    reader = Reader(raw_allowed=False)
    assert not changelist.sessions_matching(Session.objects.all(), "jane", reader=reader).exists()
    assert changelist.sessions_matching(Session.objects.all(), "jane", reader=None).exists()


def test_agents_condition_matches_only_the_pairs_given():
    one, two = session_create(agent_id="a"), session_create(agent_id="b")
    pairs = [("a", one.project_id)]
    assert list(Session.objects.filter(changelist.agents_condition(pairs))) == [one]
    assert not Session.objects.filter(changelist.agents_condition([])).exists()
    assert two not in Session.objects.filter(changelist.agents_condition(pairs))


def test_a_large_unfiltered_list_is_counted_from_the_planner_estimate(monkeypatch):
    """On PostgreSQL only; anywhere else, and with any filter, rows are counted."""
    for _ in range(3):
        session_create()
    monkeypatch.setattr(changelist.EstimatingPaginator, "ESTIMATE_FROM", 0)
    unfiltered = changelist.EstimatingPaginator(Session.objects.order_by("pk"), 100)
    filtered = changelist.EstimatingPaginator(
        Session.objects.filter(agent_id="x").order_by("pk"), 100
    )
    assert filtered.count == 0
    if connection.vendor != "postgresql":
        assert unfiltered.count == 3
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'ingestion_session'")
        estimate = cursor.fetchone()[0]
    assert unfiltered.count == (estimate if estimate >= 0 else 3)


def test_the_event_id_index_left_the_append_only_triggers_in_place():
    session = session_recorded()
    for statement in (
        "UPDATE ingestion_event SET event_type = 'ERROR' WHERE session_id = %s",
        "DELETE FROM ingestion_event WHERE session_id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(
                statement, [session.pk.hex if connection.vendor == "sqlite" else session.pk]
            )


def test_an_estimated_count_is_said_to_be_one(monkeypatch, admin_client):
    """The list says "about" when it shows the planner's estimate, and only then."""
    for _ in range(3):
        session_create()
    url = reverse("admin:ingestion_session_changelist")
    exact = admin_client.get(url).content.decode()
    assert "about" not in exact.split('class="paginator"')[1]
    monkeypatch.setattr(changelist.EstimatingPaginator, "ESTIMATE_FROM", 0)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE ingestion_session")  # an estimate of the rows, not -1
    paginator = admin_client.get(url).content.decode().split('class="paginator"')[1]
    if connection.vendor == "postgresql":
        assert "about 3 sessions (the database's estimate" in paginator
    else:
        assert "3 sessions" in paginator and "about" not in paginator
