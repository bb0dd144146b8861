"""``events_append(at_head=True)``: a producer inside the service appends at the chain head."""

from __future__ import annotations

import pytest

from ingestion import services
from ingestion.errors import IngestionError
from ingestion.models import Event
from ingestion.tests import factories as f

pytestmark = pytest.mark.django_db


def test_sequence_numbers_are_assigned_from_the_stored_head():
    session = f.session_with_events(3)
    proposals = [f.proposal_build(session.id, 0, "TOOL_CALL") for _ in range(2)]
    result = services.events_append(session=session, proposals=proposals, at_head=True)
    assert result.accepted == 2 and result.head_sequence == 4
    stored = list(
        session.events.order_by("sequence_number").values_list(
            "sequence_number", "prev_event_hash", "event_hash"
        )
    )
    assert [row[0] for row in stored] == [0, 1, 2, 3, 4]
    assert all(stored[i][1] == stored[i - 1][2] for i in range(1, 5))


def test_a_fresh_session_starts_at_zero_and_the_ordering_rules_still_apply():
    session = f.session_create()
    with pytest.raises(IngestionError) as refused:
        services.events_append(
            session=session, proposals=[f.proposal_build(session.id, 5, "TOOL_CALL")], at_head=True
        )
    assert refused.value.code == "ORDERING_VIOLATION"
    services.events_append(
        session=session, proposals=[f.proposal_build(session.id, 7, "SESSION_START")], at_head=True
    )
    assert Event.objects.get(session=session).sequence_number == 0
    with pytest.raises(IngestionError) as again:
        services.events_append(
            session=session,
            proposals=[f.proposal_build(session.id, 0, "SESSION_START")],
            at_head=True,
        )
    assert again.value.code == "ORDERING_VIOLATION"


def test_without_at_head_the_proposed_numbers_stand():
    session = f.session_with_events(3)
    with pytest.raises(IngestionError) as refused:
        services.events_append(session=session, proposals=[f.proposal_build(session.id, 0)])
    assert refused.value.code == "SEQUENCE_CONFLICT"
