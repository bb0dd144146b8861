"""The export signature of a compliance export, checked by the library alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentops_sdk import chain, seal
from agentops_sdk.verify import render_text, verify_export, verify_file
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .conftest import SessionBuilder, export_document


def signed(builder: SessionBuilder, key: Ed25519PrivateKey) -> dict[str, Any]:
    public = key.public_key()
    data = export_document(builder.session(6), seal.public_key_b64(public), signer=key)
    return json.loads(data)


def test_a_signed_export_is_authoritative_under_the_trusted_key(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    report = verify_export(signed(builder, signing_key), trusted_keys=[signing_key.public_key()])
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert report["export_signature"]["key_id"] == seal.key_id(signing_key.public_key())
    assert report["coverage"]["seal_signature"] == ["events"]
    assert "session" in report["coverage"]["export_signature"]


def test_a_changed_member_fails_and_the_text_says_what_is_not_covered(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    document = signed(builder, signing_key)
    document["session"]["project"] = "elsewhere"
    report = verify_export(document, trusted_keys=[signing_key.public_key()])
    assert [v["type"] for v in report["violations"]] == ["EXPORT_SIGNATURE_INVALID"]
    assert "session" in report["coverage"]["not_covered"]
    assert "Covered by no valid signature" in render_text(report)


def test_a_malformed_signature_member_fails(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    for broken in ("not an object", {"alg": "Ed25519", "value": "%%%"}, {"alg": "RSA"}):
        document = signed(builder, signing_key)
        document["export_signature"] = broken
        report = verify_export(document, trusted_keys=[signing_key.public_key()])
        assert report["status"] == "FAIL", broken
        assert [v["type"] for v in report["violations"]] == ["EXPORT_SIGNATURE_INVALID"]


def test_an_unsigned_export_is_partial_and_says_why(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    public = signing_key.public_key()
    path = tmp_path / "old.json"
    path.write_bytes(export_document(builder.session(6), seal.public_key_b64(public)))
    report = verify_file(path, trusted_keys=[public])
    assert report["evidence_class"] == "PARTIAL_AUTHORITATIVE_EVIDENCE"
    assert report["partial_reasons"] == ["EXPORT_NOT_SIGNED"]
    assert "carries no export signature" in render_text(report)


def test_a_jsonl_report_has_no_export_parts(builder: SessionBuilder, tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text("".join(chain.canonicalize(e).decode() + "\n" for e in builder.session(4)))
    report = verify_file(path)
    assert "export_signature" not in report and "coverage" not in report
