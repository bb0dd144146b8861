import os

import pytest
from agentops_sdk import chain

from ingestion.errors import IngestionError
from ingestion.models import Event, Project, Session
from policy.models import Findings
from policy.rules import DEFAULT_POLICY_FILE, PolicyError, policy_default
from policy.services import (
    batch_check,
    policy_for_project,
    scanner_for_project,
    seal_hook,
    session_findings_evaluate,
    session_findings_latest,
)
from policy.tests.factories import event_make

pytestmark = pytest.mark.django_db

HASH = "ab" * 32

STRICT = """\
name: strict
max_events_per_session: 5
max_payload_bytes: 200
denied_tools: [shell]
pii:
  kinds: [email, ssn]
  action: reject
"""


@pytest.fixture
def project():
    return Project.objects.create(name="support")


@pytest.fixture
def strict_policy(settings, tmp_path, project):
    path = tmp_path / "strict.yaml"
    path.write_text(STRICT)
    settings.AGENTOPS_POLICY_FILES = {project.name: str(path)}
    return path


def session_store(project, specs):
    """A session whose events are stored as the ingestion service stores them."""
    session = Session.objects.create(project=project, agent_id="support-bot")
    prev_hash = None
    for seq, (event_type, payload) in enumerate(specs):
        proposal = event_make(seq, event_type, payload)
        proposal.update(
            session_id=str(session.pk),
            timestamp_monotonic=seq,
            source_sdk_ver="agentops-sdk/0.1.0",
            schema_ver=chain.SPEC_VERSION,
        )
        envelope = chain.chain_event(
            proposal,
            prev_event_hash=prev_hash,
            chain_authority=chain.AUTHORITY_SERVER,
            authority_id="test-ingest",
        )
        Event.objects.create(
            session=session,
            payload_jcs=chain.canonicalize(payload).decode(),
            **{
                name: envelope[name]
                for name in chain.ENVELOPE_FIELDS
                if name not in ("payload", "session_id")
            },
        )
        prev_hash = envelope["event_hash"]
    return session


SPECS = [
    ("SESSION_START", {"agent_id": "support-bot"}),
    ("TOOL_CALL", {"tool_name": "crm.lookup", "args": {"email": "jane.doe@example.com"}}),
    ("TOOL_RESULT", {"tool_name": "crm.lookup", "status": "success", "result_hash": HASH}),
    ("SESSION_END", {"status": "success", "duration_ms": 30}),
]


# ------------------------------------------------------------------ which policy applies


def test_projects_without_a_file_use_the_default(project):
    assert policy_for_project(project=project).text_sha256 == policy_default().text_sha256


def test_project_file_is_used_and_reloaded_when_edited(strict_policy, project):
    first = policy_for_project(project=project)
    assert first.name == "strict"
    strict_policy.write_text(STRICT.replace("name: strict", "name: stricter"))
    # Coarse file-system clocks can give both writes one mtime; move it on so the edit shows.
    stat = strict_policy.stat()
    os.utime(strict_policy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = policy_for_project(project=project)
    assert (second.name, second.text_sha256 != first.text_sha256) == ("stricter", True)


def test_relative_paths_are_relative_to_base_dir(settings, project):
    settings.AGENTOPS_POLICY_FILES = {
        project.name: str(DEFAULT_POLICY_FILE.relative_to(settings.BASE_DIR))
    }
    assert policy_for_project(project=project).name == "default"


def test_missing_project_file_is_a_policy_error(settings, project, tmp_path):
    settings.AGENTOPS_POLICY_FILES = {project.name: str(tmp_path / "absent.yaml")}
    with pytest.raises(PolicyError):
        policy_for_project(project=project)


def test_the_scanner_of_a_project_is_its_policys(strict_policy, project):
    assert scanner_for_project(project=project).kinds == {"email", "ssn"}


def test_without_a_project_or_with_an_unusable_policy_the_scanner_is_the_built_in_one(
    settings, project, tmp_path
):
    built_in = policy_default().scanner.kinds
    assert scanner_for_project(project=None).kinds == built_in
    settings.AGENTOPS_POLICY_FILES = {project.name: str(tmp_path / "absent.yaml")}
    assert scanner_for_project(project=project).kinds == built_in


# ------------------------------------------------------------------ stored findings


def test_evaluation_stores_masked_findings_with_policy_version(project):
    session = session_store(project, SPECS)
    findings = session_findings_evaluate(session=session)
    stored = Findings.objects.get(pk=findings.pk)
    assert stored.session_id == session.pk
    assert (stored.policy_name, stored.policy_sha256) == ("default", policy_default().text_sha256)
    # Personal data under the default "flag" action is exposure, not a broken rule.
    assert (stored.event_count, stored.pii_count, stored.passed) == (4, 1, True)
    assert stored.pii_findings == [
        {
            "sequence_number": 1,
            "event_id": findings.pii_findings[0]["event_id"],
            "path": "$.args.email",
            "kind": "email",
            "preview": "j***@example.com",
        }
    ]
    assert "jane.doe" not in str(stored.as_dict())
    assert stored.tool_audit["totals"][0]["successes"] == 1


def test_each_evaluation_adds_a_row(project):
    session = session_store(project, SPECS)
    first = session_findings_evaluate(session=session)
    second = session_findings_evaluate(session=session)
    assert session.policy_findings.count() == 2
    assert session_findings_latest(session=session).pk == max(first.pk, second.pk)


def test_stored_findings_are_not_changed(project):
    findings = session_findings_evaluate(session=session_store(project, SPECS))
    findings.passed = True
    with pytest.raises(ValueError, match="not changed"):
        findings.save()


def test_seal_hook_records_findings(project):
    session = session_store(project, SPECS)
    seal_hook(session=session)
    assert session_findings_latest(session=session).policy_name == "default"


# ------------------------------------------------------------------ ingestion batch check


def envelopes(specs, first=1):
    return [event_make(first + n, kind, payload) for n, (kind, payload) in enumerate(specs)]


def test_batch_check_accepts_a_compliant_batch(strict_policy, project):
    session = Session.objects.create(project=project, agent_id="a")
    batch = envelopes([("TOOL_CALL", {"tool_name": "search", "args": {"q": "refunds"}})])
    assert batch_check(session=session, proposals=batch, event_count_after=2) is None


@pytest.mark.parametrize(
    ("spec", "count_after", "status", "rule"),
    [
        (
            ("SESSION_END", {"status": "success", "duration_ms": 1}),
            6,
            409,
            "max_events_per_session",
        ),
        (("AGENT_STATE_SNAPSHOT", {"blob": "x" * 300}), 2, 413, "max_payload_bytes"),
        (("TOOL_CALL", {"tool_name": "shell", "args": {"cmd": "ls"}}), 2, 409, "tools"),
        (("TOOL_CALL", {"tool_name": "crm", "args": {"ssn": "123-45-6789"}}), 2, 409, "pii"),
    ],
)
def test_batch_check_refuses_with_policy_violation(
    strict_policy, project, spec, count_after, status, rule
):
    session = Session.objects.create(project=project, agent_id="a")
    with pytest.raises(IngestionError) as caught:
        batch_check(session=session, proposals=envelopes([spec]), event_count_after=count_after)
    error = caught.value
    assert (error.code, error.status, error.details["rule"]) == ("POLICY_VIOLATION", status, rule)
    assert error.details["policy"] == "strict"
    assert "123-45" not in error.message


# ------------------------------------------------------------------ system checks


def test_system_check_reports_a_broken_policy_file(settings, tmp_path, project):
    from policy.checks import policy_settings_check

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nmax_events: 3\n")
    settings.AGENTOPS_POLICY_FILES = {project.name: str(broken)}
    errors = policy_settings_check()
    assert [e.id for e in errors] == ["policy.E003"]
    assert f"{broken}:2: max_events: unknown rule" in errors[0].hint


def test_system_check_reports_an_unknown_region(settings):
    from policy.checks import policy_settings_check

    settings.AGENTOPS_PII_DEFAULT_REGION = "XX"
    assert [e.id for e in policy_settings_check()] == ["policy.E001"]
