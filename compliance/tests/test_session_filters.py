"""One filter of sessions, two doors: GET /api/v1/sessions and manage.py export_sessions."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from ingestion import services as ingestion_services
from ingestion.models import Session, VerificationTrigger

from .factories import event_tamper, session_recorded, session_sealed

pytestmark = pytest.mark.django_db

CUTOFF = timezone.now() - timedelta(days=2)


@pytest.fixture
def listed():
    """The sessions of project acme by name, and an API client of that project."""
    key, plaintext = ingestion_services.api_key_create(project_name="acme", name="lister")
    project = key.project
    old = session_recorded(project=project)
    Session.objects.filter(pk=old.pk).update(created_at=CUTOFF - timedelta(days=1))
    ingestion_services.session_seal(session=old)
    # Sealed authoritative, then found altered: the class a reader is shown is FAILED.
    altered = session_sealed(project=project)
    event_tamper(altered, 3, payload_jcs='{"args":{"order_id":"ORD-9999"},"tool_name":"x"}')
    ingestion_services.session_verify(session=altered, trigger=VerificationTrigger.CONSOLE)
    open_ = session_recorded(project=project, agent_id="other-bot", end=False)
    session_sealed()  # another project's
    sessions = {"old": old.pk, "altered": altered.pk, "open": open_.pk}
    return sessions, Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def through_api(client, params: dict) -> set:
    response = client.get("/api/v1/sessions", params)
    assert response.status_code == 200, response.content
    return {row["session_id"] for row in response.json()["results"]}


def through_command(out, args: list[str]) -> set:
    output = io.StringIO()
    # An altered session is exported and flagged; the command then exits with 1.
    with contextlib.suppress(CommandError):
        call_command(
            "export_sessions",
            "--out",
            str(out),
            "--no-progress",
            "--format",
            "jsonl",
            "--project",
            "acme",
            *args,
            stdout=output,
            stderr=output,
        )
    if not (out / "manifest.json").exists():
        return set()
    manifest = json.loads((out / "manifest.json").read_bytes())
    return {entry["session_id"] for entry in manifest["sessions"]}


@pytest.mark.parametrize(
    ("params", "args", "expected"),
    [
        ({}, [], {"old", "altered", "open"}),
        ({"agent_id": "other-bot"}, ["--agent", "other-bot"], {"open"}),
        ({"evidence_class": "FAILED"}, ["--evidence-class", "FAILED"], {"altered"}),
        (
            {"evidence_class": "AUTHORITATIVE_EVIDENCE"},
            ["--evidence-class", "AUTHORITATIVE_EVIDENCE"],
            {"old"},
        ),
        ({"created_after": CUTOFF.isoformat()}, ["--since", CUTOFF.isoformat()], None),
        ({"created_before": CUTOFF.isoformat()}, ["--until", CUTOFF.isoformat()], {"old"}),
    ],
)
def test_the_same_filters_find_the_same_sessions_through_both_doors(
    listed, tmp_path, params, args, expected
):
    sessions, client = listed
    if expected is None:
        expected = {"altered", "open"}
    want = {str(sessions[name]) for name in expected}
    assert through_api(client, params) == want
    assert through_command(tmp_path, args) == want
