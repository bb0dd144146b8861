"""The export signature: the whole compliance export, not only its events."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .. import chain, seal
from .codes import EXPORT_FORMAT, EXPORT_SIGNATURE

#: What an export signature signs, in words (also written into the signature member).
EXPORT_SIGNED_FORM = (
    "Ed25519 over the RFC 8785 statement {alg, document_sha256, export_format, "
    "spec_version}, where document_sha256 is the SHA-256 of the RFC 8785 form of the whole "
    "document without export_signature"
)
#: The part of an export the seal's signature covers (through the hash chain).
SEAL_COVERS = ("events",)


def export_document_sha256(document: Mapping[str, Any]) -> str:
    """SHA-256 of the RFC 8785 form of ``document`` without its export signature."""
    unsigned = {key: value for key, value in document.items() if key != EXPORT_SIGNATURE}
    return chain.sha256_hex(chain.canonicalize(unsigned))


def export_signature_message(document_sha256: str) -> bytes:
    """The exact bytes an export signature covers: a statement naming the document's hash.

    Signing the hash rather than the document lets the service sign an export of any size
    as it streams it; SHA-256 binds every byte of the document's canonical form.
    """
    return chain.canonicalize(
        {
            "alg": seal.SIGNATURE_ALG,
            "document_sha256": document_sha256,
            "export_format": EXPORT_FORMAT,
            "spec_version": chain.SPEC_VERSION,
        }
    )


def export_signature_build(private_key: Any, document_sha256: str) -> dict[str, Any]:
    """The ``export_signature`` member of an export whose unsigned form hashes to
    ``document_sha256``, signed with ``private_key`` (the service's sealing key)."""
    public = private_key.public_key()
    signature = private_key.sign(export_signature_message(document_sha256))
    return {
        "alg": seal.SIGNATURE_ALG,
        "key_id": seal.key_id(public),
        "public_key": seal.public_key_b64(public),
        "document_sha256": document_sha256,
        "signed": EXPORT_SIGNED_FORM,
        "value": base64.b64encode(signature).decode("ascii"),
    }


@dataclass
class ExportSignatureCheck:
    """What the check of a compliance export's signature found."""

    present: bool
    covers: list[str]  # the document's members the signature covers (all but itself)
    key_id: Any = None
    signature_checked: bool = False
    signature_valid: bool | None = None
    key_trusted: bool = False
    document_sha256: str | None = None  # recomputed from the document as read
    problem: str | None = None  # why it is invalid

    def section(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "key_id": self.key_id if type(self.key_id) is str else None,
            "signature_checked": self.signature_checked,
            "signature_valid": self.signature_valid,
            "key_trusted": self.key_trusted,
            "document_sha256": self.document_sha256,
            "covers": self.covers if self.present else [],
        }

    def coverage(self, seal_report: Mapping[str, Any] | None) -> dict[str, list[str]]:
        """Each part of the document under the valid signatures that cover it."""
        seal_valid = bool(seal_report and seal_report.get("signature_valid"))
        by_seal = [name for name in SEAL_COVERS if seal_valid and name in self.covers]
        by_export = list(self.covers) if self.signature_valid else []
        return {
            "seal_signature": by_seal,
            "export_signature": by_export,
            "not_covered": [name for name in self.covers if name not in by_seal + by_export],
        }


def _signature_bytes(member: Mapping[str, Any]) -> bytes | None:
    value = member.get("value")
    if member.get("alg") != seal.SIGNATURE_ALG or type(value) is not str:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def export_signature_check(
    document: Mapping[str, Any],
    *,
    trusted_keys: Iterable[Ed25519PublicKey] = (),
    trusted_key_ids: Iterable[str] = (),
) -> ExportSignatureCheck:
    """Check the export signature with the same trust rules as the seal: the caller's keys
    when there are any; otherwise the key embedded in the signature, trusted only when its
    key id is one the caller named."""
    covers = sorted((name for name in document if name != EXPORT_SIGNATURE), key=str)
    member = document.get(EXPORT_SIGNATURE)
    if member is None:
        return ExportSignatureCheck(present=False, covers=covers)
    result = ExportSignatureCheck(present=True, covers=covers)
    if not isinstance(member, Mapping):
        result.signature_valid = False
        result.problem = "export_signature is not an object"
        return result
    result.key_id = member.get("key_id")
    raw = _signature_bytes(member)
    try:
        result.document_sha256 = export_document_sha256(document)
    except chain.NonCanonicalValueError as exc:
        result.signature_valid = False
        result.problem = f"the document holds a value RFC 8785 cannot represent: {exc}"
        return result
    if raw is None:
        result.signature_valid = False
        result.problem = "export_signature must hold alg 'Ed25519' and a base64 value"
        return result

    wanted = {kid.strip().lower() for kid in trusted_key_ids}
    trusted = [(key, seal.key_id(key)) for key in trusted_keys]
    embedded = None
    if type(member.get("public_key")) is str:
        try:
            embedded = seal.public_key_from_b64(member["public_key"])
        except (seal.KeyLoadError, ValueError):
            embedded = None
    if embedded is not None and seal.key_id(embedded) in wanted:
        trusted.append((embedded, seal.key_id(embedded)))
    message = export_signature_message(result.document_sha256)

    def valid_under(key: Ed25519PublicKey) -> bool:
        try:
            key.verify(raw, message)
        except InvalidSignature:
            return False
        return True

    changed = (
        "the document was changed after the service signed it (a part such as the session, "
        "findings, chain of custody, notices or disclaimer differs)"
    )
    if trusted:
        result.signature_checked = result.key_trusted = True
        for key, kid in sorted(trusted, key=lambda pair: pair[1] != result.key_id):
            if valid_under(key):
                result.signature_valid = True
                result.key_id = kid
                return result
        result.signature_valid = False
        result.problem = f"the export signature does not verify under the trusted key(s): {changed}"
    elif embedded is not None:
        result.signature_checked = True
        result.key_id = seal.key_id(embedded)
        result.signature_valid = valid_under(embedded)
        if not result.signature_valid:
            result.problem = (
                f"the export signature does not verify under the key embedded in it: {changed}"
            )
    return result
