"""GET /api/v1/sessions/{id}/findings through Django's test client."""

from __future__ import annotations

import pytest
from django.test import Client

from ingestion import services as ingestion_services
from policy.models import Findings

from .factories import session_recorded, session_sealed

pytestmark = pytest.mark.django_db

RAW_EMAIL = "jane.doe@example.com"


@pytest.fixture
def reader():
    """An API client of project acme, and the project."""
    key, plaintext = ingestion_services.api_key_create(project_name="acme", name="reader")
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}"), key.project


def findings(client, session_id, **params):
    return client.get(f"/api/v1/sessions/{session_id}/findings", params)


def test_a_sealed_sessions_findings_are_those_an_export_carries_masked(reader):
    client, project = reader
    session = session_sealed(project=project)
    response = findings(client, session.pk)
    assert response.status_code == 200, response.content
    body = response.json()
    stored = Findings.objects.get(session=session)
    assert body["available"] is True and body["reason"] is None
    assert body["session_id"] == str(session.pk)
    assert body["policy"] == {"name": stored.policy_name, "sha256": stored.policy_sha256}
    assert body["passed"] is stored.passed
    assert body["rule_results"] == stored.rule_results
    assert body["summary"] == stored.summary
    assert body["pii_findings"] == stored.pii_findings
    assert [f["kind"] for f in body["pii_findings"]] == ["email"]
    assert RAW_EMAIL not in response.content.decode()
    assert body["tool_audit"] == stored.tool_audit
    assert [c["tool_name"] for c in body["tool_audit"]["calls"]] == ["orders.lookup"]
    assert body["next_after"] is None


def test_pages_follow_the_events_cursor_and_together_hold_every_finding(reader):
    client, project = reader
    # 14 events: tool calls at 3 and 7 to 12
    session = session_sealed(project=project, extra=6)
    pages, after = [], -1
    while after is not None:
        body = findings(client, session.pk, after=after, limit=3).json()
        pages.append(body)
        after = body["next_after"]
    stored = Findings.objects.get(session=session)
    assert [page["next_after"] for page in pages] == [2, 5, 8, 11, None]
    calls = [c for page in pages for c in page["tool_audit"]["calls"]]
    assert calls == stored.tool_audit["calls"]
    assert [f for page in pages for f in page["pii_findings"]] == stored.pii_findings
    on_pages = [[c["call_sequence_number"] for c in p["tool_audit"]["calls"]] for p in pages]
    assert on_pages == [[], [3], [7, 8], [9, 10, 11], [12]]
    assert all(page["rule_results"] == stored.rule_results for page in pages)
    assert all(page["tool_audit"]["totals"] == stored.tool_audit["totals"] for page in pages)


def test_an_open_session_never_evaluated_is_evaluated_now(reader):
    client, project = reader
    session = session_recorded(project=project, end=False)
    assert not Findings.objects.filter(session=session).exists()
    body = findings(client, session.pk).json()
    assert body["available"] is True
    assert body["event_count"] == session.event_count == 7
    assert Findings.objects.filter(session=session).count() == 1
    findings(client, session.pk)
    assert Findings.objects.filter(session=session).count() == 1  # still current: reused


@pytest.mark.parametrize("whose", ["another project's", "unknown", "not a uuid"])
def test_a_session_the_project_lacks_is_not_found(reader, whose):
    client, _ = reader
    session_id = {
        "another project's": lambda: session_sealed().pk,
        "unknown": lambda: "6513270e-269e-4d37-b2a7-4de452e6b438",
        "not a uuid": lambda: "not-a-uuid",
    }[whose]()
    response = findings(client, session_id)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "SESSION_NOT_FOUND"


@pytest.mark.parametrize(
    "params",
    [{"limit": ""}, {"after": ""}, {"after": "-2"}, {"limit": "0"}, {"limit": "1001"}],
)
def test_a_bad_page_is_a_validation_error(reader, params):
    client, project = reader
    session = session_sealed(project=project)
    response = findings(client, session.pk, **params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_findings_require_an_api_key(reader):
    _, project = reader
    session = session_sealed(project=project)
    response = findings(Client(), session.pk)
    assert response.status_code == 401


def test_the_session_summary_links_to_its_findings(reader):
    client, project = reader
    session = session_sealed(project=project)
    summary = client.get(f"/api/v1/sessions/{session.pk}").json()
    url = summary["findings_url"]
    assert url == f"http://testserver/api/v1/sessions/{session.pk}/findings"
    assert client.get(url).json()["session_id"] == str(session.pk)
    listed = client.get("/api/v1/sessions").json()["results"]
    assert [row["findings_url"] for row in listed] == [url]


def test_the_schema_documents_the_findings_endpoint():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/sessions/{session_id}/findings"]["get"]
    assert operation["operationId"] == "sessions_findings"
    assert {p["name"] for p in operation["parameters"]} >= {"session_id", "after", "limit"}
    assert {"200", "400", "404"} <= set(operation["responses"])
    session_fields = schema["components"]["schemas"]["Session"]["properties"]
    assert "findings_url" in session_fields
