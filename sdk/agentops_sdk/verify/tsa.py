"""The RFC 3161 token of a signed tree head, checked against the TSA certificate given.

Needs the optional ``rfc3161-client`` (``pip install agentops-sdk[tsa]``); imported only when
a certificate is given. The certificate file holds PEM certificates: the TSA's own first,
then the chain that issued it, the last being the root trusted (one self-signed certificate
is its own root).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from .. import chain

TOKEN = "tsa_token"


def tsa_available() -> bool:
    try:
        import rfc3161_client  # noqa: F401
    except ImportError:
        return False
    return True


def tsa_token_problem(head: Mapping[str, Any], certificate: bytes) -> str | None:
    """None when the head's token is a valid time-stamp of the signed head; else why not."""
    from cryptography import x509
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    encoded = head.get(TOKEN)
    if not isinstance(encoded, str) or not encoded:
        return "the tree head carries no RFC 3161 time-stamp token"
    try:
        response = decode_timestamp_response(base64.b64decode(encoded, validate=True))
    except (ValueError, binascii.Error) as exc:
        return f"the tree head's time-stamp token cannot be read ({exc})"
    try:
        certificates = x509.load_pem_x509_certificates(certificate)
    except ValueError:
        certificates = [x509.load_der_x509_certificate(certificate)]
    builder = VerifierBuilder().tsa_certificate(certificates[0])
    builder = builder.add_root_certificate(certificates[-1])
    for middle in certificates[1:-1]:
        builder = builder.add_intermediate_certificate(middle)
    signed = chain.canonicalize({k: v for k, v in head.items() if k != TOKEN})
    try:
        builder.build().verify_message(response, signed)
    except (VerificationError, ValueError) as exc:
        return f"the tree head's time-stamp token does not verify ({exc})"
    return None
