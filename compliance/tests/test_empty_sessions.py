"""A session that was started and never received an event has one honest answer everywhere:
nothing to verify, which is not a sign of tampering."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from agentops_sdk import reading
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from compliance import services
from compliance.exports.context import Actor
from compliance.statements import FAILED_NOTICE, NO_EVENTS
from ingestion.models import Session
from ingestion.tests.factories import session_create

from .pdf_attachments import needs_poppler, pdf_words

pytestmark = pytest.mark.django_db

ACTOR = Actor.for_command("empty test", operator="tester")


def export_bytes(session: Session, fmt: str) -> bytes:
    rendered = services.export_render(session=session, fmt=fmt, actor=ACTOR)
    with rendered.file:
        return rendered.file.read()


def test_its_json_export_says_no_events_and_not_altered():
    document = reading.loads(export_bytes(session_create(), "json"))
    assert document["notices"][0] == NO_EVENTS
    assert document["notices"][1].startswith("UNSEALED")  # true: events may still come
    assert FAILED_NOTICE not in document["notices"]
    assert "NO EVENTS" in document["chain_of_custody"]["statement"] or (
        "no events to verify" in document["chain_of_custody"]["statement"]
    )
    assert "altered" not in json.dumps(document["chain_of_custody"]["verification"]["result"])


@needs_poppler
def test_its_pdf_says_no_events_and_not_altered(tmp_path: Path):
    text = pdf_words(export_bytes(session_create(), "pdf"), tmp_path)
    assert "NO EVENTS RECORDED" in text
    assert " ".join(NO_EVENTS.split()) in text
    assert "VERIFICATION FAILED" not in text
    assert "The stored chain does not verify" not in text  # the failure stamp's words


def test_export_sessions_and_verify_sessions_give_the_same_answer(tmp_path: Path):
    session = session_create()
    out = io.StringIO()
    call_command(
        "export_sessions",
        "--out",
        str(tmp_path / "out"),
        "--format",
        "json",
        "--no-progress",
        stdout=out,
    )  # exit status 0: nothing failed verification
    exported = out.getvalue()
    assert f"NO EVENTS {session.pk}: {NO_EVENTS}" in exported
    assert "FLAGGED" not in exported
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_bytes())
    (entry,) = manifest["sessions"]
    assert (entry["no_events"], entry["flagged"]) == (True, False)

    out = io.StringIO()
    call_command("verify_sessions", stdout=out)
    assert f"NO EVENTS {session.pk}: {NO_EVENTS}" in out.getvalue()


def test_events_accepted_and_then_missing_are_still_a_failure(tmp_path: Path):
    # The head says an event was accepted; none is stored (removed behind the service's back).
    session = session_create()
    Session.objects.filter(pk=session.pk).update(head_sequence=0, head_hash="0" * 64)
    with pytest.raises(CommandError):
        call_command(
            "export_sessions",
            "--out",
            str(tmp_path / "out"),
            "--format",
            "json",
            "--no-progress",
            stdout=io.StringIO(),
        )
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_sessions", stdout=out)
    assert f"FAIL {session.pk}" in out.getvalue()


def test_the_consoles_verify_now_uses_the_same_words(admin_client):
    session = session_create()
    url = reverse("admin:ingestion_session_verify", args=[session.pk])
    response = admin_client.post(url, follow=True)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [NO_EVENTS]
