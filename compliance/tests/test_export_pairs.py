"""A PDF and the compliance JSON it cites are one pair: the PDF carries those exact bytes as
a file attachment, from the API, from the console and from export_sessions alike."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from agentops_sdk.verify import verify_file
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from compliance.models import ExportRecord
from compliance.reviewers import GROUP_NAME
from ingestion import keys
from ingestion import services as ingestion_services

from .factories import session_sealed
from .jobs_support import console_followed, followed
from .pdf_attachments import needs_poppler, pdf_attachments, pdf_words

pytestmark = [pytest.mark.django_db, needs_poppler]


def the_attached_json(pdf: bytes, folder: Path) -> tuple[str, bytes]:
    attached = pdf_attachments(pdf, folder)
    assert len(attached) == 1, attached.keys()
    ((name, data),) = attached.items()
    return name, data


def assert_pair(pdf: bytes, record: ExportRecord, tmp_path: Path) -> bytes:
    """The PDF carries the JSON its ledger row cites, byte for byte, and prints its hash."""
    name, data = the_attached_json(pdf, tmp_path / "pair")
    cited = record.json_export
    assert hashlib.sha256(data).hexdigest() == cited.sha256
    assert len(data) == cited.size_bytes
    assert name == cited.file_name
    assert cited.sha256 in "".join(pdf_words(pdf, tmp_path / "text").split())
    assert (cited.delivered, cited.attached_to_pdf) == (True, True)
    path = tmp_path / "attached.json"
    path.write_bytes(data)
    report = verify_file(path, trusted_keys=keys.trusted_public_keys())
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE", report
    assert report["export_signature"]["signature_valid"] is True
    return data


def test_a_pdf_from_the_api_carries_the_json_it_cites(tmp_path):
    key, plaintext = ingestion_services.api_key_create(project_name="acme", name="exporter")
    session = session_sealed(project=key.project)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    response = client.get(f"/api/v1/sessions/{session.pk}/export", {"format": "pdf"})
    assert response.status_code == 202  # a PDF is always made by an export job
    response = followed(client, response)
    assert response.status_code == 200
    pdf = b"".join(response.streaming_content)
    record = ExportRecord.objects.get(pk=response["X-AgentOps-Export-Id"])
    data = assert_pair(pdf, record, tmp_path)
    assert response["X-AgentOps-Cites-JSON-SHA256"] == hashlib.sha256(data).hexdigest()


@pytest.fixture
def admin_client(client, django_user_model):
    # The raw-payload permission too: a full export, as test_masked_downloads covers masks.
    user = django_user_model.objects.create_superuser("ada", password="a long pass phrase 42")
    user.groups.add(Group.objects.get(name=GROUP_NAME))
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", ["download", "pdf_file"])
def test_a_pdf_from_the_console_carries_the_json_it_cites(admin_client, page, tmp_path):
    session = session_sealed()
    args = [session.pk, "pdf"] if page == "download" else [session.pk]
    url = reverse(f"admin:ingestion_session_{page}", args=args)
    if page == "download":  # a PDF download is an export job: its page offers the file
        response = console_followed(admin_client, admin_client.post(url))
    else:
        response = admin_client.get(url)
    assert response.status_code == 200
    pdf = b"".join(response.streaming_content)
    record = ExportRecord.objects.get(pk=response["X-AgentOps-Export-Id"])
    assert_pair(pdf, record, tmp_path)


def test_export_sessions_writes_the_json_the_pdf_carries_beside_it(tmp_path):
    session = session_sealed()
    out = tmp_path / "out"
    call_command(
        "export_sessions",
        "--out",
        str(out),
        "--format",
        "pdf",
        "--no-progress",
        stdout=io.StringIO(),
    )
    folder = out / str(session.pk)
    pdf = (folder / f"{session.pk}.pdf").read_bytes()
    record = ExportRecord.objects.get(session=session, format="pdf")
    data = assert_pair(pdf, record, tmp_path)
    assert (folder / f"{session.pk}.json").read_bytes() == data
