from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from agentops_sdk import chain
from agentops_sdk.verify import verify_session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingestion import selectors, services
from ingestion.errors import IngestionError
from ingestion.models import ENVELOPE_COLUMNS, Event, Session, envelopes_from_rows

from .factories import project_create, session_create, session_with_events

pytestmark = pytest.mark.django_db


def test_session_get_finds_only_the_projects_session():
    session = session_create()
    assert selectors.session_get(project=session.project, session_id=str(session.id)) == session
    for project, session_id in [
        (project_create(), session.id),
        (session.project, uuid.uuid4()),
        (session.project, "not-a-uuid"),
    ]:
        with pytest.raises(IngestionError) as caught:
            selectors.session_get(project=project, session_id=session_id)
        assert (caught.value.code, caught.value.status) == ("SESSION_NOT_FOUND", 404)


def test_sessions_for_project_newest_first_with_filters():
    project = project_create()
    old = session_create(project, agent_id="a")
    Session.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    new = session_with_events(2, project=project, agent_id="b", end=True)
    services.session_seal(session=new)
    session_create()  # another project's

    def ids(**filters):
        return [s.pk for s in selectors.sessions_for_project(project=project, **filters)]

    assert ids() == [new.pk, old.pk]
    assert ids(agent_id="a") == [old.pk]
    assert ids(sealed=True) == [new.pk]
    assert ids(sealed=False) == [old.pk]
    assert ids(evidence_class="AUTHORITATIVE_EVIDENCE") == [new.pk]
    assert ids(created_after=timezone.now() - timedelta(days=1)) == [new.pk]
    assert ids(created_before=timezone.now() - timedelta(days=1)) == [old.pk]
    assert ids(session_ids=[old.pk, uuid.uuid4()]) == [old.pk]
    assert ids(newest_first=False) == [old.pk, new.pk]
    assert len(selectors.sessions_for_project(project=None)) == 3


def test_envelopes_page_after_a_cursor():
    session = session_with_events(5)
    page = selectors.session_envelopes_page(session=session, after=1, limit=2)
    assert [e["sequence_number"] for e in page] == [2, 3]


def test_envelopes_stream_in_order_in_one_query():
    session = session_with_events(5)
    with CaptureQueriesContext(connection) as captured:
        sequence = [e["sequence_number"] for e in selectors.session_envelopes(session=session)]
    assert sequence == [0, 1, 2, 3, 4]
    assert len(captured.captured_queries) == 1


def test_seal_envelope_only_for_sealed_sessions():
    session = session_with_events(2, end=True)
    assert selectors.session_seal_envelope(session=session) is None
    result = services.session_seal(session=session)
    assert selectors.session_seal_envelope(session=session) == result.seal


# --- stored rows as envelopes ---------------------------------------------------------------


def test_the_streamed_chain_is_each_events_envelope_with_its_stored_payload_text():
    session = session_with_events(4, end=True)
    services.session_seal(session=session)
    events = Event.objects.filter(session=session).order_by("sequence_number")
    stored = [(e.envelope(), e.payload_jcs) for e in events]
    assert list(selectors.session_chain_through(session=session)) == stored
    assert [e for e, _ in stored] == list(selectors.session_envelopes(session=session))
    assert verify_session([e for e, _ in stored])["status"] == "PASS"


def test_the_streamed_chain_stops_at_the_sequence_number_given():
    session = session_with_events(5)
    through = selectors.session_chain_through(session=session, last_sequence=2)
    assert [e["sequence_number"] for e, _ in through] == [0, 1, 2]
    assert [e["sequence_number"] for e in selectors.session_envelopes(session=session)] == [
        0,
        1,
        2,
        3,
        4,
    ]


def test_a_row_becomes_the_spec_envelope_and_a_payload_that_is_no_json_stays_text():
    session = session_with_events(1)
    row = Event.objects.filter(session=session).values_list(*ENVELOPE_COLUMNS).get()
    [(envelope, text)] = envelopes_from_rows([row], session_id=str(session.pk))
    assert tuple(envelope) == chain.ENVELOPE_FIELDS
    assert envelope["payload"] == json.loads(text)
    at = ENVELOPE_COLUMNS.index("payload_jcs")
    broken = (*row[:at], "{not json", *row[at + 1 :])
    [(envelope, text)] = envelopes_from_rows([broken], session_id=str(session.pk))
    assert envelope["payload"] == text == "{not json"
    withheld = (*row[:at], None, *row[at + 1 :])
    [(envelope, text)] = envelopes_from_rows([withheld], session_id=str(session.pk))
    assert envelope["payload"] is text is None


def test_agent_ids_by_project_are_the_distinct_pairs_walked_through_the_index():
    projects = [project_create() for _ in range(3)]
    agents = ["", "a", "A", "a-1", "b", "zeta", "ä", "support-bot", "support-bot-2", "日本"]
    for number in range(60):
        project = projects[number % 2]  # the third project has no session
        session_create(project, agent_id=agents[(number // 2) % len(agents)])
    expected = sorted(
        Session.objects.order_by().values_list("agent_id", "project_id").distinct(),
        key=lambda pair: (pair[1], pair[0]),
    )
    with CaptureQueriesContext(connection) as queries:
        found = selectors.agent_ids_by_project()
    assert sorted(found, key=lambda pair: (pair[1], pair[0])) == expected
    assert [project_id for _, project_id in found] == sorted(p for _, p in found)
    assert len(expected) == 2 * len(agents)  # every agent id under both projects
    assert len(queries) == 1  # one walk, whatever the number of projects


def test_agent_ids_by_project_walk_the_agent_index():
    # The planner's choice depends on the table's statistics, so give it a table of the
    # shape the walk is for (many sessions per agent) and fresh statistics, whatever the
    # tests before this one left behind.
    template = session_create(agent_id="a")
    projects = [template.project, project_create()]
    Session.objects.bulk_create(
        Session(
            id=uuid.uuid4(),
            project=projects[number % 2],
            agent_id=f"agent-{number % 40:02d}",
            created_at=template.created_at,
        )
        for number in range(4000)
    )
    sql = selectors._AGENT_PAIRS
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE ingestion_session")
            cursor.execute("EXPLAIN " + sql)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
        plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
    assert "session_agent_idx" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan  # no sort of every session
