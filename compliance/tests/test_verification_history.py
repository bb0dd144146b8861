"""Tampering found after the seal shows wherever a session's verdict is read.

The database owner alters a stored payload with the triggers set aside (the tamper drill).
Nothing has looked yet, so every summary still gives the seal's verdict; once any door
verifies the session again (the console's Verify now, POST /api/v1/verify, manage.py
verify_sessions, an export), the list badge, the session page and the API say FAILED, while
the verdict made at seal time stays visible beside it.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compliance.exports.context import Actor
from compliance.reviewers import GROUP_NAME
from compliance.services import export_render
from ingestion.models import Session, Verification
from ingestion.selectors import session_latest_verification
from ingestion.tests.factories import api_key_create, project_create

from .factories import event_tamper, session_sealed

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:ingestion_session_changelist"
FAILED_BADGE = "✕</span> Failed"
AUTHORITATIVE_BADGE = "✓</span> Authoritative"


@pytest.fixture
def reviewer(django_user_model):
    user = django_user_model.objects.create_user("rita", password="a long pass phrase 42")
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=GROUP_NAME))
    return user


@pytest.fixture
def console(client, reviewer):
    client.force_login(reviewer)
    return client


@pytest.fixture
def project():
    return project_create()


@pytest.fixture
def api(project):
    _, plaintext = api_key_create(project, "auditor")
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def tampered(project=None) -> Session:
    """A sealed, authoritative session whose TOOL_CALL payload the owner then rewrote."""
    session = session_sealed(project=project)
    event_tamper(session, 3, payload_jcs='{"args":{"order_id":"ORD-9999"},"tool_name":"x"}')
    return session


def session_url(session: Session) -> str:
    return reverse("admin:ingestion_session_change", args=[session.pk])


def list_row(console, session: Session, **filters) -> str:
    """The changelist row of ``session`` ("" when it is not listed)."""
    html = console.get(reverse(CHANGELIST), filters).content.decode()
    marker = f'title="{session.pk}"'
    if marker not in html:
        return ""
    start = html.rindex("<tr", 0, html.index(marker))
    return html[start : html.index("</tr>", start)]


def api_session(api, session: Session) -> dict:
    response = api.get(f"/api/v1/sessions/{session.pk}")
    assert response.status_code == 200, response.content
    return response.json()


def assert_shown_failed_everywhere(console, api, session: Session) -> None:
    row = list_row(console, session)
    assert FAILED_BADGE in row and AUTHORITATIVE_BADGE not in row
    page = console.get(session_url(session)).content.decode()
    assert "Latest verification: <strong>Verification failed</strong>" in page
    assert "At seal: Verified — authoritative evidence" in page
    body = api_session(api, session)
    assert body["evidence_class"] == "FAILED"
    assert body["latest_verification"]["status"] == "FAIL"
    assert body["evidence_class_at_seal"] == "AUTHORITATIVE_EVIDENCE"


def test_before_any_new_verification_the_seal_verdict_is_all_there_is(console, api, project):
    session = tampered(project)
    assert AUTHORITATIVE_BADGE in list_row(console, session)
    assert api_session(api, session)["latest_verification"]["trigger"] == "seal"


def test_verify_now_shows_the_failure_in_the_list_the_page_and_the_api(
    console, api, project, reviewer
):
    session = tampered(project)
    console.post(reverse("admin:ingestion_session_verify", args=[session.pk]))
    assert_shown_failed_everywhere(console, api, session)
    latest = session_latest_verification(session=session)
    assert (latest.trigger, latest.user_id) == ("console", reviewer.pk)
    assert "“Verify now” in this console" in console.get(session_url(session)).content.decode()


def test_post_verify_shows_the_failure_in_the_list_the_page_and_the_api(console, api, project):
    session = tampered(project)
    response = api.post(
        "/api/v1/verify", {"session_id": str(session.pk)}, content_type="application/json"
    )
    assert response.json()["status"] == "FAIL"
    assert_shown_failed_everywhere(console, api, session)
    latest = session_latest_verification(session=session)
    assert latest.trigger == "api" and latest.api_key.name == "auditor"


def test_verify_sessions_shows_the_failure_in_the_list_the_page_and_the_api(console, api, project):
    session = tampered(project)
    with pytest.raises(CommandError):
        call_command("verify_sessions", "--session", str(session.pk), stdout=StringIO())
    assert_shown_failed_everywhere(console, api, session)
    latest = session_latest_verification(session=session)
    assert latest.trigger == "command" and "manage.py verify_sessions" in latest.actor


def test_an_export_records_its_verification_in_the_history(console, api, project):
    session = tampered(project)
    actor = Actor.for_command("export_sessions", operator="test")
    rendered = export_render(session=session, fmt="json", actor=actor)
    rendered.file.close()
    assert rendered.record.verification_status == "FAIL"
    assert_shown_failed_everywhere(console, api, session)
    latest = session_latest_verification(session=session)
    assert (latest.trigger, latest.actor) == ("export", actor.name)
    assert latest.last_event_hash == rendered.record.last_event_hash


def test_the_evidence_filter_lists_a_session_by_its_latest_verification(console, api, project):
    session = tampered(project)
    api.post("/api/v1/verify", {"session_id": str(session.pk)}, content_type="application/json")
    assert list_row(console, session, evidence_class="FAILED")
    assert not list_row(console, session, evidence_class="AUTHORITATIVE_EVIDENCE")
    failed = api.get("/api/v1/sessions", {"evidence_class": "FAILED"}).json()
    assert [s["session_id"] for s in failed["results"]] == [str(session.pk)]
    assert (
        api.get("/api/v1/sessions", {"evidence_class": "AUTHORITATIVE_EVIDENCE"}).json()["results"]
        == []
    )


def test_the_history_keeps_every_verification_and_refuses_raw_changes(console, project):
    session = tampered(project)
    console.post(reverse("admin:ingestion_session_verify", args=[session.pk]))
    rows = list(Verification.objects.filter(session=session).order_by("pk").values())
    assert [(r["trigger"], r["status"]) for r in rows] == [("seal", "PASS"), ("console", "FAIL")]
    for statement in (
        "UPDATE ingestion_verification SET status = 'PASS', evidence_class = 'FAILED'",
        "DELETE FROM ingestion_verification",
    ):
        with (
            pytest.raises(IntegrityError, match="append-only: verifications cannot be"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert list(Verification.objects.filter(session=session).order_by("pk").values()) == rows


def test_the_list_costs_the_same_queries_for_3_or_12_failed_sessions(console, project):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            html = console.get(reverse(CHANGELIST)).content.decode()
        assert AUTHORITATIVE_BADGE not in html
        return len(captured)

    def failing_sessions(count: int) -> None:
        for _ in range(count):
            session = tampered(project)
            console.post(reverse("admin:ingestion_session_verify", args=[session.pk]))

    failing_sessions(3)
    with_3 = queries_for_list()
    failing_sessions(9)
    assert queries_for_list() == with_3
