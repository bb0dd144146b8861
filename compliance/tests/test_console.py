"""The session page (``compliance.console``): what it gathers, and what it masks for a reader
without ``compliance.view_raw_payload``."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from compliance import console
from ingestion import services
from ingestion.tests.factories import proposal_build, session_create
from policy.services import session_findings_evaluate

from .factories import session_sealed

pytestmark = pytest.mark.django_db

EMAIL = "jane.doe@example.com"


def session_with_odd_keys():
    """A sealed session whose personal data sits under keys that are not ASCII identifiers,
    with its findings stored."""
    session = session_create()
    steps = [
        ("SESSION_START", {"agent_id": "bot"}),
        ("ANNOTATION", {"a·b": {"it's": f"write to {EMAIL}"}, "note": "keep me"}),
        ("SESSION_END", {"status": "success", "duration_ms": 10}),
    ]
    services.events_append(
        session=session,
        proposals=[
            proposal_build(session.pk, seq, kind, payload)
            for seq, (kind, payload) in enumerate(steps)
        ],
    )
    services.session_seal(session=session)
    session_findings_evaluate(session=session)
    return session


def test_a_value_is_masked_by_its_stored_finding_and_the_rest_stays_readable():
    session = session_with_odd_keys()
    page = console.session_page(session=session, page_number=1, raw_allowed=False)
    assert page.pii_total == 1
    row = page.rows[1]
    assert row.personal_data == 1
    assert EMAIL not in row.payload_text
    assert "write to j***@example.com" in row.payload_text
    assert "keep me" in row.payload_text


def test_a_reader_with_the_permission_sees_the_payload_as_stored():
    session = session_with_odd_keys()
    page = console.session_page(session=session, page_number=1, raw_allowed=True)
    assert EMAIL in page.rows[1].payload_text
    assert page.rows[1].shown_raw


def test_the_page_gathers_verdict_seal_findings_and_one_page_of_events():
    session = session_sealed(extra=console.TIMELINE_PAGE_SIZE)
    session_findings_evaluate(session=session)
    page = console.session_page(session=session, page_number=2, raw_allowed=False)
    assert page.verdict.label.short == "Authoritative"
    assert page.seal is not None and page.seal_key_id == page.seal["signature"]["key_id"]
    assert page.findings is not None
    assert page.rows[0].sequence_number == console.TIMELINE_PAGE_SIZE
    assert console.timeline_page_of(console.TIMELINE_PAGE_SIZE) == 2


def test_a_reader_is_bound_to_the_users_permission(django_user_model):
    user = django_user_model.objects.create_user("rita", password="a long pass phrase 42")
    assert console.reader_for(user).raw_allowed is False
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="compliance", codename="view_raw_payload")
    )
    user = django_user_model.objects.get(pk=user.pk)  # permissions are cached per object
    assert console.reader_for(user).raw_allowed is True
