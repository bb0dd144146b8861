"""The right to erasure end to end inside the service: finding a subject, the dry run, the
erasure, what stays verifiable and what no longer shows the erased value."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from agentops_sdk import reading, seal
from django.core.management import CommandError, call_command
from django.db import connection

from compliance import erasure
from compliance.tests.factories import export_bytes
from compliance.tests.pdf_attachments import needs_poppler, pdf_words
from ingestion import keys, services
from ingestion.erasure_models import Erasure
from ingestion.errors import IngestionError
from ingestion.models import Event, EvidenceClass
from ingestion.services import Caller
from ingestion.tests.factories import project_create, proposal_build, session_create
from policy.models import Findings, SubjectFingerprint
from policy.services import session_findings_evaluate

pytestmark = pytest.mark.django_db

VERIFY = Path(sys.executable).with_name("agentops-verify")
EMAIL = "Jane.Doe@Example.org"
CALLER = Caller.for_command("erasure test", operator="tester")


def _session_with_subject(project, *, seal: bool = True):
    session = session_create(project)
    proposals = [
        proposal_build(session.id, 0),
        proposal_build(
            session.id,
            1,
            "TOOL_CALL",
            {"tool_name": "send_mail", "args": {"to": EMAIL, "body": "your order shipped"}},
        ),
        proposal_build(session.id, 2, "TOOL_CALL", {"tool_name": "lookup", "args": {"q": "x"}}),
        proposal_build(session.id, 3, "SESSION_END", {"status": "success", "duration_ms": 5}),
    ]
    services.events_append(session=session, proposals=proposals)
    if seal:
        services.session_seal(session=session)
    session_findings_evaluate(session=session)
    session.refresh_from_db()
    return session


def _erase(project, subject=EMAIL, ref="DSR-2026-0042"):
    plan = erasure.erasure_plan(project=project, subject=subject)
    return erasure.erasure_execute(
        plan=plan, request_ref=ref, reason="GDPR Art. 17 request", caller=CALLER
    )


def test_a_subject_is_found_by_fingerprint_in_any_spelling_and_nothing_raw_is_kept():
    project = project_create("acme")
    session = _session_with_subject(project)
    other = _session_with_subject(project_create("other"))
    plan = erasure.erasure_plan(project=project, subject="  jane.doe@example.ORG ")
    assert [(e.session.pk, [x.sequence_number for x in e.events]) for e in plan.sessions] == [
        (session.pk, [1])
    ]
    stored = list(SubjectFingerprint.objects.values_list("fingerprint", flat=True))
    assert stored and all(EMAIL.lower() not in fp for fp in stored)
    assert other.pk not in [e.session.pk for e in plan.sessions]


def test_a_dry_run_changes_nothing_and_lists_the_exports_that_handed_the_payload_out():
    project = project_create("acme")
    session = _session_with_subject(project)
    _, record = export_bytes(session, "json")
    plan = erasure.erasure_plan(project=project, subject=EMAIL)
    assert [r.pk for r in plan.exports] == [record.pk]
    assert Erasure.objects.count() == 0
    assert Event.objects.get(session=session, sequence_number=1).payload_jcs is not None


def test_erasure_withholds_the_payload_keeps_the_hash_and_the_seal_stays_authoritative():
    project = project_create("acme")
    session = _session_with_subject(project)
    before = Event.objects.get(session=session, sequence_number=1)
    report = _erase(project)
    after = Event.objects.get(session=session, sequence_number=1)
    assert after.payload_jcs is None
    assert (after.payload_hash, after.event_hash) == (before.payload_hash, before.event_hash)
    (row,) = Erasure.objects.all()
    assert (row.sequence_number, row.payload_hash, row.request_ref) == (
        1,
        before.payload_hash,
        "DSR-2026-0042",
    )
    assert report["sessions"][0]["events"][0]["erased_now"] is True
    verification = services.session_verify(session=session, trigger="command")
    assert verification["status"] == "PASS"
    assert verification["evidence_class"] == EvidenceClass.AUTHORITATIVE
    assert verification["redacted_events"] == [1]


def test_erasure_is_idempotent():
    project = project_create("acme")
    _session_with_subject(project)
    _erase(project)
    again = _erase(project, ref="DSR-2026-0043")
    assert Erasure.objects.count() == 1
    event = again["sessions"][0]["events"][0]
    assert (event["already_erased"], event["erased_now"]) == (True, False)


def test_the_findings_keep_the_finding_but_lose_the_preview():
    project = project_create("acme")
    session = _session_with_subject(project)
    findings = Findings.objects.get(session=session)
    assert any(f["sequence_number"] == 1 and f["preview"] for f in findings.pii_findings)
    _erase(project)
    findings.refresh_from_db()
    erased = [f for f in findings.pii_findings if f["sequence_number"] == 1]
    assert erased and all(f["preview"] is None and f["kind"] == "email" for f in erased)
    calls = [c for c in findings.tool_audit["calls"] if c["call_sequence_number"] == 1]
    assert calls and all(a["preview"] is None for c in calls for a in c["args"])
    kept = [c for c in findings.tool_audit["calls"] if c["call_sequence_number"] == 2]
    assert all(a["preview"] is not None for c in kept for a in c["args"])


def test_an_export_after_erasure_has_a_null_payload_an_erasures_section_and_verifies(tmp_path):
    project = project_create("acme")
    session = _session_with_subject(project)
    _erase(project)
    data, _ = export_bytes(session, "json")
    document = reading.loads(data)
    assert [e["payload"] for e in document["events"]][1] is None
    (entry,) = document["erasures"]
    assert (entry["sequence_number"], entry["request_ref"]) == (1, "DSR-2026-0042")
    assert b"jane.doe" not in data.lower()
    path = tmp_path / "export.json"
    path.write_bytes(data)
    key = seal.public_key_b64(keys.signing_key().public_key())
    result = subprocess.run(
        [str(VERIFY), str(path), "--format", "json", "--trusted-key", key],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    report = report.get("report", report)
    assert report["status"] == "PASS", result.stdout
    assert report["evidence_class"] == EvidenceClass.AUTHORITATIVE
    assert report["redacted_events"] == [1]


@needs_poppler
def test_the_pdf_says_when_and_under_which_request_the_payload_was_erased(tmp_path):
    project = project_create("acme")
    session = _session_with_subject(project)
    _erase(project)
    data, _ = export_bytes(session, "pdf")
    text = pdf_words(data, tmp_path)
    assert "under request DSR-2026-0042" in text
    assert "payload erased on" in text
    # The findings of the erased event stay, saying their preview was erased.
    assert "(erased)" in text and "=None" not in text


def test_an_unsealed_session_stays_appendable_and_seals_authoritative_after_erasure():
    project = project_create("acme")
    session = _session_with_subject(project, seal=False)
    _erase(project)
    session.refresh_from_db()
    assert not session.sealed
    result = services.session_seal(session=session)
    assert result.verification["status"] == "PASS"
    assert result.verification["evidence_class"] == EvidenceClass.AUTHORITATIVE
    assert result.verification["redacted_events"] == [1]


def test_an_unsealed_session_accepts_events_after_erasure():
    project = project_create("acme")
    session = session_create(project)
    services.events_append(
        session=session,
        proposals=[
            proposal_build(session.id, 0),
            proposal_build(session.id, 1, "TOOL_CALL", {"tool_name": "m", "args": {"to": EMAIL}}),
        ],
    )
    session_findings_evaluate(session=session)
    _erase(project)
    session.refresh_from_db()
    services.events_append(session=session, proposals=[proposal_build(session.id, 2)])
    assert Event.objects.filter(session=session).count() == 3
    assert services.session_verify(session=session, trigger="command")["status"] == "PASS"


def test_erasing_named_events_and_refusals():
    project = project_create("acme")
    session = _session_with_subject(project)
    plan = erasure.erasure_plan(session=session, sequence_numbers=[2])
    erasure.erasure_execute(plan=plan, request_ref="R-1", reason="Art. 17", caller=CALLER)
    assert Event.objects.get(session=session, sequence_number=2).payload_jcs is None
    with pytest.raises(IngestionError) as missing:
        erasure.erasure_plan(session=session, sequence_numbers=[99])
    assert missing.value.code == "ERASURE_EVENT_NOT_FOUND"
    with pytest.raises(IngestionError) as no_ref:
        erasure.erasure_execute(plan=plan, request_ref=" ", reason="x", caller=CALLER)
    assert no_ref.value.code == "ERASURE_REQUEST_REQUIRED"


def test_the_command_dry_runs_by_default_and_executes_with_a_report(tmp_path, capsys):
    project = project_create("acme")
    session = _session_with_subject(project)
    export_bytes(session, "json")
    common = [
        "--project",
        "acme",
        "--subject",
        EMAIL,
        "--request-ref",
        "DSR-1",
        "--reason",
        "Art 17",
    ]
    call_command("erase_personal_data", *common)
    out = capsys.readouterr().out
    assert "Would erase (dry run): 1 event(s) in 1 session(s)" in out
    assert "Exports that already handed these payloads out: 1" in out
    assert Erasure.objects.count() == 0
    report_path = tmp_path / "report.json"
    call_command("erase_personal_data", *common, "--execute", "--report", str(report_path))
    data = report_path.read_bytes()
    report = reading.loads(data)
    assert report["executed"] is True and report["event_count"] == 1
    assert EMAIL.lower() not in data.decode().lower()
    import rfc8785

    assert rfc8785.dumps(report) == data
    with pytest.raises(CommandError, match="needs --session"):
        call_command("erase_personal_data", "--events", "1", "--request-ref", "x", "--reason", "y")


def test_sessions_without_fingerprints_get_them_from_the_command():
    project = project_create("acme")
    session = _session_with_subject(project)
    with connection.cursor() as cursor:  # as if evaluated before fingerprints existed
        # Dropped inside the test's transaction: rolled back with it.
        on = " ON policy_subjectfingerprint" if connection.vendor == "postgresql" else ""
        cursor.execute(f"DROP TRIGGER policy_fingerprint_no_delete{on}")
        cursor.execute("DELETE FROM policy_subjectfingerprint")
    assert erasure.erasure_plan(project=project, subject=EMAIL).sessions == []
    call_command("subject_fingerprints_record", "--project", "acme", stdout=StringIO())
    plan = erasure.erasure_plan(project=project, subject=EMAIL)
    assert [entry.session.pk for entry in plan.sessions] == [session.pk]
