"""RFC 3161 time-stamping of signed tree heads (``AGENTOPS_TSA_URL``).

A tree head's own timestamp is the operator's word; a time-stamping authority's token over
the signed head (RFC 8785 bytes) shows a third party saw it by then. The stored value is the
authority's whole TimeStampResp (DER), which ``agentops-verify --tsa-cert`` checks.
"""

from __future__ import annotations

import logging
import urllib.request

from rfc3161_client import PKIStatus, TimestampRequestBuilder, decode_timestamp_response

logger = logging.getLogger(__name__)

TIMEOUT = 10


def timestamp_request(*, url: str, data: bytes) -> bytes:
    """The authority's response for ``data``; empty bytes (logged) when it cannot be had, so
    that a head is still signed while the authority is down."""
    query = TimestampRequestBuilder().data(data).nonce(nonce=True).cert_request(cert_request=True)
    request = query.build()
    http = urllib.request.Request(  # noqa: S310 - the operator's configured URL
        url,
        data=request.as_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(http, timeout=TIMEOUT) as answer:  # noqa: S310
            body = answer.read()
        response = decode_timestamp_response(body)
    except (OSError, ValueError) as exc:
        logger.error("the time-stamping authority %s did not answer: %s", url, exc)
        return b""
    if PKIStatus(response.status) != PKIStatus.GRANTED:
        logger.error("the time-stamping authority %s refused: %s", url, response.status_string)
        return b""
    if response.tst_info.nonce != request.nonce:
        logger.error("the time-stamping authority %s answered another request", url)
        return b""
    return body
