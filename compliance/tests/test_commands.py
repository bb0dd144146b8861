"""manage.py export_sessions and verify_sessions."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
import rfc8785
from django.core.management import CommandError, call_command

from compliance.models import ExportRecord
from ingestion.models import Event, Project

from .factories import event_tamper, session_recorded, session_sealed

pytestmark = pytest.mark.django_db


def export_sessions(out: Path, *args: str) -> str:
    stdout = io.StringIO()
    call_command(
        "export_sessions", "--out", str(out), "--no-progress", *args, stdout=stdout, stderr=stdout
    )
    return stdout.getvalue()


def verify_sessions(*args: str) -> str:
    stdout = io.StringIO()
    call_command("verify_sessions", *args, stdout=stdout, stderr=stdout)
    return stdout.getvalue()


def manifest(out: Path) -> dict:
    data = (out / "manifest.json").read_bytes()
    assert rfc8785.dumps(json.loads(data)) == data
    return json.loads(data)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- export_sessions ------------------------------------------------------------------------


def test_each_session_gets_a_folder_and_the_manifest_lists_every_file(tmp_path):
    sessions = [session_sealed(), session_recorded(end=False)]
    export_sessions(tmp_path, "--format", "json,jsonl")
    listed = manifest(tmp_path)
    assert [entry["session_id"] for entry in listed["sessions"]] == sorted(
        str(s.pk) for s in sessions
    )
    assert listed["summary"] == {"sessions": 2, "files": 4, "flagged": 0}
    for entry in listed["sessions"]:
        assert entry["verification_status"] == "PASS" and entry["flagged"] is False
        assert {f["format"] for f in entry["files"]} == {"json", "jsonl"}
        for listed_file in entry["files"]:
            path = tmp_path / listed_file["path"]
            assert path.parent.name == entry["session_id"]
            assert sha256(path) == listed_file["sha256"]
            record = ExportRecord.objects.get(pk=listed_file["export_id"])
            assert (record.sha256, record.channel) == (listed_file["sha256"], "command")
    sealed = {e["session_id"]: e["sealed"] for e in listed["sessions"]}
    assert sealed == {str(sessions[0].pk): True, str(sessions[1].pk): False}


def test_a_pdf_is_written_with_the_json_it_cites(tmp_path):
    session = session_sealed()
    export_sessions(tmp_path, "--format", "pdf")
    folder = tmp_path / str(session.pk)
    assert sorted(p.name for p in folder.iterdir()) == [f"{session.pk}.json", f"{session.pk}.pdf"]
    pdf = ExportRecord.objects.get(session=session, format="pdf")
    assert pdf.json_export.sha256 == sha256(folder / f"{session.pk}.json")


def test_a_second_run_keeps_the_files_already_exported(tmp_path):
    session_sealed()
    export_sessions(tmp_path, "--format", "json,jsonl")
    first = manifest(tmp_path)
    recorded = ExportRecord.objects.count()

    output = export_sessions(tmp_path, "--format", "json,jsonl")
    assert "0 file(s) written, 2 already present" in output
    assert ExportRecord.objects.count() == recorded
    assert manifest(tmp_path)["sessions"] == first["sessions"]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_corrupted_file_is_written_again(tmp_path, fmt):
    session = session_sealed()
    export_sessions(tmp_path, "--format", fmt)
    path = tmp_path / str(session.pk) / f"{session.pk}.{fmt}"
    path.write_bytes(path.read_bytes().replace(b"support-bot", b"support-bog", 1))

    output = export_sessions(tmp_path, "--format", fmt)
    assert "1 file(s) written, 0 already present" in output
    [entry] = manifest(tmp_path)["sessions"]
    assert entry["files"][0]["sha256"] == sha256(path)
    assert b"support-bog" not in path.read_bytes()
    assert ExportRecord.objects.filter(session=session, format=fmt).count() == 2


def test_a_session_that_gained_events_is_exported_again(tmp_path):
    session = session_recorded(end=False)
    export_sessions(tmp_path, "--format", "jsonl")
    from ingestion.services import events_append
    from ingestion.tests.factories import proposal_build

    events_append(session=session, proposals=[proposal_build(session.pk, 7, "SESSION_END")])
    assert "1 file(s) written" in export_sessions(tmp_path, "--format", "jsonl")


def test_a_failing_session_is_exported_flagged_and_fails_the_command(tmp_path):
    good, bad = session_sealed(), session_sealed()
    event_tamper(bad, 3, event_type="ERROR")
    with pytest.raises(CommandError, match="1 session\\(s\\) failed verification") as failure:
        export_sessions(tmp_path, "--format", "jsonl")
    assert failure.value.returncode == 1
    entries = {e["session_id"]: e for e in manifest(tmp_path)["sessions"]}
    assert entries[str(bad.pk)]["flagged"] is True
    assert entries[str(bad.pk)]["verification_status"] == "FAIL"
    assert entries[str(good.pk)]["flagged"] is False
    assert (tmp_path / str(bad.pk) / f"{bad.pk}.jsonl").is_file()


def test_filters_choose_the_sessions(tmp_path):
    acme = Project.objects.create(name="acme")
    chosen = session_sealed(project=acme, agent_id="billing-bot")
    session_sealed(project=acme)  # another agent
    session_sealed()  # another project
    output = export_sessions(
        tmp_path, "--format", "jsonl", "--project", "acme", "--agent", "billing-bot",
        "--evidence-class", "AUTHORITATIVE_EVIDENCE", "--since", "2000-01-01",
        "--until", "2999-12-31",
    )  # fmt: skip
    assert "1 session(s) exported" in output
    assert [e["session_id"] for e in manifest(tmp_path)["sessions"]] == [str(chosen.pk)]


def test_sessions_named_on_the_command_line(tmp_path):
    first, _ = session_sealed(), session_sealed()
    export_sessions(tmp_path, "--format", "jsonl", "--session", str(first.pk))
    assert [e["session_id"] for e in manifest(tmp_path)["sessions"]] == [str(first.pk)]
    with pytest.raises(CommandError, match="no such session"):
        export_sessions(tmp_path, "--session", "6513270e-269e-4d37-b2a7-4de452e6b438")


def test_an_unknown_project_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="no project named"):
        export_sessions(tmp_path, "--project", "nobody")


@pytest.mark.postgres
@pytest.mark.usefixtures("evidence_transactional_db")
def test_jobs_export_sessions_in_parallel(tmp_path):
    sessions = [session_sealed() for _ in range(3)]
    output = export_sessions(tmp_path, "--format", "json,jsonl", "--jobs", "2")
    assert "3 session(s) exported" in output
    assert manifest(tmp_path)["summary"] == {"sessions": 3, "files": 6, "flagged": 0}
    assert ExportRecord.objects.filter(session__in=sessions).count() == 6


# --- verify_sessions ------------------------------------------------------------------------


def test_verify_sessions_passes_intact_chains():
    session_sealed(), session_recorded(end=False)
    output = verify_sessions("-v", "2")
    assert "2 session(s) checked: 2 passed, 0 failed" in output
    assert output.count("PASS ") == 2


def test_verify_sessions_names_the_session_and_the_altered_event():
    intact, altered = session_sealed(), session_sealed()
    event = Event.objects.get(session=altered, sequence_number=3)
    event_tamper(altered, 3, payload_jcs='{"args":{"order_id":"ORD-9999"},"tool_name":"x"}')
    with pytest.raises(CommandError) as failure:
        output = io.StringIO()
        call_command("verify_sessions", stdout=output, stderr=output)
    assert failure.value.returncode == 1
    text = output.getvalue()
    assert f"FAIL {altered.pk}" in text
    assert f"event #3 ({event.event_id}) PAYLOAD_HASH_MISMATCH" in text
    assert str(intact.pk) not in text


def test_verify_sessions_reports_a_payload_that_is_no_longer_json():
    session = session_sealed()
    event_tamper(session, 2, payload_jcs="{not json")
    with pytest.raises(CommandError):
        output = io.StringIO()
        call_command("verify_sessions", "--session", str(session.pk), stdout=output)
    assert "event #2" in output.getvalue()


def test_verify_sessions_names_sessions_it_cannot_find():
    with pytest.raises(CommandError, match="1 not found"):
        verify_sessions("--session", "6513270e-269e-4d37-b2a7-4de452e6b438")
