"""The three export formats, read back the way their readers read them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785
from agentops_sdk import reading, seal

from compliance.statements import DISCLAIMER
from ingestion import keys
from ingestion import selectors as ingestion_selectors
from ingestion.tests.factories import session_create
from policy.models import Findings
from policy.services import session_findings_evaluate

from .factories import event_tamper, export_bytes, session_recorded, session_sealed

pytestmark = pytest.mark.django_db

VERIFY = Path(sys.executable).with_name("agentops-verify")


def service_key() -> str:
    return seal.public_key_b64(keys.signing_key().public_key())


def agentops_verify(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VERIFY), str(path), *args], capture_output=True, text=True, check=False
    )


def tamper_one_byte(data: bytes) -> bytes:
    """Change one character inside the first event's payload (support-bot -> support-bos)."""
    at = data.index(b'"agent_id":"support-bot"') + len(b'"agent_id":"support-bo')
    return data[:at] + b"s" + data[at + 1 :]


# --- compliance JSON ------------------------------------------------------------------------


def test_compliance_json_is_rfc8785_canonical():
    data, _ = export_bytes(session_sealed(extra=5), "json")
    assert rfc8785.dumps(reading.loads(data)) == data


def test_compliance_json_of_a_payload_stored_non_canonical_is_still_canonical():
    # The stored text and its hash altered together: the text can no longer be copied.
    session = session_sealed()
    spaced = '{"agent_id": "support-bot", "environment": "prod", "framework": "langchain"}'
    event_tamper(
        session,
        0,
        payload_jcs=spaced,
        payload_hash=hashlib.sha256(spaced.encode()).hexdigest(),
    )
    data, record = export_bytes(session, "json")
    assert rfc8785.dumps(reading.loads(data)) == data
    assert record.verification_status == "FAIL"


def test_compliance_json_holds_the_session_its_verification_and_custody():
    session = session_sealed()
    data, record = export_bytes(session, "json")
    document = reading.loads(data)
    assert document["export_format"] == "agentops-compliance-export"
    assert document["export_version"] == "1.1"
    assert document["exported_at"].endswith("Z")
    assert document["session"]["session_id"] == str(session.pk)
    assert document["session"]["sealed"] is True
    assert document["notices"] == []
    assert document["verification"]["status"] == "PASS"
    assert document["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    custody = document["chain_of_custody"]
    assert custody["public_key"] == service_key()
    assert custody["key_id"] == keys.public_keys()[0]["key_id"]
    assert custody["seal"]["signature"]["key_id"] == custody["key_id"]
    assert (custody["canonicalization"], custody["hash_algorithm"]) == ("RFC 8785", "SHA-256")
    assert custody["seal_proves"] and custody["seal_does_not_prove"]
    assert custody["verification"]["software"].startswith("agentops-sdk/")
    assert document["events"] == list(ingestion_selectors.session_envelopes(session=session))
    assert document["disclaimer"] == DISCLAIMER
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert record.size_bytes == len(data)


@pytest.mark.parametrize("stored", [True, False], ids=["read-from-db", "evaluated-now"])
def test_compliance_json_findings_are_the_stored_findings(stored):
    session = session_sealed()
    if stored:  # as the seal hook leaves them; the export reads the long lists lazily
        session_findings_evaluate(session=session)
    data, record = export_bytes(session, "json")
    section = reading.loads(data)["findings"]
    findings = Findings.objects.get(session=session)
    assert section == {"available": True, "event_count": findings.event_count, **findings.as_dict()}
    assert section["policy"]["name"] == "default"
    assert [f["kind"] for f in section["pii_findings"]] == ["email"]
    assert section["tool_audit"]["calls"][0]["tool_name"] == "orders.lookup"
    assert "jane.doe@example.com" not in json.dumps(section)  # masked previews only
    assert record.findings_id == findings.pk


def test_unsealed_session_says_so_in_compliance_json():
    session = session_recorded(end=False)
    data, record = export_bytes(session, "json")
    document = reading.loads(data)
    assert document["session"]["sealed"] is False
    assert document["chain_of_custody"]["sealed"] is False
    assert any(notice.startswith("UNSEALED") for notice in document["notices"])
    assert document["verification"]["partial_reasons"][0] == "UNSEALED_SESSION"
    assert record.file_name.endswith("-unsealed.json")
    assert record.sealed is False


def test_failed_verification_is_exported_and_says_so():
    session = session_sealed()
    event_tamper(session, 2, timestamp_wall="2026-01-25T11:00:00.000000Z")
    data, record = export_bytes(session, "json")
    document = reading.loads(data)
    assert document["verification"]["status"] == "FAIL"
    assert document["evidence_class"] is None
    assert document["notices"][0].startswith("VERIFICATION FAILED")
    assert (record.verification_status, record.evidence_class) == ("FAIL", None)


def test_a_session_without_events_is_exported_as_an_empty_failing_log():
    session = session_create()
    data, record = export_bytes(session, "json")
    document = reading.loads(data)
    assert document["events"] == []
    assert document["verification"]["violations"][0]["type"] == "EMPTY_LOG"
    assert (record.verification_status, record.last_sequence_number) == ("FAIL", None)
    assert export_bytes(session, "jsonl")[0] == b""


# --- the offline verifier reads both formats ---------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_agentops_verify_accepts_the_export_and_fails_it_after_one_byte_changes(fmt, tmp_path):
    data, _ = export_bytes(session_sealed(), fmt)
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(data)
    result = agentops_verify(path, "--trusted-key", service_key(), "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["evidence_class"] == "AUTHORITATIVE_EVIDENCE"

    path.write_bytes(tamper_one_byte(data))
    result = agentops_verify(path, "--trusted-key", service_key(), "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["status"] == "FAIL"
    assert report["violations"][0]["type"] == "PAYLOAD_HASH_MISMATCH"
    assert report["violations"][0]["sequence_number"] == 0


def test_agentops_verify_trusts_the_embedded_key_only_by_its_published_key_id(tmp_path):
    data, _ = export_bytes(session_sealed(), "json")
    path = tmp_path / "export.json"
    path.write_bytes(data)
    key_id = keys.public_keys()[0]["key_id"]
    trusted = agentops_verify(path, "--trusted-key-id", key_id, "--format", "json")
    embedded_only = agentops_verify(path, "--format", "json")
    assert json.loads(trusted.stdout)["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert json.loads(embedded_only.stdout)["partial_reasons"] == ["KEY_NOT_TRUSTED"]


# --- JSONL --------------------------------------------------------------------------------


def test_jsonl_is_the_stored_chain_one_event_per_line_seal_last():
    session = session_sealed()
    data, _ = export_bytes(session, "jsonl")
    assert data.endswith(b"\n")
    events = list(reading.iter_lines(data.splitlines(keepends=True)))
    assert events == list(ingestion_selectors.session_envelopes(session=session))
    assert events[-1]["event_type"] == "CHAIN_SEAL"


def test_unsealed_jsonl_has_no_seal_and_names_itself_unsealed(tmp_path):
    data, record = export_bytes(session_recorded(end=False), "jsonl")
    assert b"CHAIN_SEAL" not in data
    assert record.file_name.endswith("-unsealed.jsonl")
    path = tmp_path / "export.jsonl"
    path.write_bytes(data)
    report = json.loads(agentops_verify(path, "--format", "json").stdout)
    assert report["partial_reasons"][0] == "UNSEALED_SESSION"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.024, "24 ms"), (4.32, "4.3 s"), (125, "2 min 5 s"), (3800, "1 h 03 min 20 s")],
)
def test_durations_read_naturally(seconds, text):
    from compliance.formatting import duration_text

    assert duration_text(seconds) == text
