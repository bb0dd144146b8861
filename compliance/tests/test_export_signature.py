"""The service signs the whole compliance JSON export; agentops-verify and POST /api/v1/verify
check it and say which part each signature covers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from agentops_sdk import reading, seal
from agentops_sdk.verify import export_document_sha256, export_signature_build
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client

from compliance import services
from compliance.exports.context import Actor
from ingestion import keys
from ingestion import services as ingestion_services
from policy.services import session_findings_evaluate

from .factories import session_sealed

pytestmark = pytest.mark.django_db

ACTOR = Actor.for_command("signature test", operator="tester")
VERIFY = Path(sys.executable).with_name("agentops-verify")


def signed_export(session=None) -> bytes:
    session = session or session_sealed()
    session_findings_evaluate(session=session)
    rendered = services.export_render(session=session, fmt="json", actor=ACTOR)
    with rendered.file:
        return rendered.file.read()


def service_key() -> str:
    return seal.public_key_b64(keys.signing_key().public_key())


def verify(data: bytes, tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "export.json"
    path.write_bytes(data)
    result = subprocess.run(
        [str(VERIFY), str(path), "--format", "json", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stderr == ""
    return result.returncode, json.loads(result.stdout)


def rewritten(data: bytes, change) -> bytes:
    document = reading.loads(data)
    change(document)
    return rfc8785.dumps(document)


def _set(path: tuple[str, ...], value: Any):
    def change(document: dict[str, Any]) -> None:
        target = document
        for step in path[:-1]:
            target = target[step]
        assert target[path[-1]] != value
        target[path[-1]] = value

    return change


REWRITES = {
    "findings": _set(("findings", "passed"), False),
    "session.project": _set(("session", "project"), "another-project"),
    "session.agent_id": _set(("session", "agent_id"), "another-bot"),
    "exported_by": _set(("exported_by",), "user 'someone-else' (id 99)"),
    "chain_of_custody.statement": _set(("chain_of_custody", "statement"), "All is well."),
    "notices": _set(("notices",), ["VERIFICATION FAILED: invented"]),
    "disclaimer": _set(("disclaimer",), "This report certifies compliance."),
}


def test_an_untouched_export_is_authoritative_and_names_what_each_signature_covers(tmp_path):
    status, report = verify(signed_export(), tmp_path, "--trusted-key", service_key())
    assert status == 0
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    section = report["export_signature"]
    assert section["present"] and section["signature_valid"] and section["key_trusted"]
    assert section["key_id"] == keys.public_keys()[0]["key_id"]
    coverage = report["coverage"]
    assert coverage["seal_signature"] == ["events"]
    for part in ("session", "verification", "findings", "chain_of_custody", "notices"):
        assert part in coverage["export_signature"]
    for part in ("disclaimer", "exported_by", "exported_at", "events", "evidence_class"):
        assert part in coverage["export_signature"]
    assert coverage["not_covered"] == []


def test_the_text_report_says_which_signature_covers_what(tmp_path):
    path = tmp_path / "export.json"
    path.write_bytes(signed_export())
    text = subprocess.run(
        [str(VERIFY), str(path), "--trusted-key", service_key()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "What the signatures cover" in text
    assert "Seal signature (valid, under a trusted key): the events" in text
    assert "Export signature (valid, under a trusted key" in text
    assert "the whole document: chain_of_custody, disclaimer, events" in text


@pytest.mark.parametrize("part", list(REWRITES))
def test_a_rewritten_part_fails_the_export_signature(part, tmp_path):
    data = rewritten(signed_export(), REWRITES[part])
    status, report = verify(data, tmp_path, "--trusted-key", service_key())
    assert status == 1
    assert report["status"] == "FAIL"
    assert [v["type"] for v in report["violations"]] == ["EXPORT_SIGNATURE_INVALID"]
    assert "changed after the service signed it" in report["violations"][0]["message"]
    assert report["coverage"]["export_signature"] == []


@pytest.mark.parametrize("with_key", [True, False], ids=["trusted-key", "embedded-key-only"])
def test_a_stripped_signature_is_never_authoritative(with_key, tmp_path):
    def strip(document: dict[str, Any]) -> None:
        del document["export_signature"]
        document["findings"]["passed"] = not document["findings"]["passed"]

    data = rewritten(signed_export(), strip)
    args = ("--trusted-key", service_key()) if with_key else ()
    status, report = verify(data, tmp_path, *args)
    assert status == 0  # the events are intact...
    assert report["evidence_class"] == "PARTIAL_AUTHORITATIVE_EVIDENCE"  # ...nothing else
    assert "EXPORT_NOT_SIGNED" in report["partial_reasons"]
    assert report["export_signature"]["present"] is False
    assert "findings" in report["coverage"]["not_covered"]
    status, _ = verify(data, tmp_path, *args, "--require-authoritative")
    assert status == 1


def test_an_export_signed_again_by_another_key_fails_under_the_service_key(tmp_path):
    attacker = Ed25519PrivateKey.generate()

    def resign(document: dict[str, Any]) -> None:
        document["session"]["project"] = "another-project"
        del document["export_signature"]
        document["export_signature"] = export_signature_build(
            attacker, export_document_sha256(document)
        )

    data = rewritten(signed_export(), resign)
    status, report = verify(data, tmp_path, "--trusted-key", service_key())
    assert status == 1
    assert [v["type"] for v in report["violations"]] == ["EXPORT_SIGNATURE_INVALID"]
    # Without a trusted key, a valid signature under the embedded key is not trusted.
    status, report = verify(data, tmp_path)
    assert report["evidence_class"] == "PARTIAL_AUTHORITATIVE_EVIDENCE"
    assert "KEY_NOT_TRUSTED" in report["partial_reasons"]


def test_the_published_key_id_makes_the_embedded_keys_trusted(tmp_path):
    key_id = keys.public_keys()[0]["key_id"]
    status, report = verify(signed_export(), tmp_path, "--trusted-key-id", key_id)
    assert status == 0
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    status, report = verify(signed_export(), tmp_path)
    assert report["partial_reasons"] == ["KEY_NOT_TRUSTED"]


def test_post_verify_checks_the_export_signature_too():
    key, plaintext = ingestion_services.api_key_create(project_name="acme", name="verifier")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    data = signed_export(session_sealed(project=key.project))

    def post(body: bytes) -> dict[str, Any]:
        response = client.post("/api/v1/verify", body, content_type="application/json")
        assert response.status_code == 200, response.content
        return response.json()

    intact = post(data)
    assert intact["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert intact["export_signature"]["signature_valid"] is True
    altered = post(rewritten(data, REWRITES["findings"]))
    assert altered["status"] == "FAIL"
    assert [v["type"] for v in altered["violations"]] == ["EXPORT_SIGNATURE_INVALID"]
