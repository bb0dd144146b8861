"""The remote sender: batches to the ingestion service, refusals, re-synchronisation, sealing.

Internal to the client; it runs in the client's sender thread only. ``RemoteSender`` takes
batches from the ``EventQueue``, sends them through a ``Transport`` (which retries with backoff,
full jitter and ``Retry-After``), sets aside the batches it gives up on, re-synchronises the
session with the service's stored head (those batches become a ``NETWORK_LOSS`` ``LOG_DROP``)
and seals ended sessions. How and why: ``sdk/docs/design.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from .config import ClientConfig
from .recording import EventQueue, SessionState
from .transport import RetryPolicy, Transport

logger = logging.getLogger("agentops_sdk")

#: A session stops sending after this many refused batches in a row.
MAX_REFUSALS_IN_A_ROW = 3


class RemoteSender:
    """Delivers the queued events of each session to the service; one per sender thread."""

    def __init__(self, queue: EventQueue, config: ClientConfig) -> None:
        assert config.server_url and config.api_key
        self._queue = queue
        self._seal = config.seal
        self._http = Transport(
            server_url=config.server_url,
            api_key=config.api_key,
            policy=RetryPolicy(
                base=config.backoff_base,
                cap=config.backoff_cap,
                budget=config.retry_budget,
                max_attempts=config.max_attempts,
            ),
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            sleep=queue.pause,
            stop_at=queue.stop_time,
        )

    @property
    def retries(self) -> int:
        """HTTP attempts beyond the first, over the sender's life."""
        return self._http.retries

    def deliver(self, state: SessionState) -> None:
        """Create the session if needed, send what is queued, then seal it once ended."""
        queue, http = self._queue, self._http
        if state.dead:
            return
        if not state.created:
            reply = http.session_create(
                session_id=state.session_id, agent_id=state.agent_id, metadata=state.metadata
            )
            if not reply.ok:
                if not reply.retryable:
                    queue.kill(state, f"session refused: {reply.describe()}")
                return
            state.created = True

        while True:
            if state.needs_resync and not self._resync(state):
                return
            batch = queue.take(state)
            if not batch:
                break
            wire = [event.wire(state.session_id) for event in batch]
            reply = http.events_append(state.session_id, wire)
            if reply.ok:
                body = reply.body if isinstance(reply.body, Mapping) else {}
                accepted = body.get("accepted", len(batch))
                duplicates = body.get("duplicates", 0)
                queue.delivered(state, int(accepted), int(duplicates))
                state.refusals = 0
                continue
            if reply.status in (401, 404) or reply.code == "SESSION_SEALED":
                queue.put_back(state, batch)
                queue.kill(state, reply.describe())
                return
            if reply.status == 413 and len(batch) > 1:
                # Too large for the service: halve the batches rather than lose the events.
                queue.put_back(state, batch)
                state.batch_limit = max(1, len(batch) // 2)
                continue
            if reply.code == "SEQUENCE_GAP":
                queue.put_back(state, batch)
                queue.resync_needed(state)
            else:
                queue.abandon(state, batch, reply)
                if reply.retryable:
                    # Given up, not refused: re-synchronise right away. If the service is
                    # still unreachable, that fails too and the next round tries again.
                    continue
            state.refusals += 1
            if state.refusals >= MAX_REFUSALS_IN_A_ROW:
                queue.kill(state, f"{state.refusals} batches refused in a row")
                return

        if state.ended and self._seal and not state.seal_done:
            reply = http.session_seal(state.session_id)
            if reply.ok or not reply.retryable:
                result = reply.body if reply.ok and isinstance(reply.body, dict) else None
                queue.seal_finished(state, result)
                if not reply.ok:
                    logger.error(
                        "agentops: session %s not sealed: %s", state.session_id, reply.describe()
                    )

    def close(self, states: list[SessionState]) -> None:
        self._http.close()

    def _resync(self, state: SessionState) -> bool:
        reply = self._http.session_get(state.session_id)
        if not reply.ok:
            if not reply.retryable:
                self._queue.kill(state, f"cannot re-synchronise: {reply.describe()}")
            return False
        head = head_sequence(reply.body)
        if head is None:
            logger.error("agentops: unexpected session body from the service: %r", reply.body)
            return False
        self._queue.reconcile(state, head)
        return True


def head_sequence(body: object) -> int | None:
    """The stored head's sequence number from a session object; -1 for an empty session."""
    if not isinstance(body, Mapping):
        return None
    head = body.get("head")
    if head is None:
        return -1
    if not isinstance(head, Mapping):
        return None
    number: object = head.get("sequence_number")
    if number is None:
        return -1
    return number if type(number) is int and number >= -1 else None
