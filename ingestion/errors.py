"""Errors of the ingestion services.

``IngestionError`` carries a stable ``code``, the HTTP ``status`` the API answers with, a
human ``message`` and machine-readable ``details``. Codes raised by the services and selectors:

=====================  ======  =============================================================
code                   status  raised when
=====================  ======  =============================================================
VALIDATION_ERROR       400     a proposal does not belong to the session it is appended to;
                               a document given to export_verify is not a compliance export
PAYLOAD_HASH_MISMATCH  400     a supplied payload_hash differs (details: index, supplied,
                               computed)
AUTHORITY_VIOLATION    403     a producer proposed a CHAIN_SEAL
SESSION_NOT_FOUND      404     no such session in the project (``session_not_found``)
API_KEY_NOT_FOUND      404     no API key with the prefix (api_key_revoke)
SESSION_CONFLICT       409     a session id is already used by another project
SESSION_SEALED         409     appending to a sealed session
SEQUENCE_GAP           409     the batch does not continue the chain (details:
                               expected_sequence, got, index)
SEQUENCE_CONFLICT      409     a sequence number or event id is reused with other content
                               (details: index, sequence_number, event_id)
ORDERING_VIOLATION     409     first event not SESSION_START, a second SESSION_START, or an
                               event after SESSION_END (details: index, sequence_number)
EMPTY_SESSION          409     sealing a session that holds no event
NON_CANONICAL_VALUE    422     a payload value RFC 8785 cannot represent (details: index,
                               path, reason)
POLICY_VIOLATION       409/413 raised by a configured batch check (AGENTOPS_BATCH_CHECKS)
=====================  ======  =============================================================
"""

from __future__ import annotations

from typing import Any


class IngestionError(Exception):
    """A refusal the API reports to the caller as ``{"error": {code, message, details}}``."""

    def __init__(
        self, code: str, message: str, *, status: int, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details if details is not None else {}

    def __repr__(self) -> str:
        return f"IngestionError({self.code!r}, {self.message!r}, status={self.status})"


def session_not_found() -> IngestionError:
    """The one answer for a session the caller cannot see: a malformed id, no such session, or
    another project's. Built in one place so that the three can never be told apart."""
    return IngestionError("SESSION_NOT_FOUND", "session not found", status=404)


class AppendOnlyError(RuntimeError):
    """Code tried to change or delete stored evidence through the ORM."""
