"""The compliance console: the session list, the session page and its actions."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from agentops_sdk import chain
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compliance import console, labels
from compliance.exports import archive
from compliance.models import ExportRecord
from compliance.reviewers import GROUP_NAME
from ingestion.models import Event, Session
from ingestion.tests.factories import project_create, session_create, session_with_events
from policy.services import session_findings_evaluate

from .factories import event_tamper, session_recorded, session_sealed
from .jobs_support import console_followed

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:ingestion_session_changelist"


def evaluated(session: Session) -> Session:
    """The seal hook evaluates findings after commit, which a test transaction never does."""
    session_findings_evaluate(session=session)
    return session


def page_url(session: Session, page: str = "change", *args) -> str:
    return reverse(f"admin:ingestion_session_{page}", args=[session.pk, *args])


@pytest.fixture
def reviewer(django_user_model):
    user = django_user_model.objects.create_user("rita", password="a long pass phrase 42")
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=GROUP_NAME))
    return user


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


def listed_ids(response) -> set[str]:
    return {str(session.pk) for session in response.context["cl"].result_list}


# --- the session list ---------------------------------------------------------------------


def test_the_console_is_titled_for_the_product(reviewer_client):
    response = reviewer_client.get(reverse("admin:index"))
    assert "AgentOps Replay — Compliance console" in response.content.decode()


def test_the_list_shows_each_column_in_plain_words(reviewer_client):
    sealed = evaluated(session_sealed(agent_id="claims-bot"))
    session_recorded(end=False)
    response = reviewer_client.get(reverse(CHANGELIST))
    html = response.content.decode()
    assert response.status_code == 200
    for heading in (
        "Session",
        "Agent and project",
        "Started",
        labels.DURATION_LABEL,
        "Events",
        "Evidence",
    ):
        assert f">{heading}<" in html or f">{heading}</a>" in html
    assert str(sealed.pk)[:8] in html
    assert "claims-bot" in html
    assert "✓</span> Authoritative" in html
    assert "Not sealed" in html
    assert "1 found" in html  # the e-mail address in the request
    # Personal data under the default "flag" action is exposure, not a broken rule.
    assert "1 broken" not in html


def test_newest_sessions_come_first(reviewer_client):
    old = session_create()
    Session.objects.filter(pk=old.pk).update(created_at=old.created_at - timedelta(days=2))
    new = session_create()
    results = list(reviewer_client.get(reverse(CHANGELIST)).context["cl"].result_list)
    assert [s.pk for s in results] == [new.pk, old.pk]


def test_the_list_costs_the_same_queries_for_5_or_50_sessions(reviewer_client):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert reviewer_client.get(reverse(CHANGELIST)).status_code == 200
        return len(captured)

    project = project_create()
    for _ in range(5):
        evaluated(session_sealed(project=project))
    with_5 = queries_for_list()
    for _ in range(45):
        evaluated(session_sealed(project=project))
    assert queries_for_list() == with_5


def test_filters_by_evidence_class_and_seal(reviewer_client):
    sealed = session_sealed()
    still_open = session_recorded(end=False)
    url = reverse(CHANGELIST)
    assert listed_ids(reviewer_client.get(url, {"evidence_class": "AUTHORITATIVE_EVIDENCE"})) == {
        str(sealed.pk)
    }
    assert listed_ids(reviewer_client.get(url, {"evidence_class": "none"})) == {str(still_open.pk)}
    assert listed_ids(reviewer_client.get(url, {"sealed": "no"})) == {str(still_open.pk)}


def test_filters_by_personal_data_and_violations(reviewer_client):
    with_pii = evaluated(session_sealed())
    clean = evaluated(session_with_events(2, end=True))  # start and end: nothing to flag
    cut_short = evaluated(session_with_events(3))  # the default policy wants SESSION_END
    never_evaluated = session_with_events(2)
    url = reverse(CHANGELIST)
    assert listed_ids(reviewer_client.get(url, {"pii": "found"})) == {str(with_pii.pk)}
    assert listed_ids(reviewer_client.get(url, {"pii": "none"})) == {
        str(clean.pk),
        str(cut_short.pk),
    }
    assert listed_ids(reviewer_client.get(url, {"pii": "unevaluated"})) == {str(never_evaluated.pk)}
    # Flagged personal data is exposure, not a violation: only the missing end breaks a rule.
    assert listed_ids(reviewer_client.get(url, {"violations": "found"})) == {str(cut_short.pk)}
    assert listed_ids(reviewer_client.get(url, {"violations": "none"})) == {
        str(clean.pk),
        str(with_pii.pk),
    }


@pytest.mark.parametrize("how", ["prefix", "full", "agent", "event"])
def test_search_finds_a_session(reviewer_client, how):
    wanted = session_recorded(agent_id="refund-agent-7")
    session_recorded(agent_id="other")
    event = Event.objects.get(session=wanted, sequence_number=2)
    term = {
        "prefix": str(wanted.pk)[:6],
        "full": str(wanted.pk),
        "agent": "refund-agent",
        "event": event.event_id,
    }[how]
    response = reviewer_client.get(reverse(CHANGELIST), {"q": term})
    assert listed_ids(response) == {str(wanted.pk)}


def test_the_date_drilldown_lists_years_then_months(reviewer_client):
    old, new = session_create(), session_create()
    Session.objects.filter(pk=old.pk).update(created_at=datetime(2025, 3, 9, tzinfo=UTC))
    Session.objects.filter(pk=new.pk).update(created_at=datetime(2026, 5, 2, tzinfo=UTC))
    url = reverse(CHANGELIST)
    years = reviewer_client.get(url).context["date_drilldown"]["choices"]
    assert [choice["title"] for choice in years] == ["2025", "2026"]
    response = reviewer_client.get(url, {"created_at__year": "2026"})
    months = response.context["date_drilldown"]["choices"]
    assert [choice["title"] for choice in months] == ["May 2026"]
    assert listed_ids(response) == {str(new.pk)}


# --- the session page ---------------------------------------------------------------------


def test_the_session_page_shows_verdict_timeline_findings_and_exports(reviewer_client, reviewer):
    session = evaluated(session_sealed())
    reviewer_client.post(page_url(session, "download", "json"))
    html = reviewer_client.get(page_url(session)).content.decode()
    assert "Verified — authoritative evidence" in html
    assert "test-ingest" in html  # the ingestion service that sealed it
    assert session.verification["seal"]["key_id"] in html
    assert "sha256:" in html  # the session digest
    assert html.count('<li id="event-') == session.event_count + 1  # the seal too
    assert "Called a tool" in html and "orders.lookup" in html
    assert "E-mail address" in html
    assert "Exports of this session" in html and "user &#x27;rita&#x27;" in html
    assert 'method="post"' in html and "Verify now" in html
    for label in ("View PDF", "Download PDF", "Download JSON", "Download JSONL"):
        assert label in html


def test_the_timeline_is_paginated(reviewer_client):
    session = session_with_events(console.TIMELINE_PAGE_SIZE + 5, end=True)
    first = reviewer_client.get(page_url(session)).content.decode()
    assert first.count('<li id="event-') == console.TIMELINE_PAGE_SIZE
    second = reviewer_client.get(page_url(session), {"page": 2}).content.decode()
    assert second.count('<li id="event-') == 5
    assert f'id="event-{console.TIMELINE_PAGE_SIZE}"' in second


def test_an_event_link_leads_to_its_place_in_the_timeline(reviewer_client):
    session = session_with_events(console.TIMELINE_PAGE_SIZE + 5)
    event = Event.objects.get(session=session, sequence_number=console.TIMELINE_PAGE_SIZE + 1)
    response = reviewer_client.get(reverse("admin:ingestion_event_change", args=[event.pk]))
    assert response.status_code == 302
    assert response.url == f"{page_url(session)}?page=2#event-{event.sequence_number}"


def test_an_unsealed_session_says_so(reviewer_client):
    session = session_recorded(end=False)
    html = reviewer_client.get(page_url(session)).content.decode()
    assert "Not sealed yet — not verified" in html


def test_a_page_with_a_broken_payload_still_renders(reviewer_client):
    session = session_sealed()
    event_tamper(session, 2, payload_jcs="{not json")
    response = reviewer_client.get(page_url(session))
    assert response.status_code == 200
    assert "{not json" in response.content.decode()


# --- Verify now ---------------------------------------------------------------------------


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_verify_now_shows_the_verdict(reviewer_client):
    session = session_sealed()
    response = reviewer_client.post(page_url(session, "verify"), follow=True)
    assert any(
        text.startswith("Verified just now: Verified — authoritative evidence.")
        for text in messages_of(response)
    )


def test_verify_now_reads_the_database_again(reviewer_client):
    session = session_sealed()
    event_tamper(session, 3, payload_jcs='{"args":{"order_id":"ORD-9999"},"tool_name":"x"}')
    response = reviewer_client.post(page_url(session, "verify"), follow=True)
    [text] = messages_of(response)
    assert "Verification failed." in text
    assert "changed after it was recorded (event 3)" in text


def test_verify_now_is_a_post(reviewer_client):
    session = session_sealed()
    assert reviewer_client.get(page_url(session, "verify")).status_code == 405


# --- downloads and the ledger -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("json", "application/json"), ("jsonl", "application/x-ndjson"), ("pdf", "application/pdf")],
)
def test_a_download_is_recorded_with_the_username(reviewer_client, reviewer, fmt, content_type):
    session = session_sealed()
    response = console_followed(
        reviewer_client, reviewer_client.post(page_url(session, "download", fmt))
    )
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"].startswith("attachment;")
    body = b"".join(response.streaming_content)
    record = ExportRecord.objects.get(pk=response["X-AgentOps-Export-Id"])
    assert record.sha256 == hashlib.sha256(body).hexdigest()
    assert record.user == reviewer
    assert "rita" in record.actor
    assert record.channel == "admin"


def test_the_pdf_is_shown_inside_the_console(reviewer_client):
    session = session_sealed()
    viewer = reviewer_client.get(page_url(session, "pdf")).content.decode()
    assert f'<iframe class="ao-pdf" src="{page_url(session, "pdf_file")}"' in viewer
    response = reviewer_client.get(page_url(session, "pdf_file"))
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline;")
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert ExportRecord.objects.filter(session=session, format="pdf").count() == 1


def test_an_unknown_format_is_not_found(reviewer_client):
    session = session_sealed()
    assert reviewer_client.post(page_url(session, "download", "docx")).status_code == 404


# --- the zip of several sessions ----------------------------------------------------------


def test_the_zip_action_exports_each_session_with_a_manifest(reviewer_client, reviewer):
    sessions = [session_sealed(), session_recorded(end=False)]
    response = reviewer_client.post(
        reverse(CHANGELIST),
        {"action": "export_zip", "_selected_action": [str(s.pk) for s in sessions]},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    raw_manifest = archive.read("manifest.json")
    manifest = json.loads(raw_manifest)
    assert raw_manifest == chain.canonicalize(manifest)  # RFC 8785
    assert manifest["generated_by"].startswith("user 'rita'")
    entries = {entry["session_id"]: entry for entry in manifest["sessions"]}
    assert set(entries) == {str(s.pk) for s in sessions}
    assert entries[str(sessions[0].pk)]["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    for entry in entries.values():
        assert {f["format"] for f in entry["files"]} == {"json", "pdf"}
        for listed in entry["files"]:
            data = archive.read(listed["path"])
            assert hashlib.sha256(data).hexdigest() == listed["sha256"]
            assert listed["verification_status"] == "PASS"
            record = ExportRecord.objects.get(pk=listed["export_id"])
            assert (record.sha256, record.user) == (listed["sha256"], reviewer)


def test_the_zip_action_refuses_too_many_sessions(reviewer_client, monkeypatch):
    monkeypatch.setattr(archive, "ZIP_MAX_SESSIONS", 1)
    sessions = [session_sealed(), session_sealed()]
    response = reviewer_client.post(
        reverse(CHANGELIST),
        {"action": "export_zip", "_selected_action": [str(s.pk) for s in sessions]},
        follow=True,
    )
    assert any("Select at most 1 sessions" in text for text in messages_of(response))
    assert not ExportRecord.objects.exists()


# --- query strings the list cannot honour ---------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "created_at__year=99999999999",  # beyond any calendar
        "created_at__year=9999",  # its drill-down range would end in year 10000
        "created_at__year=2026&created_at__month=2&created_at__day=30",
        "created_at__month=5",  # a month without its year
        "agent_id=%00",  # PostgreSQL refuses NUL in any text
        "q=support%00bot",
        "agent_id__regex=(",  # not a filter of the list: never handed to the database
        "event_count__gt=1",
    ],
)
def test_a_query_string_the_list_cannot_honour_is_a_bad_request(reviewer_client, query):
    session_recorded()
    response = reviewer_client.get(f"{reverse(CHANGELIST)}?{query}")
    assert response.status_code == 400


def test_a_drilldown_to_a_day_lists_that_day(reviewer_client):
    session = session_create()
    Session.objects.filter(pk=session.pk).update(created_at=datetime(2026, 2, 28, 9, tzinfo=UTC))
    response = reviewer_client.get(
        reverse(CHANGELIST),
        {"created_at__year": "2026", "created_at__month": "2", "created_at__day": "28"},
    )
    assert response.status_code == 200
    assert listed_ids(response) == {str(session.pk)}
