"""CHAIN_SEAL helpers (spec §6): the signed message, Ed25519 keys and their ids."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .chain import SPEC_VERSION, canonicalize

SIGNATURE_ALG = "Ed25519"
#: Fields a seal must carry to be a seal at all (missing one is INVALID_SEAL).
REQUIRED_SEAL_FIELDS = ("ingestion_service_id", "seal_timestamp", "session_digest")


class KeyLoadError(ValueError):
    """A key that cannot be read or is not an Ed25519 key."""


def public_key_raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64(public_key: Ed25519PublicKey) -> str:
    return base64.b64encode(public_key_raw(public_key)).decode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex characters of SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(public_key_raw(public_key)).hexdigest()[:16]


def seal_message(
    *,
    session_id: str,
    ingestion_service_id: str,
    seal_timestamp: str,
    session_digest: str,
    event_count: int,
    complete: bool,
    total_drops: int,
) -> bytes:
    """The exact bytes an Ed25519 seal signature covers."""
    return canonicalize(
        {
            "session_id": session_id,
            "ingestion_service_id": ingestion_service_id,
            "seal_timestamp": seal_timestamp,
            "session_digest": session_digest,
            "event_count": event_count,
            "complete": complete,
            "total_drops": total_drops,
            "spec_version": SPEC_VERSION,
        }
    )


def seal_payload_build(
    *,
    private_key: Ed25519PrivateKey | None,
    session_id: str,
    ingestion_service_id: str,
    seal_timestamp: str,
    final_event_hash: str,
    event_count: int,
    complete: bool,
    total_drops: int,
) -> dict[str, Any]:
    """The payload of a CHAIN_SEAL; signed when a private key is given, unsigned otherwise."""
    payload: dict[str, Any] = {
        "ingestion_service_id": ingestion_service_id,
        "seal_timestamp": seal_timestamp,
        "session_digest": "sha256:" + final_event_hash,
        "final_event_hash": final_event_hash,
        "event_count": event_count,
        "complete": complete,
        "total_drops": total_drops,
    }
    if private_key is not None:
        message = seal_message(
            session_id=session_id,
            ingestion_service_id=ingestion_service_id,
            seal_timestamp=seal_timestamp,
            session_digest=payload["session_digest"],
            event_count=event_count,
            complete=complete,
            total_drops=total_drops,
        )
        payload["signature"] = {
            "alg": SIGNATURE_ALG,
            "key_id": key_id(private_key.public_key()),
            "value": base64.b64encode(private_key.sign(message)).decode("ascii"),
        }
    return payload


def seal_signature_valid(
    public_key: Ed25519PublicKey, *, session_id: str, seal_payload: Mapping[str, Any]
) -> bool:
    """True when the seal's signature verifies under ``public_key``; never raises."""
    signature = seal_payload.get("signature")
    if not isinstance(signature, Mapping) or signature.get("alg") != SIGNATURE_ALG:
        return False
    value = signature.get("value")
    if not isinstance(value, str):
        return False
    # The statement as the seal makes it, absent members as null: a value of another type
    # than the service signs simply fails the signature.
    stated: dict[str, Any] = {
        name: seal_payload.get(name) for name in ("event_count", "complete", "total_drops")
    }
    try:
        raw = base64.b64decode(value, validate=True)
        message = seal_message(
            session_id=session_id,
            ingestion_service_id=seal_payload["ingestion_service_id"],
            seal_timestamp=seal_payload["seal_timestamp"],
            session_digest=seal_payload["session_digest"],
            **stated,
        )
        public_key.verify(raw, message)
    except (InvalidSignature, binascii.Error, KeyError, ValueError, TypeError):
        return False
    return True


# --------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------


def private_key_generate(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Create a new Ed25519 key and write it as PKCS#8 PEM, readable by the owner only."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: never overwrite a key that already exists (it may sign live seals).
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def private_key_load(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"cannot read private key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyLoadError(f"{path} is not an Ed25519 key")
    return key


def private_key_load_or_generate(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    try:
        return private_key_generate(path)
    except FileExistsError:
        return private_key_load(path)


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except binascii.Error as exc:
        raise KeyLoadError("public key is not valid base64") from exc
    if len(raw) != 32:
        raise KeyLoadError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_from_pem(data: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyLoadError("not a PEM Ed25519 key") from exc
        key = private.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise KeyLoadError("not an Ed25519 key")
    return key


def public_key_load(spec: str) -> Ed25519PublicKey:
    """A public key given as raw base64, or as a path to a PEM file (public or private)."""
    candidate = Path(spec)
    if "-----BEGIN" in spec:
        return public_key_from_pem(spec.encode("ascii", "replace"))
    if candidate.is_file():
        try:
            data = candidate.read_bytes()
        except OSError as exc:
            raise KeyLoadError(f"cannot read key file {spec}: {exc.strerror}") from exc
        if b"-----BEGIN" in data:
            return public_key_from_pem(data)
        return public_key_from_b64(data.decode("ascii", "replace"))
    return public_key_from_b64(spec)
