"""The transcript: a session's events in the order a reader follows them, tool calls paired
with their answers, payloads masked as on the timeline, erased payloads read as erased, an
OpenTelemetry session read by its span times; and the PDF's appendix of it."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from compliance import erasure, transcript
from compliance.exports import transcript_appendix
from compliance.exports.context import Actor
from compliance.formatting import moment_text, session_duration_text, wall_text
from compliance.labels import DURATION_LABEL
from compliance.reviewers import reviewer_create
from ingestion import services
from ingestion.models import Session
from ingestion.otlp.services import SESSION_SOURCE
from ingestion.tests.factories import proposal_build, session_create

from .factories import export_bytes, session_recorded, session_sealed
from .pdf_attachments import needs_poppler

pytestmark = pytest.mark.django_db

EMAIL = "jane.doe@example.com"  # in the model request of every factory session
MASKED = "j***@example.com"
PASSWORD = "a long pass phrase 42"


def entries_of(session: Session, *, raw_allowed: bool = False) -> list[transcript.Entry]:
    return transcript.session_transcript(
        session=session, page_number=1, raw_allowed=raw_allowed
    ).entries


def test_entries_follow_the_run_and_a_call_carries_its_answer():
    session = session_sealed()
    entries = entries_of(session)
    # The answer (event 4) is read under its call (event 3), not as an entry of its own.
    assert [e.sequence_number for e in entries] == [0, 1, 2, 3, 5, 6, 7, 8]
    kinds = [e.kind for e in entries]
    assert kinds == ["start", "ask", "reply", "tool", "error", "reply", "end", "seal"]
    call = entries[3]
    assert call.heading == "Called the tool orders.lookup"
    assert call.answer is not None and call.answer.sequence_number == 4
    assert call.answer.heading == "The tool orders.lookup answered: Succeeded"
    assert "Answered by event 4: succeeded after 1.0 s." in call.note
    assert entries[1].heading == "User → model gpt-test"
    assert entries[1].said[0].label == "User"
    assert entries[1].when == "2026-01-25 10:00:01.000 UTC"


def test_an_unanswered_call_says_so_and_a_later_request_shows_only_new_messages():
    session = session_create()
    steps = [
        ("SESSION_START", {"agent_id": "a"}),
        ("MODEL_REQUEST", {"model": "m", "messages": [{"role": "system", "content": "Be kind"}]}),
        ("MODEL_RESPONSE", {"model": "m", "finish_reason": "stop", "content": "Hello"}),
        (
            "MODEL_REQUEST",
            {
                "model": "m",
                "messages": [
                    {"role": "system", "content": "Be kind"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Refund order 7"},
                ],
            },
        ),
        ("TOOL_CALL", {"tool_name": "refund", "args": {"order": 7}}),
    ]
    services.events_append(
        session=session,
        proposals=[proposal_build(session.pk, n, t, p) for n, (t, p) in enumerate(steps)],
    )
    entries = entries_of(session)
    later = entries[3]
    assert [(s.label, s.text) for s in later.said] == [("User", "Refund order 7")]
    assert "The 2 earlier messages" in later.note
    assert entries[4].note == "No answer was recorded."


def test_a_reviewer_reads_masked_payloads_and_a_raw_reader_the_recorded_ones():
    session = session_sealed()
    masked = entries_of(session)[1]
    assert MASKED in masked.said[0].text and EMAIL not in masked.said[0].text
    assert masked.personal_data == 1
    raw = entries_of(session, raw_allowed=True)[1]
    assert EMAIL in raw.said[0].text


def test_the_transcript_page_masks_for_a_reviewer_without_the_permission(client):
    session = session_sealed()
    url = reverse("admin:ingestion_session_transcript", args=[session.pk])
    client.force_login(reviewer_create(username="rita", password=PASSWORD))
    html = client.get(url).content.decode()
    assert MASKED in html and EMAIL not in html
    assert (
        url
        in client.get(reverse("admin:ingestion_session_change", args=[session.pk])).content.decode()
    )

    raw = reviewer_create(username="raw", password=PASSWORD)
    raw.user_permissions.add(
        Permission.objects.get(content_type__app_label="compliance", codename="view_raw_payload")
    )
    client.force_login(raw)
    assert EMAIL in client.get(url).content.decode()


def test_the_transcript_page_refuses_what_is_not_a_read(client):
    session = session_sealed()
    client.force_login(reviewer_create(username="rita", password=PASSWORD))
    url = reverse("admin:ingestion_session_transcript", args=[session.pk])
    assert client.post(url).status_code == 405
    missing = reverse("admin:ingestion_session_transcript", args=["0" * 32])
    assert client.get(missing).status_code in (302, 404)


def test_an_erased_payload_reads_as_erased():
    session = session_sealed()
    plan = erasure.erasure_plan(project=session.project, session=session, sequence_numbers=[1])
    erasure.erasure_execute(
        plan=plan,
        request_ref="DSR-7",
        reason="GDPR Art. 17 request",
        caller=Actor.for_command("erase", operator="dora"),
    )
    entry = entries_of(session, raw_allowed=True)[1]
    assert entry.erased and entry.said == []
    assert entry.note.startswith("Payload erased on ") and "DSR-7" in entry.note


def otlp_session() -> Session:
    """Spans that arrived out of order: the tool span (10:00:05) was chained before the model
    span that ran first (10:00:01)."""
    session = session_create(agent_id="otel-agent", metadata={"source": SESSION_SOURCE})
    base = datetime(2026, 3, 1, 14, 0, 0, tzinfo=UTC)

    def stamp(seconds: int) -> str:
        return (base + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000000000Z")

    steps = [
        (0, "SESSION_START", {"agent_id": "otel-agent"}),
        (5, "TOOL_CALL", {"tool_name": "search", "call_id": "c1", "args": {"q": "x"}}),
        (6, "TOOL_RESULT", {"tool_name": "search", "status": "success", "result": "found"}),
        (1, "MODEL_REQUEST", {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}),
        (2, "MODEL_RESPONSE", {"model": "m", "finish_reason": "tool_call", "content": "Let me"}),
    ]
    services.events_append(
        session=session,
        proposals=[
            proposal_build(session.pk, n, kind, payload, timestamp_wall=stamp(at))
            for n, (at, kind, payload) in enumerate(steps)
        ],
    )
    return session


def test_an_opentelemetry_session_reads_in_the_order_its_spans_ran():
    session = otlp_session()
    shown = transcript.session_transcript(session=session, page_number=1, raw_allowed=False)
    assert [e.sequence_number for e in shown.entries] == [0, 3, 4, 1]
    assert shown.entries[3].answer.sequence_number == 2
    assert "OpenTelemetry" in shown.order
    assert shown.entries[1].when == "2026-03-01 14:00:01.000 UTC"


def test_times_name_their_zone_and_the_duration_has_one_meaning(admin_client):
    assert wall_text("2026-03-01T14:02:07.123456Z") == "2026-03-01 14:02:07.123 UTC"
    assert wall_text("2026-03-01T14:02:07+02:00") == "2026-03-01 14:02:07 UTC+02:00"
    assert wall_text("yesterday") == "yesterday (time zone not stated)"
    assert moment_text(datetime(2026, 3, 1, 14, 2, 7, tzinfo=UTC)) == "2026-03-01 14:02:07 UTC"

    session = session_recorded()  # open: its times may still move
    Session.objects.filter(pk=session.pk).update(
        last_event_at=session.created_at + timedelta(minutes=2, seconds=5)
    )
    session.refresh_from_db()
    assert session_duration_text(session) == "2 min 5 s"
    listing = admin_client.get(reverse("admin:ingestion_session_changelist")).content.decode()
    page = admin_client.get(
        reverse("admin:ingestion_session_change", args=[session.pk])
    ).content.decode()
    for html in (listing, page):
        assert DURATION_LABEL in html and "2 min 5 s" in html


def pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return " ".join(text.split())


@needs_poppler
def test_the_pdf_carries_the_transcript_as_its_appendix(tmp_path):
    session = session_sealed()
    data, _ = export_bytes(session, "pdf")
    text = pdf_text(data, tmp_path)
    assert "Appendix Transcript The session as a reader follows it" in text
    assert "This appendix shows all 9 events of the session." in text
    assert "User → model gpt-test" in text
    assert "Answered by event 4: succeeded after 1.0 s." in text
    assert MASKED in text and EMAIL not in text  # masked in every copy of the report
    assert f"{DURATION_LABEL} {session_duration_text(session)}. Measured on the service" in text
    assert "Run time the agent reported 4.3 s" in text


@needs_poppler
def test_a_long_session_s_appendix_says_what_it_leaves_out(tmp_path, monkeypatch):
    monkeypatch.setattr(transcript_appendix, "APPENDIX_EVENTS", 3)
    monkeypatch.setattr(transcript_appendix.transcript_appendix, "__defaults__", (3,))
    session = session_sealed(extra=5)
    data, _ = export_bytes(session, "pdf")
    text = pdf_text(data, tmp_path)
    assert "This appendix shows the first 3 of the session's 14 events. The other 11 are" in text
    assert "Called the tool orders.lookup" not in text.split("Appendix Transcript The session")[1]
