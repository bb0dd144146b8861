"""What the ingestion service does: start sessions, append to them, seal and verify them.

The service is the chain authority (spec §1, §5): it recomputes every hash through
``agentops_sdk.chain`` and stores events with ``chain_authority = "server"``. Every write
locks the session row (``select_for_update``) in one short transaction, so concurrent
appends and seals of one session are serialized and the chain stays linear.

Extension points, both lists of dotted paths to callables:

``AGENTOPS_BATCH_CHECKS``
    Each is called as ``check(session=session, proposals=envelopes, event_count_after=n,
    payload_bytes=sizes)``
    inside the append transaction, after the lock and after the chain checks, before anything
    is stored. ``session`` is the locked ``Session`` (its counters not yet updated),
    ``envelopes`` the list of complete §2 envelopes about to be stored (duplicates excluded;
    never empty), ``n`` the session's event count once they are stored, ``sizes`` the byte
    length of each envelope's canonical payload (so size rules need not serialize it again).
    A check refuses the batch by raising ``IngestionError`` (e.g. POLICY_VIOLATION); nothing
    is then stored.

``AGENTOPS_SEAL_HOOKS``
    Each is called as ``hook(session=session)`` after the transaction that sealed the session
    has committed (``transaction.on_commit``, robust: a failing hook is logged and does not
    undo or hide the seal). Not called when a seal request finds the session already sealed.

One module a job: ``sessions`` (start, the row lock), ``append`` (checks and the chain),
``copy_writer`` (storing a batch in one statement), ``seal``, ``verification`` (the history
of verifications) and ``api_keys``; ``callers`` words who asked. Everything callers outside
the package need is importable from here.
"""

from .api_keys import api_key_create, api_key_revoke
from .append import AppendResult, events_append
from .callers import Caller
from .seal import SERVICE_SOURCE_VER, SealResult, session_seal, sessions_seal_stale
from .sessions import session_start
from .verification import events_verify, export_verify, session_verify

__all__ = [
    "SERVICE_SOURCE_VER",
    "AppendResult",
    "Caller",
    "SealResult",
    "api_key_create",
    "api_key_revoke",
    "events_append",
    "events_verify",
    "export_verify",
    "session_seal",
    "session_start",
    "session_verify",
    "sessions_seal_stale",
]
