"""The policy hooks plugged into the ingestion service, end to end through its services."""

import uuid

import pytest
from agentops_sdk import chain

from ingestion import services as ingestion
from ingestion.errors import IngestionError
from ingestion.models import Event, Project
from policy.models import Findings

pytestmark = pytest.mark.django_db

STRICT = """\
name: strict
denied_tools: [shell]
pii:
  kinds: [ssn]
  action: reject
"""


@pytest.fixture(autouse=True)
def hooks(settings, tmp_path):
    settings.AGENTOPS_BATCH_CHECKS = ["policy.services.batch_check"]
    settings.AGENTOPS_SEAL_HOOKS = ["policy.services.seal_hook"]
    policy_file = tmp_path / "strict.yaml"
    policy_file.write_text(STRICT)
    settings.AGENTOPS_POLICY_FILES = {"strict-project": str(policy_file)}


def proposal(session, seq, event_type, payload):
    return {
        "event_id": str(uuid.uuid4()),
        "session_id": str(session.pk),
        "sequence_number": seq,
        "timestamp_wall": f"2026-01-25T10:00:{seq:02d}.000000Z",
        "timestamp_monotonic": seq,
        "event_type": event_type,
        "source_sdk_ver": "agentops-sdk/0.1.0",
        "schema_ver": chain.SPEC_VERSION,
        "payload": payload,
    }


def session_started(project_name):
    project = Project.objects.create(name=project_name)
    session, _ = ingestion.session_start(project=project, agent_id="support-bot")
    start = proposal(session, 0, "SESSION_START", {"agent_id": "support-bot"})
    ingestion.events_append(session=session, proposals=[start])
    return session


def test_append_refused_by_policy_stores_nothing():
    session = session_started("strict-project")
    call = proposal(session, 1, "TOOL_CALL", {"tool_name": "shell", "args": {"cmd": "ls"}})
    with pytest.raises(IngestionError) as caught:
        ingestion.events_append(session=session, proposals=[call])
    assert (caught.value.code, caught.value.status) == ("POLICY_VIOLATION", 409)
    assert caught.value.details["rule"] == "tools"
    assert Event.objects.filter(session=session).count() == 1


def test_append_with_pii_under_reject_is_refused_with_masked_message():
    session = session_started("strict-project")
    call = proposal(session, 1, "TOOL_CALL", {"tool_name": "crm", "args": {"q": "123-45-6789"}})
    with pytest.raises(IngestionError) as caught:
        ingestion.events_append(session=session, proposals=[call])
    assert caught.value.details["rule"] == "pii"
    assert "123-45-6789" not in caught.value.message


def test_seal_records_findings_of_the_sealed_session(django_capture_on_commit_callbacks):
    session = session_started("default-project")
    call = proposal(
        session, 1, "TOOL_CALL", {"tool_name": "crm", "args": {"email": "jane@example.com"}}
    )
    end = proposal(session, 2, "SESSION_END", {"status": "success", "duration_ms": 5})
    ingestion.events_append(session=session, proposals=[call, end])
    with django_capture_on_commit_callbacks(execute=True):
        ingestion.session_seal(session=session)
    findings = Findings.objects.get(session=session)
    assert (findings.policy_name, findings.event_count, findings.pii_count) == ("default", 3, 1)
    assert findings.pii_findings[0]["preview"] == "j***@example.com"
