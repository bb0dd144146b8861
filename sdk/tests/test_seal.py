"""Seal helpers: the signed statement, key ids, and keys on disk."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk import seal
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .conftest import vectors_expected

SESSION_ID = "6513270e-269e-4d37-b2a7-4de452e6b438"
HEAD = "e0008bc1152af9033b234603538ceb93d41c9ba2b723d87654215736eac640ff"


def signed_payload(key: Ed25519PrivateKey) -> dict[str, Any]:
    return seal.seal_payload_build(
        private_key=key,
        session_id=SESSION_ID,
        ingestion_service_id="svc-1",
        seal_timestamp="2026-01-25T11:00:00.000000Z",
        final_event_hash=HEAD,
        event_count=10,
        complete=True,
        total_drops=0,
    )


def test_signed_seal_verifies_under_its_key(signing_key: Ed25519PrivateKey) -> None:
    payload = signed_payload(signing_key)
    assert payload["session_digest"] == "sha256:" + HEAD
    assert payload["signature"]["key_id"] == seal.key_id(signing_key.public_key())
    assert seal.seal_signature_valid(
        signing_key.public_key(), session_id=SESSION_ID, seal_payload=payload
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ingestion_service_id", "svc-2"),
        ("seal_timestamp", "2026-01-25T11:00:00.000001Z"),
        ("session_digest", "sha256:" + "0" * 64),
        ("event_count", 11),
        ("complete", False),
        ("total_drops", 1),
    ],
)
def test_changing_a_signed_statement_breaks_the_signature(
    signing_key: Ed25519PrivateKey, field: str, value: Any
) -> None:
    payload = signed_payload(signing_key) | {field: value}
    assert not seal.seal_signature_valid(
        signing_key.public_key(), session_id=SESSION_ID, seal_payload=payload
    )


def test_the_signature_binds_the_session(signing_key: Ed25519PrivateKey) -> None:
    payload = signed_payload(signing_key)
    other_session = "00000000-0000-4000-8000-000000000000"
    assert not seal.seal_signature_valid(
        signing_key.public_key(), session_id=other_session, seal_payload=payload
    )


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "not an object",
        {"alg": "RSA", "key_id": "x", "value": "AAAA"},
        {"alg": "Ed25519", "key_id": "x", "value": "not base64!"},
        {"alg": "Ed25519", "key_id": "x", "value": base64.b64encode(b"\0" * 64).decode()},
        {"alg": "Ed25519", "key_id": "x"},
    ],
)
def test_malformed_signatures_are_invalid_never_errors(
    signing_key: Ed25519PrivateKey, signature: Any
) -> None:
    payload = signed_payload(signing_key) | {"signature": signature}
    assert not seal.seal_signature_valid(
        signing_key.public_key(), session_id=SESSION_ID, seal_payload=payload
    )


def test_another_key_does_not_verify(signing_key: Ed25519PrivateKey) -> None:
    payload = signed_payload(signing_key)
    assert not seal.seal_signature_valid(
        Ed25519PrivateKey.generate().public_key(), session_id=SESSION_ID, seal_payload=payload
    )


def test_unsigned_seal_has_no_signature() -> None:
    payload = seal.seal_payload_build(
        private_key=None,
        session_id=SESSION_ID,
        ingestion_service_id="sdk-local",
        seal_timestamp="2026-01-25T11:00:00Z",
        final_event_hash=HEAD,
        event_count=3,
        complete=False,
        total_drops=0,
    )
    assert "signature" not in payload


def test_key_id_of_the_vectors_key_matches_expected() -> None:
    expected = vectors_expected()
    key = seal.public_key_from_b64(expected["public_key"])
    assert seal.key_id(key) == expected["key_id"]
    assert seal.public_key_b64(key) == expected["public_key"]


def test_the_vectors_seal_verifies_under_the_published_key(vectors: Path) -> None:
    expected = vectors_expected()
    lines = (vectors / "server_sealed_complete.jsonl").read_text().splitlines()
    sealed = json.loads(lines[-1])
    assert seal.seal_signature_valid(
        seal.public_key_from_b64(expected["public_key"]),
        session_id=sealed["session_id"],
        seal_payload=sealed["payload"],
    )


def test_generated_key_is_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "seal.pem"
    key = seal.private_key_generate(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = seal.private_key_load(path)
    assert seal.key_id(loaded.public_key()) == seal.key_id(key.public_key())


def test_generate_never_overwrites_an_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "seal.pem"
    seal.private_key_generate(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        seal.private_key_generate(path)
    assert path.read_bytes() == before


def test_load_or_generate_keeps_the_first_key(tmp_path: Path) -> None:
    path = tmp_path / "seal.pem"
    first = seal.private_key_load_or_generate(path)
    second = seal.private_key_load_or_generate(path)
    assert seal.key_id(first.public_key()) == seal.key_id(second.public_key())


def test_public_key_load_accepts_base64_and_pem_files(
    tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    public = signing_key.public_key()
    b64 = seal.public_key_b64(public)
    public_pem = tmp_path / "public.pem"
    public_pem.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    private_pem = tmp_path / "private.pem"
    private_pem.write_bytes(
        signing_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    b64_file = tmp_path / "public.b64"
    b64_file.write_text(b64 + "\n")
    for spec in (b64, str(public_pem), str(private_pem), str(b64_file)):
        assert seal.key_id(seal.public_key_load(spec)) == seal.key_id(public)


@pytest.mark.parametrize("spec", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_public_key_load_rejects_what_is_not_a_key(spec: str) -> None:
    with pytest.raises(seal.KeyLoadError):
        seal.public_key_load(spec)


def test_private_key_load_explains_bad_files(tmp_path: Path) -> None:
    with pytest.raises(seal.KeyLoadError, match="cannot read"):
        seal.private_key_load(tmp_path / "missing.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    with pytest.raises(seal.KeyLoadError, match="PEM"):
        seal.private_key_load(garbage)
    other = tmp_path / "ec.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(seal.KeyLoadError, match="Ed25519"):
        seal.private_key_load(other)
