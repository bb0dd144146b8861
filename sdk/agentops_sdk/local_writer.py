"""The local writer: self-hashed JSONL session files, with an unsigned seal when asked.

Internal to the client; it runs in the client's sender thread only. ``LocalWriter`` takes
batches from the ``EventQueue`` and writes each session to ``<local_dir>/<session_id>.jsonl``,
one spec §2 envelope a line, chained by this client (``chain_authority = "sdk"``,
``authority_id`` = the client's ``instance_id``). How and why: ``sdk/docs/design.md``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from typing import Any

from .chain import AUTHORITY_SDK, SEAL_EVENT_TYPE, chain_event
from .config import ClientConfig
from .events import payload_snapshot, rfc3339_utc
from .recording import EventQueue, SessionState, new_event
from .seal import seal_payload_build

logger = logging.getLogger("agentops_sdk")


class LocalWriter:
    """Writes the queued events of each session to its file; one per sender thread."""

    #: Nothing is retried locally; kept for the sender thread's accounting.
    retries = 0

    def __init__(self, queue: EventQueue, config: ClientConfig) -> None:
        self._queue = queue
        self._seal = config.seal
        self._authority_id = config.instance_id

    def deliver(self, state: SessionState) -> None:
        """Append what is queued to the session's file; finish (seal, fsync) once ended."""
        queue = self._queue
        if state.dead:
            return
        assert state.path is not None
        while batch := queue.take(state):
            try:
                if state.file is None:
                    state.path.parent.mkdir(parents=True, exist_ok=True)
                    # "x": never append a second chain to an existing session file.
                    state.file = state.path.open("x", encoding="utf-8")
                lines = []
                for event in batch:
                    lines.append(self._chain_line(state, event.proposal(state.session_id)))
                    if event.drop is not None:
                        state.total_drops += event.drop["dropped_count"]
                    state.end_written = state.end_written or event.event_type == "SESSION_END"
                state.file.write("".join(lines))
                state.file.flush()
            except OSError as exc:
                queue.put_back(state, batch)
                queue.kill(state, f"cannot write {state.path}: {exc}")
                close_file(state)
                return
            queue.delivered(state, len(batch), 0)

        if state.ended and not state.pending and state.file is not None:
            try:
                if self._seal and not state.seal_done:
                    seal = seal_payload_build(
                        private_key=None,
                        session_id=state.session_id,
                        ingestion_service_id=self._authority_id,
                        seal_timestamp=rfc3339_utc(time.time_ns()),
                        final_event_hash=state.head_hash or "",
                        event_count=state.written,
                        complete=state.end_written,
                        total_drops=state.total_drops,
                    )
                    event = new_event(state, state.written, SEAL_EVENT_TYPE, payload_snapshot(seal))
                    state.file.write(self._chain_line(state, event.proposal(state.session_id)))
                    state.seal_result = seal
                os.fsync(state.file.fileno())
            except OSError as exc:
                logger.error("agentops: cannot finish %s: %s", state.path, exc)
            finally:
                queue.seal_finished(state)
                close_file(state)

    def close(self, states: list[SessionState]) -> None:
        for state in states:
            close_file(state)

    def _chain_line(self, state: SessionState, proposal: dict[str, Any]) -> str:
        envelope = chain_event(
            proposal,
            prev_event_hash=state.head_hash,
            chain_authority=AUTHORITY_SDK,
            authority_id=self._authority_id,
        )
        state.head_hash = envelope["event_hash"]
        state.written += 1
        return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) + "\n"


def close_file(state: SessionState) -> None:
    if state.file is not None:
        with contextlib.suppress(OSError):
            state.file.close()
        state.file = None
