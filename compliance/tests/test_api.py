"""GET /api/v1/sessions/{id}/export through Django's test client."""

from __future__ import annotations

import hashlib

import pytest
import rfc8785
from agentops_sdk import reading
from django.test import Client

from compliance.models import ExportRecord
from ingestion import services as ingestion_services

from .factories import session_recorded, session_sealed
from .jobs_support import followed

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_key():
    return ingestion_services.api_key_create(project_name="acme", name="exporter")


@pytest.fixture
def client(api_key):
    _, plaintext = api_key
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


@pytest.fixture
def session(api_key):
    key, _ = api_key
    return session_sealed(project=key.project)


def export(client, session_id, fmt: str | None = "json"):
    params = {} if fmt is None else {"format": fmt}
    return followed(client, client.get(f"/api/v1/sessions/{session_id}/export", params))


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("json", "application/json"),
        ("jsonl", "application/x-ndjson"),
        ("pdf", "application/pdf"),
    ],
)
def test_each_format_is_an_attachment_with_its_content_type(client, session, fmt, content_type):
    response = export(client, session.pk, fmt)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    date = ExportRecord.objects.get(pk=response["X-AgentOps-Export-Id"]).exported_at
    name = f"agentops-{session.pk}-{date:%Y%m%d}.{fmt}"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    data = body(response)
    assert response["X-AgentOps-Export-SHA256"] == hashlib.sha256(data).hexdigest()
    assert int(response["Content-Length"]) == len(data)


def test_json_is_the_default_format_and_canonical(client, session):
    response = export(client, session.pk, None)
    data = body(response)
    assert response["Content-Type"] == "application/json"
    assert rfc8785.dumps(reading.loads(data)) == data
    assert response["X-AgentOps-Verification"] == "PASS"
    assert response["X-AgentOps-Evidence-Class"] == "AUTHORITATIVE_EVIDENCE"
    assert response["X-AgentOps-Sealed"] == "true"


def test_the_export_is_recorded_with_the_api_key_as_actor(client, session, api_key):
    key, _ = api_key
    response = export(client, session.pk, "jsonl")
    data = body(response)
    record = ExportRecord.objects.get(session=session)
    assert record.pk == int(response["X-AgentOps-Export-Id"])
    assert (record.channel, record.api_key_id, record.user_id) == ("api", key.pk, None)
    assert "exporter" in record.actor and key.prefix in record.actor and "acme" in record.actor
    assert (record.sha256, record.size_bytes) == (hashlib.sha256(data).hexdigest(), len(data))
    assert (record.verification_status, record.evidence_class) == (
        "PASS",
        "AUTHORITATIVE_EVIDENCE",
    )


def test_a_pdf_names_the_json_export_recorded_for_it(client, session):
    response = export(client, session.pk, "pdf")
    body(response)
    pdf = ExportRecord.objects.get(pk=response["X-AgentOps-Export-Id"])
    assert response["X-AgentOps-Cites-JSON-SHA256"] == pdf.json_export.sha256
    assert pdf.json_export.api_key_id == pdf.api_key_id


def test_an_unsealed_session_is_exported_and_flagged(client, api_key):
    key, _ = api_key
    session = session_recorded(project=key.project, end=False)
    response = export(client, session.pk, "jsonl")
    assert response.status_code == 200
    assert response["X-AgentOps-Sealed"] == "false"
    assert response["Content-Disposition"].endswith('-unsealed.jsonl"')
    assert b"CHAIN_SEAL" not in body(response)


def test_another_projects_session_is_not_found(client):
    other = session_sealed()  # in a project of its own
    response = export(client, other.pk, "json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "SESSION_NOT_FOUND"
    assert not ExportRecord.objects.exists()


def test_an_unknown_session_id_is_not_found(client):
    response = export(client, "not-a-uuid", "json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "SESSION_NOT_FOUND"


@pytest.mark.parametrize("fmt", ["xml", "PDF", "json,pdf"])
def test_a_bad_format_is_a_validation_error(client, session, fmt):
    response = export(client, session.pk, fmt)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["errors"][0]["field"] == "format"
    assert not ExportRecord.objects.exists()


def test_an_accept_header_does_not_change_the_error_shape(client, session):
    response = client.get(
        f"/api/v1/sessions/{session.pk}/export", {"format": "xml"}, HTTP_ACCEPT="application/pdf"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"


def test_export_requires_an_api_key(session):
    response = export(Client(), session.pk, "json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"


def test_an_empty_format_is_a_validation_error_naming_the_formats(client, session):
    response = client.get(f"/api/v1/sessions/{session.pk}/export?format=")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    [problem] = error["details"]["errors"]
    assert problem["field"] == "format"
    assert all(name in problem["message"] for name in ("json", "jsonl", "pdf"))
    assert not ExportRecord.objects.exists()
