"""Console downloads for a reviewer without compliance.view_raw_payload are masked copies:
no personal data in the bytes, labelled as redacted, still verifiable and signed."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk import reading
from agentops_sdk.verify import verify_file
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from compliance.models import ExportRecord
from compliance.reviewers import GROUP_NAME
from ingestion import keys
from ingestion import services as ingestion_services
from ingestion.models import Session
from ingestion.tests.factories import proposal_build, session_create
from policy.services import session_findings_evaluate

from .jobs_support import console_followed, run_export_jobs
from .pdf_attachments import needs_poppler, pdf_attachments, pdf_words

pytestmark = pytest.mark.django_db

EMAIL = "jane.doe@example.com"
PHONE = "+1 415 555 0132"
RAW = (EMAIL, PHONE, PHONE.replace(" ", ""))
# Where the personal data sits: the model request (1) and the tool call (3).
WITHHELD = [1, 3]


def session_with_personal_data(*, source_sdk_ver: str = "agentops-sdk/0.1.0") -> Session:
    session = session_create(
        agent_id=f"assistant-of-{EMAIL}", metadata={"ticket": "T-1", "callback": PHONE}
    )
    steps = [
        ("SESSION_START", {"agent_id": "support-bot"}),
        (
            "MODEL_REQUEST",
            {"model": "m", "messages": [{"role": "user", "content": f"Mail me at {EMAIL}"}]},
        ),
        ("MODEL_RESPONSE", {"model": "m", "finish_reason": "tool_calls", "content": "Calling."}),
        ("TOOL_CALL", {"tool_name": "crm.call", "args": {"phone": PHONE}}),
        ("TOOL_RESULT", {"tool_name": "crm.call", "status": "success", "result": {"ok": True}}),
        ("SESSION_END", {"status": "success", "duration_ms": 10}),
    ]
    proposals = [
        proposal_build(session.pk, seq, kind, payload, source_sdk_ver=source_sdk_ver)
        for seq, (kind, payload) in enumerate(steps)
    ]
    ingestion_services.events_append(session=session, proposals=proposals)
    ingestion_services.session_seal(session=session)
    session_findings_evaluate(session=session)
    return session


def user_client(client, django_user_model, *, raw: bool):
    user = django_user_model.objects.create_user(
        "rita", password="a long pass phrase 42", is_staff=True
    )
    user.groups.add(Group.objects.get(name=GROUP_NAME))
    if raw:
        user.user_permissions.add(Permission.objects.get(codename="view_raw_payload"))
    client.force_login(user)
    return client


@pytest.fixture
def reviewer_client(client, django_user_model):
    return user_client(client, django_user_model, raw=False)


@pytest.fixture
def raw_client(client, django_user_model):
    return user_client(client, django_user_model, raw=True)


def download(client, session: Session, fmt: str) -> tuple[bytes, ExportRecord]:
    response = client.post(reverse("admin:ingestion_session_download", args=[session.pk, fmt]))
    response = console_followed(client, response)
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    record = ExportRecord.objects.get(pk=response["X-AgentOps-Export-Id"])
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    return data, record


def assert_no_personal_data(data: bytes) -> None:
    for value in RAW:
        assert value.encode() not in data, value


def verified(data: bytes, tmp_path: Path, suffix: str) -> dict[str, Any]:
    path = tmp_path / f"masked.{suffix}"
    path.write_bytes(data)
    return verify_file(path, trusted_keys=keys.trusted_public_keys())


def test_the_masked_json_hides_personal_data_says_so_and_still_verifies(reviewer_client, tmp_path):
    session = session_with_personal_data()
    data, record = download(reviewer_client, session, "json")
    assert_no_personal_data(data)
    document = reading.loads(data)
    assert document["redaction"]["redacted"] is True
    assert document["redaction"]["withheld_payloads"] == WITHHELD
    assert document["notices"][0].startswith("REDACTED COPY")
    assert [e["payload"] is None for e in document["events"]][1:4] == [True, False, True]
    assert "***" in document["session"]["agent_id"]
    assert document["session"]["metadata"]["ticket"] == "T-1"
    assert record.redacted is True and "-redacted" in record.file_name

    report = verified(data, tmp_path, "json")
    assert report["status"] == "PASS"
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert report["redacted_events"] == WITHHELD
    assert report["export_signature"]["signature_valid"] is True
    assert "redaction" in report["coverage"]["export_signature"]


def test_the_masked_jsonl_hides_personal_data_and_still_verifies(reviewer_client, tmp_path):
    session = session_with_personal_data()
    data, record = download(reviewer_client, session, "jsonl")
    assert_no_personal_data(data)
    assert record.redacted is True and record.file_name.endswith("-redacted.jsonl")
    report = verified(data, tmp_path, "jsonl")
    assert (report["status"], report["redacted_events"]) == ("PASS", WITHHELD)


@needs_poppler
def test_the_masked_pdf_shows_no_personal_data_nor_does_its_attachment(reviewer_client, tmp_path):
    session = session_with_personal_data()
    pdf, record = download(reviewer_client, session, "pdf")
    text = pdf_words(pdf, tmp_path / "text")
    assert_no_personal_data(text.encode())
    assert "REDACTED COPY" in text
    ((_, attached),) = pdf_attachments(pdf, tmp_path / "files").items()
    assert_no_personal_data(attached)
    assert reading.loads(attached)["redaction"]["withheld_payloads"] == WITHHELD
    assert record.redacted is True and record.json_export.redacted is True


@needs_poppler
def test_the_masked_zip_holds_no_personal_data(reviewer_client, tmp_path):
    sessions = [session_with_personal_data(), session_with_personal_data()]
    response = reviewer_client.post(
        reverse("admin:ingestion_session_changelist"),
        {"action": "export_zip", "_selected_action": [str(s.pk) for s in sessions]},
    )
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    assert all(entry["redacted"] for entry in manifest["sessions"])
    for name in archive.namelist():
        data = archive.read(name)
        assert_no_personal_data(data)
        if name.endswith(".pdf"):
            assert_no_personal_data(pdf_words(data, tmp_path / name).encode())
            for attached in pdf_attachments(data, tmp_path / f"{name}.files").values():
                assert_no_personal_data(attached)
        if name.endswith(".json") and name != "manifest.json":
            assert verified(data, tmp_path, "json")["redacted_events"] == WITHHELD
    assert set(ExportRecord.objects.values_list("redacted", flat=True)) == {True}


def test_a_user_with_the_permission_gets_the_full_export(raw_client, tmp_path):
    session = session_with_personal_data()
    data, record = download(raw_client, session, "json")
    assert EMAIL.encode() in data and PHONE.encode() in data
    document = reading.loads(data)
    assert "redaction" not in document
    assert record.redacted is False
    assert verified(data, tmp_path, "json")["redacted_events"] == []


def test_personal_data_in_a_chain_field_refuses_the_masked_download(reviewer_client):
    session = session_with_personal_data(source_sdk_ver=f"agentops-sdk/0.1.0 ({EMAIL})")
    response = reviewer_client.post(
        reverse("admin:ingestion_session_download", args=[session.pk, "json"]), follow=True
    )
    assert response.status_code == 200
    shown = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "source_sdk_ver" in shown and "cannot be withheld" in shown
    assert EMAIL.encode() not in response.content
    framed = reviewer_client.get(reverse("admin:ingestion_session_pdf_file", args=[session.pk]))
    assert framed.status_code == 409
    assert b"source_sdk_ver" in framed.content and EMAIL.encode() not in framed.content
    assert not ExportRecord.objects.filter(session=session).exists()


def test_the_console_says_next_to_the_buttons_that_downloads_are_masked(reviewer_client):
    session = session_with_personal_data()
    page = reviewer_client.get(reverse("admin:ingestion_session_change", args=[session.pk]))
    html = page.content.decode()
    assert "Download JSON (masked)" in html
    assert "Your downloads are masked copies" in html


def test_the_console_shows_an_export_jobs_progress_and_hides_an_unmasked_one_from_a_masked_reader(
    client, django_user_model
):
    session = session_with_personal_data()
    raw = Client()
    owner = django_user_model.objects.create_user(
        "rob", password="a long pass phrase 42", is_staff=True
    )
    owner.groups.add(Group.objects.get(name=GROUP_NAME))
    owner.user_permissions.add(Permission.objects.get(codename="view_raw_payload"))
    raw.force_login(owner)
    queued = raw.post(reverse("admin:ingestion_session_download", args=[session.pk, "pdf"]))
    assert queued.status_code == 302
    page = raw.get(queued["Location"]).content.decode()
    assert "Queued" in page and '<meta http-equiv="refresh"' in page and "<progress" in page
    # A reader without the raw-payload permission cannot see (nor fetch) the unmasked job.
    masked = user_client(client, django_user_model, raw=False)
    assert masked.get(queued["Location"]).status_code == 404
    assert masked.post(queued["Location"] + "file/").status_code == 404
    run_export_jobs()
    page = raw.get(queued["Location"]).content.decode()
    assert "Ready:" in page and "refresh" not in page
    assert masked.post(queued["Location"] + "file/").status_code == 404
    fetched = raw.post(queued["Location"] + "file/")
    assert fetched.status_code == 200
    assert fetched["X-AgentOps-Redacted"] == "false"
    assert ExportRecord.objects.get(pk=fetched["X-AgentOps-Export-Id"]).user == owner
