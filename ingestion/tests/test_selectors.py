from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingestion import selectors, services
from ingestion.errors import IngestionError
from ingestion.models import Session

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
