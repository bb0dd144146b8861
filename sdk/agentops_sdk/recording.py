"""Numbering and the bounded queue, shared by the agent's threads and the sender thread.

Internal to the client (the public objects are in ``agentops_sdk.client``). ``EventQueue``
checks and numbers what ``record()`` is given, refuses events at the door when the queue is
full (``BUFFER_FULL``), places the ``LOG_DROP`` markers, hands batches to the sender thread and
renumbers the unsent events after a loss (``NETWORK_LOSS``). ``PendingEvent`` is one event
waiting to be sent, ``SessionState`` what is tracked for one session. How and why:
``sdk/docs/design.md``.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import SOURCE_SDK_VER, events
from .chain import (
    MAX_ERROR_MESSAGE_CHARS,
    PRODUCER_EVENT_TYPES,
    SEAL_EVENT_TYPE,
    SESSION_END_STATUSES,
    SPEC_VERSION,
    payload_problems,
)
from .config import ClientConfig
from .events import SDK_EVENT_TYPES, PayloadError, payload_snapshot, rfc3339_utc, safe_text

if TYPE_CHECKING:  # numbering needs no HTTP; only the sender's replies are described
    from .transport import Reply

logger = logging.getLogger("agentops_sdk")

#: A full queue is reported at most this often (seconds), not once per dropped event.
FULL_QUEUE_WARNING_INTERVAL = 10.0

STAT_NAMES = (
    "recorded",  # events placed in the queue (the agent's and the SDK's own)
    "sent",  # events the service stored (remote) or written to the file (local)
    "duplicates",  # events the service already held (a retry of a stored batch)
    "invalid",  # record() calls whose input could not be recorded as given
    "dropped_buffer_full",  # events refused because the queue was full
    "dropped_network_loss",  # events in batches the service never stored
    "dropped_unsent",  # events left unsent: dead session, close() timeout, after close()
    "retries",  # HTTP attempts beyond the first
    "batches",  # batches acknowledged (remote) or written (local)
)


class PendingEvent:
    """One event waiting in the queue (or in flight), proposal fields only."""

    __slots__ = (
        "_wire",
        "drop",
        "event_id",
        "event_type",
        "monotonic_ms",
        "payload_json",
        "sequence_number",
        "timestamp_wall",
        "wall_ns",
    )

    def __init__(
        self,
        sequence_number: int,
        event_type: str,
        payload_json: bytes,
        wall_ns: int,
        monotonic_ms: int,
        drop: dict[str, Any] | None = None,
    ) -> None:
        self.sequence_number = sequence_number
        self.event_type = event_type
        self.payload_json = payload_json
        self.wall_ns = wall_ns
        self.monotonic_ms = monotonic_ms
        self.drop = drop  # a LOG_DROP's payload, kept so cumulative_drops can be raised
        self.event_id: str | None = None
        self.timestamp_wall: str | None = None
        self._wire: bytes | None = None

    def renumber(self, sequence_number: int) -> None:
        if sequence_number != self.sequence_number:
            self.sequence_number = sequence_number
            self._wire = None

    def raise_cumulative(self, by: int) -> None:
        assert self.drop is not None
        self.drop["cumulative_drops"] += by
        self.payload_json = payload_snapshot(self.drop)
        self._wire = None

    def _fix_identity(self) -> None:
        # Made on first use, in the sender thread, and never changed: retries resend them.
        if self.event_id is None:
            self.event_id = events.new_id()
            self.timestamp_wall = rfc3339_utc(self.wall_ns)

    def fields(self, session_id: str) -> dict[str, Any]:
        self._fix_identity()
        return {
            "event_id": self.event_id,
            "session_id": session_id,
            "sequence_number": self.sequence_number,
            "timestamp_wall": self.timestamp_wall,
            "timestamp_monotonic": self.monotonic_ms,
            "event_type": self.event_type,
            "source_sdk_ver": SOURCE_SDK_VER,
            "schema_ver": SPEC_VERSION,
        }

    def wire(self, session_id: str) -> bytes:
        """The proposal as JSON bytes, the payload spliced in from its snapshot unchanged."""
        if self._wire is None:
            head = json.dumps(self.fields(session_id), separators=(",", ":"))
            self._wire = head[:-1].encode("utf-8") + b',"payload":' + self.payload_json + b"}"
        return self._wire

    def proposal(self, session_id: str) -> dict[str, Any]:
        return {**self.fields(session_id), "payload": json.loads(self.payload_json)}


class SessionState:
    """Everything the client tracks for one session; guarded by the queue's lock."""

    def __init__(self, session_id: str, agent_id: str, metadata: dict[str, Any]) -> None:
        self.session_id = session_id
        self.agent_id = agent_id
        self.metadata = metadata
        self.started_ns = time.monotonic_ns()
        self.next_seq = 0
        self.pending: collections.deque[PendingEvent] = collections.deque()
        self.overflow = 0  # events refused at the door since the last BUFFER_FULL marker
        self.cumulative_drops = 0
        self.start_event: PendingEvent | None = None
        self.end_event: PendingEvent | None = None
        self.ended = False
        self.dead = False
        self.in_flight = False
        self.needs_resync = False
        self.abandoned: list[PendingEvent] = []  # batches given up on, fate unknown until resync
        self.seal_done = False
        self.seal_result: dict[str, Any] | None = None
        # Sender-thread only.
        self.created = False
        self.refusals = 0
        self.batch_limit = 0
        # Local mode (sender-thread only).
        self.path: Path | None = None
        self.file: IO[str] | None = None
        self.head_hash: str | None = None
        self.written = 0
        self.total_drops = 0
        self.end_written = False


class EventQueue:
    """The sessions being recorded, their queued events and the client's counters.

    One lock guards all of it. Methods marked "lock held" expect the caller to hold ``lock``;
    the others take it themselves. ``work`` wakes the sender thread, ``progress`` wakes the
    threads waiting in ``flush()`` or ``close()``.
    """

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.work = threading.Condition(self.lock)
        self.progress = threading.Condition(self.lock)
        self.states: dict[str, SessionState] = {}
        self.queued = 0
        self.stats: dict[str, int] = dict.fromkeys(STAT_NAMES, 0)
        self.wake = False
        self.full_warned_at = float("-inf")
        self.closed = False
        self.stop_at = float("inf")

    # -- the agent's side -------------------------------------------------------------------

    def session_add(self, state: SessionState, start_json: bytes) -> bool:
        """Queue ``SESSION_START`` of a new session; False once closed (lock held)."""
        if state.session_id in self.states:
            raise ValueError(f"session {state.session_id} is already being recorded")
        if self.closed:
            state.dead = True
            self.stats["dropped_unsent"] += 1
            return False
        self.states[state.session_id] = state
        state.start_event = self._append(state, "SESSION_START", start_json)
        return True

    def record(
        self, state: SessionState, event_type: str, payload: Mapping[str, Any] | None
    ) -> None:
        self.enqueue(state, event_type, payload_checked(event_type, payload, self.config))

    def enqueue(self, state: SessionState, event_type: Any, checked: bytes | str) -> None:
        """Queue the snapshot ``checked``, or an ERROR event in place of an invalid event."""
        problem = checked if isinstance(checked, str) else None
        if problem is not None:
            shown = safe_text(event_type if isinstance(event_type, str) else repr(event_type), 100)
            problem = f"{shown} event not recorded: {problem}"
            checked = payload_snapshot(
                {
                    "error_type": "INVALID_EVENT",
                    "message": safe_text(problem, MAX_ERROR_MESSAGE_CHARS),
                    "fatal": False,
                    "rejected_event_type": shown,
                }
            )
            event_type = "ERROR"
        assert isinstance(checked, bytes)
        with self.lock:
            if problem is not None:
                self.stats["invalid"] += 1
            if self.closed or state.dead:
                self.stats["dropped_unsent"] += 1
                outcome = "closed"
            elif state.ended:
                self.stats["invalid"] += 1
                outcome = "ended"
            elif self.queued >= self.config.queue_size:
                state.overflow += 1
                self.stats["dropped_buffer_full"] += 1
                outcome = "still full"
                now = time.monotonic()
                if now - self.full_warned_at >= FULL_QUEUE_WARNING_INTERVAL:
                    self.full_warned_at = now
                    outcome = "full"
            else:
                if state.overflow:
                    self._append_buffer_full_marker(state)
                self._append(state, event_type, checked)
                outcome = "queued"
        # Logging happens outside the lock: handlers may be slow.
        if problem is not None:
            logger.warning("agentops: %s (recorded as an ERROR event)", problem)
        if outcome == "full":
            logger.warning(
                "agentops: queue full (%d events); dropping events until it drains, each "
                "loss recorded by a LOG_DROP (%d dropped so far)",
                self.config.queue_size,
                self.stats["dropped_buffer_full"],
            )
        elif outcome == "ended":
            logger.warning(
                "agentops: %s event after session %s ended; not recorded",
                event_type,
                state.session_id,
            )
        elif outcome == "closed":
            logger.debug("agentops: %s event after close(); not recorded", event_type)

    def session_end(self, state: SessionState, status: str, extra: Mapping[str, Any]) -> None:
        """Queue ``SESSION_END`` once; ``status`` and ``extra`` per spec §4."""
        duration_ms = (time.monotonic_ns() - state.started_ns) // 1_000_000
        checked = end_checked(status, duration_ms, extra)
        if isinstance(checked, str):
            # The session still ends: an agent must not lose its SESSION_END to a typo.
            self.count("invalid")
            logger.warning("agentops: SESSION_END details left out: %s", checked)
            if status not in SESSION_END_STATUSES:
                status = "failure"
            checked = payload_snapshot(events.session_end(status, duration_ms))
        data = checked
        with self.lock:
            if state.ended or state.dead or self.closed:
                return
            if state.overflow:
                self._append_buffer_full_marker(state)
            state.end_event = self._append(state, "SESSION_END", data)
            state.ended = True
            self.wake = True
            self.work.notify()

    def count(self, name: str, by: int = 1) -> None:
        with self.lock:
            self.stats[name] += by

    # -- numbering (lock held) --------------------------------------------------------------

    def _append(self, state: SessionState, event_type: str, data: bytes) -> PendingEvent:
        event = new_event(state, state.next_seq, event_type, data)
        state.next_seq += 1
        state.pending.append(event)
        self.queued += 1
        self.stats["recorded"] += 1
        if len(state.pending) == self.config.batch_size:
            self.work.notify()
        return event

    def _drop_marker(
        self,
        state: SessionState,
        count: int,
        reason: str,
        sequence_range: tuple[int, int] | None = None,
    ) -> PendingEvent:
        """A LOG_DROP for ``count`` more lost events, not yet numbered or queued."""
        state.cumulative_drops += count
        drop = events.log_drop(
            dropped_count=count,
            cumulative_drops=state.cumulative_drops,
            drop_reason=reason,
            sequence_range=sequence_range,
        )
        marker = new_event(state, -1, "LOG_DROP", payload_snapshot(drop))
        marker.drop = drop
        return marker

    def _append_buffer_full_marker(self, state: SessionState) -> None:
        marker = self._drop_marker(state, state.overflow, "BUFFER_FULL")
        state.overflow = 0
        marker.sequence_number = state.next_seq
        state.next_seq += 1
        state.pending.append(marker)
        self.queued += 1
        self.stats["recorded"] += 1

    # -- the sender's side ------------------------------------------------------------------

    def take(self, state: SessionState) -> list[PendingEvent]:
        """The next batch of ``state`` (at most its batch limit), now in flight."""
        with self.lock:
            if state.dead:
                return []
            if state.overflow and self.queued < self.config.queue_size:
                self._append_buffer_full_marker(state)
            count = min(len(state.pending), state.batch_limit)
            batch = [state.pending.popleft() for _ in range(count)]
            self.queued -= count
            state.in_flight = bool(batch)
            return batch

    def put_back(self, state: SessionState, batch: list[PendingEvent]) -> None:
        """Return a batch that was not stored to the head of the queue, unchanged."""
        with self.lock:
            state.pending.extendleft(reversed(batch))
            self.queued += len(batch)
            state.in_flight = False

    def delivered(self, state: SessionState, sent: int, duplicates: int) -> None:
        with self.lock:
            state.in_flight = False
            self.stats["sent"] += sent
            self.stats["duplicates"] += duplicates
            self.stats["batches"] += 1

    def abandon(self, state: SessionState, batch: list[PendingEvent], reply: Reply) -> None:
        """Set aside a batch given up on; the next re-synchronisation decides its fate."""
        with self.lock:
            state.abandoned.extend(batch)
            state.needs_resync = True
            state.in_flight = False
        logger.warning(
            "agentops: batch of %d events (sequence %d-%d) of session %s not stored: %s",
            len(batch),
            batch[0].sequence_number,
            batch[-1].sequence_number,
            state.session_id,
            reply.describe(),
        )

    def resync_needed(self, state: SessionState) -> None:
        with self.lock:
            state.needs_resync = True

    def kill(self, state: SessionState, why: str) -> None:
        """Stop sending for ``state``; whatever it still holds is counted as unsent."""
        with self.lock:
            lost = len(state.pending) + len(state.abandoned)
            self.queued -= len(state.pending)
            state.pending.clear()
            state.abandoned.clear()
            state.dead = True
            state.in_flight = False
            state.needs_resync = False
            self.stats["dropped_unsent"] += lost + state.overflow
            state.overflow = 0
        logger.error(
            "agentops: session %s stops sending (%s); %d events not delivered",
            state.session_id,
            why,
            lost,
        )

    def reconcile(self, state: SessionState, head: int) -> None:
        """Make the unsent events continue the service's chain at ``head`` (-1: empty).

        The rules applied here: "Batch lost" in ``sdk/docs/design.md``.
        """
        with self.lock:
            first = state.pending[0].sequence_number if state.pending else state.next_seq
            landed = [ev for ev in state.abandoned if ev.sequence_number <= head]
            lost = [ev for ev in state.abandoned if ev.sequence_number > head]
            state.abandoned = []
            self.stats["sent"] += len(landed)

            resend = [ev for ev in lost if ev.event_type in SDK_EVENT_TYPES]
            starts_chain = bool(state.pending) and state.pending[0].event_type == "SESSION_START"
            if head < 0 and not starts_chain and state.start_event not in resend:
                assert state.start_event is not None
                resend.insert(0, state.start_event)  # the service lost it: a chain needs it
            missing = first - (head + 1)
            lost_count = max(0, missing - len(resend))

            prefix = [ev for ev in resend if ev.event_type != "SESSION_END"]
            if lost_count:
                self.stats["dropped_network_loss"] += lost_count
                prefix.append(
                    self._drop_marker(state, lost_count, "NETWORK_LOSS", (head + 1, first - 1))
                )
                for event in state.pending:
                    if event.drop is not None:
                        event.raise_cumulative(lost_count)
            prefix.extend(ev for ev in resend if ev.event_type == "SESSION_END")

            number = head + 1
            for event in (*prefix, *state.pending):
                event.renumber(number)
                number += 1
            state.next_seq = number
            state.pending.extendleft(reversed(prefix))
            self.queued += len(prefix)
            state.needs_resync = False
        if lost_count or missing < 0:
            logger.warning(
                "agentops: session %s re-synchronised at sequence %d: %d events lost, "
                "unsent events renumbered from %d",
                state.session_id,
                head,
                lost_count,
                head + 1,
            )

    def seal_finished(self, state: SessionState, result: dict[str, Any] | None = None) -> None:
        """Sealing is over for ``state`` (done or given up); ``result`` if the service's."""
        with self.lock:
            state.seal_done = True
            if result is not None:
                state.seal_result = result

    def settled(self, state: SessionState) -> bool:
        """Nothing left to do for ``state`` (lock held)."""
        if state.dead:
            return True
        if state.pending or state.in_flight or state.needs_resync or state.overflow:
            return False
        return not (state.ended and self.config.seal and not state.seal_done)

    # -- the sender thread's rounds ----------------------------------------------------------

    def next_round(self) -> list[SessionState]:
        """Wait for work (a full batch, an end, flush, close) or ``flush_interval``."""
        with self.lock:
            if not self.wake:
                wait = self.config.flush_interval
                if self.closed:
                    wait = min(wait, self.stop_at - time.monotonic())
                if wait > 0:
                    self.work.wait(wait)
            self.wake = False
            return list(self.states.values())

    def round_done(self, states: list[SessionState], retries: int) -> bool:
        """Forget settled sessions and wake waiters; True when the sender should stop."""
        with self.lock:
            self.stats["retries"] += retries
            for state in states:
                if (state.ended or state.dead) and self.settled(state):
                    self.states.pop(state.session_id, None)
            self.progress.notify_all()
            return self.closed and (
                all(self.settled(s) for s in self.states.values())
                or time.monotonic() >= self.stop_at
            )

    def sender_stopped(self) -> list[SessionState]:
        """Wake the waiters a last time; the sessions still held (their files to close)."""
        with self.lock:
            remaining = list(self.states.values())
            self.progress.notify_all()
        return remaining

    def pause(self, seconds: float) -> None:
        """Sleep between retries, cut short by close()'s deadline."""
        end = time.monotonic() + seconds
        with self.lock:
            while (remaining := min(end, self.stop_at) - time.monotonic()) > 0:
                self.work.wait(remaining)

    def stop_time(self) -> float:
        return self.stop_at

    # -- flush, close, stats ---------------------------------------------------------------

    def wake_sender(self) -> None:
        """Ask the sender thread for a round now (lock held)."""
        self.wake = True
        self.work.notify()

    def all_settled(self) -> bool:
        """(lock held)"""
        return all(self.settled(state) for state in self.states.values())

    def close_begin(self, limit: float) -> bool:
        """Refuse new events and give the sender ``limit`` seconds; False if already closed.

        Lock held.
        """
        if self.closed:
            return False
        self.closed = True
        self.stop_at = time.monotonic() + limit
        for state in self.states.values():
            if state.overflow and not state.dead and not state.ended:
                self._append_buffer_full_marker(state)
        self.wake_sender()
        return True

    def close_unsent(self) -> int:
        """Count the events the sender did not deliver before it stopped as unsent."""
        unsent = 0
        with self.lock:
            for state in self.states.values():
                if not state.dead:
                    unsent += len(state.pending) + len(state.abandoned) + state.overflow
            self.stats["dropped_unsent"] += unsent
        return unsent

    def stats_snapshot(self) -> dict[str, int]:
        """Counters since the client was made; ``dropped`` sums the three ``dropped_*``."""
        with self.lock:
            result = dict(self.stats)
            result["pending"] = self.queued
            result["sessions_open"] = sum(1 for s in self.states.values() if not s.ended)
        result["dropped"] = (
            result["dropped_buffer_full"]
            + result["dropped_network_loss"]
            + result["dropped_unsent"]
        )
        return result


def payload_checked(event_type: Any, payload: Any, config: ClientConfig) -> bytes | str:
    """The payload snapshot of a valid event, or why the event cannot be recorded."""
    if not isinstance(event_type, str):
        return f"event type must be a string, not {type(event_type).__name__}"
    if event_type in SDK_EVENT_TYPES or event_type == SEAL_EVENT_TYPE:
        return f"{event_type} is written by the SDK itself"
    if event_type not in PRODUCER_EVENT_TYPES:
        return "unknown event type"
    if payload is None:
        payload = {}
    problems = payload_problems(event_type, payload)
    if problems:
        return "; ".join(problems)
    try:
        data = payload_snapshot(payload)
    except PayloadError as exc:
        return f"payload not representable: {exc}"
    if config.payload_nonce and NONCE_FIELD not in payload:
        data = payload_nonce_added(data)
    if len(data) > config.max_payload_bytes:
        return f"payload is {len(data)} bytes; the limit is {config.max_payload_bytes}"
    return data


#: The payload field ``payload_nonce`` adds (spec §4 allows fields beyond the required ones).
NONCE_FIELD = "nonce"


def payload_nonce_added(data: bytes) -> bytes:
    """The payload snapshot ``data`` (a JSON object) with a random 128-bit ``nonce`` first.

    The payload hash then depends on 128 bits nobody can guess: once the payload is erased,
    its kept hash confirms no guess of what it said (``{"email": "jane@example.org"}``).
    Spliced into the snapshot's bytes, so the payload is not encoded twice.
    """
    nonce = b'{"nonce":"' + os.urandom(16).hex().encode() + b'"'
    return nonce + b"}" if data == b"{}" else nonce + b"," + data[1:]


def end_checked(status: Any, duration_ms: int, extra: Mapping[str, Any]) -> bytes | str:
    """The ``SESSION_END`` payload snapshot, or why it cannot be written as asked."""
    payload = events.session_end(status, duration_ms, **extra)
    problems = payload_problems("SESSION_END", payload)
    if problems:
        return "; ".join(problems)
    try:
        return payload_snapshot(payload)
    except PayloadError as exc:
        return str(exc)


def new_event(state: SessionState, number: int, event_type: str, data: bytes) -> PendingEvent:
    elapsed_ms = (time.monotonic_ns() - state.started_ns) // 1_000_000
    return PendingEvent(number, event_type, data, time.time_ns(), max(0, elapsed_ms))
