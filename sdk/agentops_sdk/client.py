"""The recording client: sessions, a bounded queue, one sender thread, and loss accounting.

::

    client = Client()                                   # local mode: agentops-sessions/*.jsonl
    client = Client("https://agentops.example.com", api_key="...")   # remote mode
    with client.session(agent_id="support-bot", metadata={"ticket": 42}) as session:
        session.model_request(model="gpt-4o", messages=messages)
        tool_id = session.tool_call("lookup_order", {"order_id": 1000})
        session.tool_result("lookup_order", {"state": "shipped"}, tool_id=tool_id)
    client.close()                                      # also runs at interpreter exit

Modes
    **remote** (a server URL is configured): events are proposed to the ingestion service,
    which is the chain authority (spec §5); ended sessions are sealed by ``POST .../seal``.
    **local**: the SDK is the authority (``chain_authority = "sdk"``, ``authority_id`` = this
    client's ``instance_id``) and writes ``<local_dir>/<session_id>.jsonl``, one §2 envelope a
    line, plus an unsigned ``CHAIN_SEAL`` when ``seal=True``. Such a file verifies at best as
    ``NON_AUTHORITATIVE_EVIDENCE``. Settings and their defaults: ``agentops_sdk.config``.

The agent's thread
    ``record()`` and the typed helpers never block on I/O and never raise. Under one lock they
    number the event (the SDK proposes ``sequence_number``; the service decides), snapshot the
    payload with the C JSON encoder (so later changes by the agent do not alter the record) and
    append it to a bounded in-memory queue. ``event_id`` and the RFC 3339 text are made later by
    the sender thread, once per event, and reused by every retry. Remote proposals carry no
    ``payload_hash``: the service computes it, and the snapshot checks guarantee it can.

Invalid input
    An unknown or SDK-reserved event type (``SESSION_START``, ``SESSION_END``, ``LOG_DROP``,
    ``CHAIN_SEAL``), a payload missing the fields §4 requires, a payload RFC 8785 cannot
    represent (NaN, ±Infinity, integers beyond ±(2^53 - 1), lone surrogates, non-string keys,
    non-JSON objects) or one larger than ``max_payload_bytes`` is never sent as it is (the
    service would refuse the whole batch around it) and never altered to fit. It is recorded
    in its place as an ``ERROR`` event (``error_type = "INVALID_EVENT"``, the reason in
    ``message``, ``rejected_event_type``), counted in ``stats()["invalid"]`` and logged as a
    warning on the ``agentops_sdk`` logger. Events recorded after their session ended, or
    after ``close()``, cannot be placed in the chain: they are counted (``invalid`` and
    ``dropped_unsent`` respectively) and logged.

Loss is never hidden: LOG_DROP and sequence numbers
    The service accepts a batch only if it continues its stored chain, so a lost event must
    never leave a hole in the numbers. Two rules keep every chain gap-free:

    1. **Queue full (BUFFER_FULL): drop before numbering.** An event refused because the
       queue holds ``queue_size`` events gets no sequence number; the session counts it.
       The next event that does fit (or the sender thread once it has drained room, or the
       session's end, or ``flush()``/``close()``) is preceded by one ``LOG_DROP`` with
       ``drop_reason = "BUFFER_FULL"``, ``dropped_count`` = events refused since the last
       marker and ``cumulative_drops``. It has no ``sequence_range``: the lost events never
       had numbers; the marker's own position says where they were lost. The SDK's own events
       (``SESSION_START``, ``SESSION_END``, ``LOG_DROP``) bypass the limit, so the queue may
       exceed ``queue_size`` by a handful and a session always starts and ends.

    2. **Batch lost (NETWORK_LOSS): the service's head decides, the marker fills the hole.**
       A batch refused with a non-retryable 4xx, or still failing when the retry budget is
       spent, is set aside and the session is re-synchronised: ``GET /sessions/{id}`` gives
       the stored head ``H`` (the same happens after a ``409 SEQUENCE_GAP``). Events set aside
       with numbers ``<= H`` had in fact been stored (an answer was lost, not the request);
       they are not counted as lost. Every position between ``H + 1`` and the first unsent
       event is lost: the SDK's own events among them are sent again (so the chain keeps its
       ``SESSION_START`` first, its earlier markers and its ``SESSION_END``), and one
       ``LOG_DROP`` (``drop_reason = "NETWORK_LOSS"``, ``dropped_count`` = the agent events
       lost, ``sequence_range`` = ``[H + 1, first unsent - 1]``, the numbers they had been
       proposed with) takes the next position. Every unsent event is then renumbered to
       follow, and queued markers get their ``cumulative_drops`` raised, so the numbers stay
       contiguous and ``cumulative_drops`` never decreases along the chain. Only unsent events
       are ever renumbered; a retry always resends the same ``event_id`` and numbers.

    Each ``LOG_DROP`` consumes one sequence number (§4); the service's ``total_drops`` sums
    ``dropped_count``. A session whose batches the service keeps refusing (three refusals in a
    row), or that the service does not know (401, 404, sealed), stops sending; its remaining
    events are counted in ``dropped_unsent`` and logged, since no marker can reach the
    service. The same holds for events still unsent when ``close(timeout)`` runs out.

Threads
    One sender thread per client (started with the first session) owns the HTTP session and
    the local files; any number of agent threads may record into any number of sessions.
    It sends a session's events when ``batch_size`` are waiting, every ``flush_interval``
    otherwise, and seals a session once its ``SESSION_END`` is stored. ``close(timeout)``
    (also registered with ``atexit``) flushes and seals what it can within ``timeout``.
    ``SESSION_END`` is written only for sessions that ended (``with`` block, ``end()``);
    ``close()`` does not invent an end for a session still open.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from . import SOURCE_SDK_VER, __version__, events
from .chain import (
    AUTHORITY_SDK,
    MAX_ERROR_MESSAGE_CHARS,
    PRODUCER_EVENT_TYPES,
    SEAL_EVENT_TYPE,
    SESSION_END_STATUSES,
    SPEC_VERSION,
    chain_event,
    payload_problems,
)
from .config import ClientConfig
from .events import SDK_EVENT_TYPES, PayloadError, payload_snapshot, rfc3339_utc, safe_text
from .seal import seal_payload_build
from .transport import Reply, RetryPolicy, Transport

logger = logging.getLogger("agentops_sdk")

#: A session stops sending after this many refused batches in a row.
MAX_REFUSALS_IN_A_ROW = 3
#: A full queue is reported at most this often (seconds), not once per dropped event.
FULL_QUEUE_WARNING_INTERVAL = 10.0
#: The service's limits on session creation (agent_id length, metadata size).
MAX_AGENT_ID_CHARS = 200
MAX_METADATA_BYTES = 16 * 1024

_STAT_NAMES = (
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


class _Pending:
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


class _SessionState:
    """Everything the client tracks for one session; guarded by the client's lock."""

    def __init__(self, session_id: str, agent_id: str, metadata: dict[str, Any]) -> None:
        self.session_id = session_id
        self.agent_id = agent_id
        self.metadata = metadata
        self.started_ns = time.monotonic_ns()
        self.next_seq = 0
        self.pending: collections.deque[_Pending] = collections.deque()
        self.overflow = 0  # events refused at the door since the last BUFFER_FULL marker
        self.cumulative_drops = 0
        self.start_event: _Pending | None = None
        self.end_event: _Pending | None = None
        self.ended = False
        self.dead = False
        self.in_flight = False
        self.needs_resync = False
        self.abandoned: list[_Pending] = []  # batches given up on, fate unknown until resync
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


class Session:
    """One recorded agent session; get it from ``Client.session()``.

    Use it as a context manager: leaving the block writes ``SESSION_END`` with ``success``,
    or ``failure`` when an exception escapes (``cancelled`` for ``KeyboardInterrupt``), and the
    exception is never swallowed. No method of a session raises into the agent.
    """

    def __init__(self, client: Client, state: _SessionState) -> None:
        self._client = client
        self._state = state

    @property
    def session_id(self) -> str:
        return self._state.session_id

    @property
    def agent_id(self) -> str:
        return self._state.agent_id

    @property
    def path(self) -> Path | None:
        """The JSONL file of a local session (``None`` in remote mode)."""
        return self._state.path

    @property
    def ended(self) -> bool:
        return self._state.ended

    @property
    def sealed(self) -> bool:
        return self._state.seal_result is not None

    @property
    def seal_result(self) -> dict[str, Any] | None:
        """Remote: the service's ``{seal, verification}``; local: the seal payload written."""
        return self._state.seal_result

    def record(self, event_type: str, payload: Mapping[str, Any] | None = None) -> None:
        """Queue one event. Never blocks, never raises (see the module docstring)."""
        try:
            self._client._record(self._state, event_type, payload)
        except Exception:  # the last guard: recording must not break the agent
            self._client._count("invalid")
            logger.exception("agentops: could not record a %r event", event_type)

    def _build_and_record(self, event_type: str, build: Any, *args: Any, **kwargs: Any) -> None:
        try:
            try:
                payload = build(*args, **kwargs)
            except Exception as exc:  # a builder fed values it cannot use
                self._client._enqueue(self._state, event_type, f"{type(exc).__name__}: {exc}")
                return
            self._client._record(self._state, event_type, payload)
        except Exception:
            self._client._count("invalid")
            logger.exception("agentops: could not record a %r event", event_type)

    def model_request(
        self,
        model: str,
        messages: Sequence[Any] | None = None,
        *,
        prompt_hash: str | None = None,
        **extra: Any,
    ) -> None:
        self._build_and_record(
            "MODEL_REQUEST", events.model_request, model, messages, prompt_hash=prompt_hash, **extra
        )

    def model_response(
        self,
        model: str,
        content: Any = None,
        *,
        finish_reason: str = "stop",
        content_hash: str | None = None,
        **extra: Any,
    ) -> None:
        self._build_and_record(
            "MODEL_RESPONSE",
            events.model_response,
            model,
            content,
            finish_reason=finish_reason,
            content_hash=content_hash,
            **extra,
        )

    def tool_call(
        self,
        tool_name: str,
        args: Mapping[str, Any] | None = None,
        tool_id: str | None = None,
        *,
        args_hash: str | None = None,
        **extra: Any,
    ) -> str:
        """Record a tool call; returns its ``tool_id`` (made up when not given) for the result."""
        if tool_id is None:
            tool_id = events.new_id()
        self._build_and_record(
            "TOOL_CALL",
            events.tool_call,
            tool_name,
            args,
            tool_id=tool_id,
            args_hash=args_hash,
            **extra,
        )
        return tool_id

    def tool_result(
        self,
        tool_name: str,
        result: Any = None,
        *,
        status: str = "success",
        tool_id: str | None = None,
        result_hash: str | None = None,
        **extra: Any,
    ) -> None:
        self._build_and_record(
            "TOOL_RESULT",
            events.tool_result,
            tool_name,
            result,
            status=status,
            tool_id=tool_id,
            result_hash=result_hash,
            **extra,
        )

    def error(
        self,
        error: BaseException | str,
        message: str | None = None,
        *,
        fatal: bool = False,
        **extra: Any,
    ) -> None:
        """Record an ``ERROR`` from an exception (type and text, no traceback) or a type name."""
        self._build_and_record("ERROR", events.error, error, message, fatal=fatal, **extra)

    def decision(
        self, decision_id: str, *, inputs: Any, outputs: Any, justification: Any, **extra: Any
    ) -> None:
        self._build_and_record(
            "DECISION_TRACE",
            events.decision,
            decision_id,
            inputs=inputs,
            outputs=outputs,
            justification=justification,
            **extra,
        )

    def annotate(
        self,
        content: Any,
        *,
        annotation_type: str = "comment",
        annotator_id: str | None = None,
        **extra: Any,
    ) -> None:
        """Record an ``ANNOTATION`` (``flag``, ``comment``, ``rating``), by the agent by default."""
        self._build_and_record(
            "ANNOTATION",
            events.annotation,
            content,
            annotator_id=annotator_id if annotator_id is not None else self.agent_id,
            annotation_type=annotation_type,
            **extra,
        )

    def snapshot(self, state: Mapping[str, Any]) -> None:
        """Record an ``AGENT_STATE_SNAPSHOT`` (free-form object)."""
        self.record("AGENT_STATE_SNAPSHOT", state)

    def end(self, status: str = "success", **extra: Any) -> None:
        """Write ``SESSION_END`` (once; later calls do nothing). ``status`` per spec §4."""
        try:
            self._client._end(self._state, status, extra)
        except Exception:
            self._client._count("invalid")
            logger.exception("agentops: could not end session %s", self.session_id)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end("success")
        elif issubclass(exc_type, KeyboardInterrupt) or exc_type.__name__ == "CancelledError":
            self.end("cancelled", error_type=exc_type.__name__)
        else:
            self.end("failure", error_type=exc_type.__name__)
        # Returning None lets the agent's exception propagate unchanged.


class Client:
    """Records sessions locally or sends them to the ingestion service (see the module doc).

    ``Client(server_url, api_key, local_dir=..., seal=..., batch_size=..., ...)``: any
    ``ClientConfig`` field may be given as a keyword; what is not given comes from
    ``AGENTOPS_*`` environment variables, then the defaults. Or pass a ready ``config``.
    """

    def __init__(
        self,
        server_url: str | None = None,
        api_key: str | None = None,
        *,
        local_dir: str | os.PathLike[str] | None = None,
        seal: bool | None = None,
        config: ClientConfig | None = None,
        **settings: Any,
    ) -> None:
        if config is None:
            config = ClientConfig.resolve(
                server_url=server_url,
                api_key=api_key,
                local_dir=os.fspath(local_dir) if local_dir is not None else None,
                seal=seal,
                **settings,
            )
        elif server_url or api_key or local_dir or seal is not None or settings:
            raise TypeError("pass either config or individual settings, not both")
        else:
            config.check()
        self.config = config
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # wakes the sender thread
        self._progress = threading.Condition(self._lock)  # wakes flush()/close() waiters
        self._states: dict[str, _SessionState] = {}
        self._queued = 0
        self._stats = dict.fromkeys(_STAT_NAMES, 0)
        self._wake = False
        self._full_warned_at = float("-inf")
        self._closed = False
        self._stop_at = float("inf")
        self._thread: threading.Thread | None = None
        _live_clients.add(self)

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def instance_id(self) -> str:
        """This client's id; the ``authority_id`` of its local sessions."""
        return self.config.instance_id

    # -- the agent's side -------------------------------------------------------------------

    def session(
        self,
        agent_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        environment: str | None = None,
        framework: str | None = None,
        framework_version: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> Session:
        """Start a session now (``SESSION_START`` is queued) and return it.

        Raises ``ValueError`` only for an unusable ``agent_id`` or ``session_id`` (not a UUID,
        or one this client is recording already): those are fixed by the program, not by the
        data it handles. Metadata the service could not
        store (not JSON, over 16 KiB) is left out, counted as invalid and logged.
        """
        if not isinstance(agent_id, str) or not agent_id or len(agent_id) > MAX_AGENT_ID_CHARS:
            raise ValueError(f"agent_id must be a non-empty string of at most {MAX_AGENT_ID_CHARS}")
        session_id = _canonical_session_id(session_id)
        clean_metadata, problem = _metadata_checked(metadata)
        if problem is not None:
            self._count("invalid")
            logger.warning("agentops: session metadata left out: %s", problem)
        try:
            start_payload = events.session_start(
                agent_id,
                sdk_version=__version__,
                environment=environment,
                framework=framework,
                framework_version=framework_version,
                tags=tags,
                metadata=clean_metadata,
            )
            start_json = payload_snapshot(start_payload)
        except (PayloadError, TypeError) as exc:  # environment, framework or tags not JSON
            self._count("invalid")
            logger.warning("agentops: SESSION_START details left out: %s", exc)
            start_json = payload_snapshot({"agent_id": agent_id, "sdk_version": __version__})

        state = _SessionState(session_id, agent_id, clean_metadata)
        if self.config.mode == "local":
            state.path = Path(self.config.local_dir) / f"{session_id}.jsonl"
        state.batch_limit = self.config.batch_size
        with self._lock:
            if session_id in self._states:
                raise ValueError(f"session {session_id} is already being recorded")
            if self._closed:
                state.dead = True
                self._stats["dropped_unsent"] += 1
            else:
                self._states[session_id] = state
                state.start_event = self._append(state, "SESSION_START", start_json)
                self._start_thread()
        if state.dead:
            logger.warning("agentops: session %s started after close(); not recorded", session_id)
        return Session(self, state)

    def _record(
        self, state: _SessionState, event_type: str, payload: Mapping[str, Any] | None
    ) -> None:
        self._enqueue(state, event_type, _checked_payload(event_type, payload, self.config))

    def _enqueue(self, state: _SessionState, event_type: Any, checked: bytes | str) -> None:
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
        with self._lock:
            if problem is not None:
                self._stats["invalid"] += 1
            if self._closed or state.dead:
                self._stats["dropped_unsent"] += 1
                outcome = "closed"
            elif state.ended:
                self._stats["invalid"] += 1
                outcome = "ended"
            elif self._queued >= self.config.queue_size:
                state.overflow += 1
                self._stats["dropped_buffer_full"] += 1
                outcome = "still full"
                now = time.monotonic()
                if now - self._full_warned_at >= FULL_QUEUE_WARNING_INTERVAL:
                    self._full_warned_at = now
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
                self._stats["dropped_buffer_full"],
            )
        elif outcome == "ended":
            logger.warning(
                "agentops: %s event after session %s ended; not recorded",
                event_type,
                state.session_id,
            )
        elif outcome == "closed":
            logger.debug("agentops: %s event after close(); not recorded", event_type)

    def _end(self, state: _SessionState, status: str, extra: Mapping[str, Any]) -> None:
        duration_ms = (time.monotonic_ns() - state.started_ns) // 1_000_000
        checked = _checked_end(status, duration_ms, extra)
        if isinstance(checked, str):
            # The session still ends: an agent must not lose its SESSION_END to a typo.
            self._count("invalid")
            logger.warning("agentops: SESSION_END details left out: %s", checked)
            if status not in SESSION_END_STATUSES:
                status = "failure"
            checked = payload_snapshot(events.session_end(status, duration_ms))
        data = checked
        with self._lock:
            if state.ended or state.dead or self._closed:
                return
            if state.overflow:
                self._append_buffer_full_marker(state)
            state.end_event = self._append(state, "SESSION_END", data)
            state.ended = True
            self._wake = True
            self._work.notify()

    # -- queue (lock held) ------------------------------------------------------------------

    def _append(self, state: _SessionState, event_type: str, data: bytes) -> _Pending:
        event = _new_event(state, state.next_seq, event_type, data)
        state.next_seq += 1
        state.pending.append(event)
        self._queued += 1
        self._stats["recorded"] += 1
        if len(state.pending) == self.config.batch_size:
            self._work.notify()
        return event

    def _drop_marker(
        self,
        state: _SessionState,
        count: int,
        reason: str,
        sequence_range: tuple[int, int] | None = None,
    ) -> _Pending:
        """A LOG_DROP for ``count`` more lost events, not yet numbered or queued."""
        state.cumulative_drops += count
        drop = events.log_drop(
            dropped_count=count,
            cumulative_drops=state.cumulative_drops,
            drop_reason=reason,
            sequence_range=sequence_range,
        )
        marker = _new_event(state, -1, "LOG_DROP", payload_snapshot(drop))
        marker.drop = drop
        return marker

    def _append_buffer_full_marker(self, state: _SessionState) -> None:
        marker = self._drop_marker(state, state.overflow, "BUFFER_FULL")
        state.overflow = 0
        marker.sequence_number = state.next_seq
        state.next_seq += 1
        state.pending.append(marker)
        self._queued += 1
        self._stats["recorded"] += 1

    def _take(self, state: _SessionState) -> list[_Pending]:
        with self._lock:
            if state.dead:
                return []
            if state.overflow and self._queued < self.config.queue_size:
                self._append_buffer_full_marker(state)
            count = min(len(state.pending), state.batch_limit)
            batch = [state.pending.popleft() for _ in range(count)]
            self._queued -= count
            state.in_flight = bool(batch)
            return batch

    def _put_back(self, state: _SessionState, batch: list[_Pending]) -> None:
        with self._lock:
            state.pending.extendleft(reversed(batch))
            self._queued += len(batch)
            state.in_flight = False

    def _delivered(self, state: _SessionState, sent: int, duplicates: int) -> None:
        with self._lock:
            state.in_flight = False
            self._stats["sent"] += sent
            self._stats["duplicates"] += duplicates
            self._stats["batches"] += 1

    def _abandon(self, state: _SessionState, batch: list[_Pending], reply: Reply) -> None:
        with self._lock:
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

    def _kill(self, state: _SessionState, why: str) -> None:
        with self._lock:
            lost = len(state.pending) + len(state.abandoned)
            self._queued -= len(state.pending)
            state.pending.clear()
            state.abandoned.clear()
            state.dead = True
            state.in_flight = False
            state.needs_resync = False
            self._stats["dropped_unsent"] += lost + state.overflow
            state.overflow = 0
        logger.error(
            "agentops: session %s stops sending (%s); %d events not delivered",
            state.session_id,
            why,
            lost,
        )

    def _reconcile(self, state: _SessionState, head: int) -> None:
        """Make the unsent events continue the service's chain at ``head`` (-1: empty).

        See "Loss is never hidden" in the module docstring for the rules applied here.
        """
        with self._lock:
            first = state.pending[0].sequence_number if state.pending else state.next_seq
            landed = [ev for ev in state.abandoned if ev.sequence_number <= head]
            lost = [ev for ev in state.abandoned if ev.sequence_number > head]
            state.abandoned = []
            self._stats["sent"] += len(landed)

            resend = [ev for ev in lost if ev.event_type in SDK_EVENT_TYPES]
            starts_chain = bool(state.pending) and state.pending[0].event_type == "SESSION_START"
            if head < 0 and not starts_chain and state.start_event not in resend:
                assert state.start_event is not None
                resend.insert(0, state.start_event)  # the service lost it: a chain needs it
            missing = first - (head + 1)
            lost_count = max(0, missing - len(resend))

            prefix = [ev for ev in resend if ev.event_type != "SESSION_END"]
            if lost_count:
                self._stats["dropped_network_loss"] += lost_count
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
            self._queued += len(prefix)
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

    def _count(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._stats[name] += by

    # -- flush, close, stats ---------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters since the client was made; ``dropped`` sums the three ``dropped_*``."""
        with self._lock:
            result = dict(self._stats)
            result["pending"] = self._queued
            result["sessions_open"] = sum(1 for s in self._states.values() if not s.ended)
        result["dropped"] = (
            result["dropped_buffer_full"]
            + result["dropped_network_loss"]
            + result["dropped_unsent"]
        )
        return result

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event is stored and ended sessions sealed; False on timeout."""
        limit = self.config.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        with self._lock:
            self._wake = True
            self._work.notify()
            while not all(self._settled(state) for state in self._states.values()):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._progress.wait(remaining)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Flush and seal within ``timeout`` seconds, then stop; later records are discarded."""
        limit = self.config.shutdown_timeout if timeout is None else timeout
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop_at = time.monotonic() + limit
            for state in self._states.values():
                if state.overflow and not state.dead and not state.ended:
                    self._append_buffer_full_marker(state)
            self._wake = True
            self._work.notify()
            thread = self._thread
        if thread is not None:
            # The sender stops at _stop_at; a request already in flight may need its timeout.
            thread.join(limit + self.config.connect_timeout + self.config.read_timeout)
        unsent = 0
        with self._lock:
            for state in self._states.values():
                if not state.dead:
                    unsent += len(state.pending) + len(state.abandoned) + state.overflow
            self._stats["dropped_unsent"] += unsent
        _live_clients.discard(self)
        if unsent:
            logger.warning("agentops: closed with %d events not delivered", unsent)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the sender thread ------------------------------------------------------------------

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="agentops-sender", daemon=True)
            self._thread.start()

    def _settled(self, state: _SessionState) -> bool:
        """Nothing left to do for ``state`` (lock held)."""
        if state.dead:
            return True
        if state.pending or state.in_flight or state.needs_resync or state.overflow:
            return False
        return not (state.ended and self.config.seal and not state.seal_done)

    def _pause(self, seconds: float) -> None:
        """Sleep between retries, cut short by close()'s deadline."""
        end = time.monotonic() + seconds
        with self._lock:
            while (remaining := min(end, self._stop_at) - time.monotonic()) > 0:
                self._work.wait(remaining)

    def _stop_time(self) -> float:
        return self._stop_at

    def _run(self) -> None:
        transport: Transport | None = None
        if self.config.mode == "remote":
            assert self.config.server_url and self.config.api_key
            transport = Transport(
                server_url=self.config.server_url,
                api_key=self.config.api_key,
                policy=RetryPolicy(
                    base=self.config.backoff_base,
                    cap=self.config.backoff_cap,
                    budget=self.config.retry_budget,
                    max_attempts=self.config.max_attempts,
                ),
                connect_timeout=self.config.connect_timeout,
                read_timeout=self.config.read_timeout,
                sleep=self._pause,
                stop_at=self._stop_time,
            )
        try:
            while True:
                with self._lock:
                    if not self._wake:
                        wait = self.config.flush_interval
                        if self._closed:
                            wait = min(wait, self._stop_at - time.monotonic())
                        if wait > 0:
                            self._work.wait(wait)
                    self._wake = False
                    states = list(self._states.values())
                retries_before = transport.retries if transport else 0
                for state in states:
                    try:
                        if transport is not None:
                            self._deliver_remote(transport, state)
                        else:
                            self._deliver_local(state)
                    except Exception:  # a bug must not stop recording for every session
                        logger.exception("agentops: sender failed on session %s", state.session_id)
                        self._kill(state, "internal error")
                with self._lock:
                    if transport is not None:
                        self._stats["retries"] += transport.retries - retries_before
                    for state in states:
                        if (state.ended or state.dead) and self._settled(state):
                            self._states.pop(state.session_id, None)
                    self._progress.notify_all()
                    if self._closed and (
                        all(self._settled(s) for s in self._states.values())
                        or time.monotonic() >= self._stop_at
                    ):
                        return
        finally:
            if transport is not None:
                transport.close()
            with self._lock:
                remaining = list(self._states.values())
                self._progress.notify_all()
            for state in remaining:
                _close_file(state)

    # Remote mode ---------------------------------------------------------------------------

    def _deliver_remote(self, http: Transport, state: _SessionState) -> None:
        if state.dead:
            return
        if not state.created:
            reply = http.session_create(
                session_id=state.session_id, agent_id=state.agent_id, metadata=state.metadata
            )
            if not reply.ok:
                if not reply.retryable:
                    self._kill(state, f"session refused: {reply.describe()}")
                return
            state.created = True

        while True:
            if state.needs_resync and not self._resync(http, state):
                return
            batch = self._take(state)
            if not batch:
                break
            wire = [event.wire(state.session_id) for event in batch]
            reply = http.events_append(state.session_id, wire)
            if reply.ok:
                body = reply.body if isinstance(reply.body, Mapping) else {}
                accepted = body.get("accepted", len(batch))
                duplicates = body.get("duplicates", 0)
                self._delivered(state, int(accepted), int(duplicates))
                state.refusals = 0
                continue
            if reply.status in (401, 404) or reply.code == "SESSION_SEALED":
                self._put_back(state, batch)
                self._kill(state, reply.describe())
                return
            if reply.status == 413 and len(batch) > 1:
                # Too large for the service: halve the batches rather than lose the events.
                self._put_back(state, batch)
                state.batch_limit = max(1, len(batch) // 2)
                continue
            if reply.code == "SEQUENCE_GAP":
                self._put_back(state, batch)
                with self._lock:
                    state.needs_resync = True
            else:
                self._abandon(state, batch, reply)
                if reply.retryable:
                    # Given up, not refused: re-synchronise right away. If the service is
                    # still unreachable, that fails too and the next round tries again.
                    continue
            state.refusals += 1
            if state.refusals >= MAX_REFUSALS_IN_A_ROW:
                self._kill(state, f"{state.refusals} batches refused in a row")
                return

        if state.ended and self.config.seal and not state.seal_done:
            reply = http.session_seal(state.session_id)
            if reply.ok or not reply.retryable:
                with self._lock:
                    state.seal_done = True
                    if reply.ok and isinstance(reply.body, dict):
                        state.seal_result = reply.body
                if not reply.ok:
                    logger.error(
                        "agentops: session %s not sealed: %s", state.session_id, reply.describe()
                    )

    def _resync(self, http: Transport, state: _SessionState) -> bool:
        reply = http.session_get(state.session_id)
        if not reply.ok:
            if not reply.retryable:
                self._kill(state, f"cannot re-synchronise: {reply.describe()}")
            return False
        head = _head_sequence(reply.body)
        if head is None:
            logger.error("agentops: unexpected session body from the service: %r", reply.body)
            return False
        self._reconcile(state, head)
        return True

    # Local mode ----------------------------------------------------------------------------

    def _deliver_local(self, state: _SessionState) -> None:
        if state.dead:
            return
        assert state.path is not None
        while batch := self._take(state):
            try:
                if state.file is None:
                    state.path.parent.mkdir(parents=True, exist_ok=True)
                    # "x": never append a second chain to an existing session file.
                    state.file = state.path.open("x", encoding="utf-8")
                lines = []
                for event in batch:
                    lines.append(self._chain_locally(state, event.proposal(state.session_id)))
                    if event.drop is not None:
                        state.total_drops += event.drop["dropped_count"]
                    state.end_written = state.end_written or event.event_type == "SESSION_END"
                state.file.write("".join(lines))
                state.file.flush()
            except OSError as exc:
                self._put_back(state, batch)
                self._kill(state, f"cannot write {state.path}: {exc}")
                _close_file(state)
                return
            self._delivered(state, len(batch), 0)

        if state.ended and not state.pending and state.file is not None:
            try:
                if self.config.seal and not state.seal_done:
                    seal = seal_payload_build(
                        private_key=None,
                        session_id=state.session_id,
                        ingestion_service_id=self.instance_id,
                        seal_timestamp=rfc3339_utc(time.time_ns()),
                        final_event_hash=state.head_hash or "",
                        event_count=state.written,
                        complete=state.end_written,
                        total_drops=state.total_drops,
                    )
                    event = _new_event(
                        state, state.written, SEAL_EVENT_TYPE, payload_snapshot(seal)
                    )
                    state.file.write(self._chain_locally(state, event.proposal(state.session_id)))
                    state.seal_result = seal
                os.fsync(state.file.fileno())
            except OSError as exc:
                logger.error("agentops: cannot finish %s: %s", state.path, exc)
            finally:
                with self._lock:
                    state.seal_done = True
                _close_file(state)

    def _chain_locally(self, state: _SessionState, proposal: dict[str, Any]) -> str:
        envelope = chain_event(
            proposal,
            prev_event_hash=state.head_hash,
            chain_authority=AUTHORITY_SDK,
            authority_id=self.instance_id,
        )
        state.head_hash = envelope["event_hash"]
        state.written += 1
        return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) + "\n"


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _checked_payload(event_type: Any, payload: Any, config: ClientConfig) -> bytes | str:
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
    if len(data) > config.max_payload_bytes:
        return f"payload is {len(data)} bytes; the limit is {config.max_payload_bytes}"
    return data


def _checked_end(status: Any, duration_ms: int, extra: Mapping[str, Any]) -> bytes | str:
    payload = events.session_end(status, duration_ms, **extra)
    problems = payload_problems("SESSION_END", payload)
    if problems:
        return "; ".join(problems)
    try:
        return payload_snapshot(payload)
    except PayloadError as exc:
        return str(exc)


def _new_event(state: _SessionState, number: int, event_type: str, data: bytes) -> _Pending:
    elapsed_ms = (time.monotonic_ns() - state.started_ns) // 1_000_000
    return _Pending(number, event_type, data, time.time_ns(), max(0, elapsed_ms))


def _metadata_checked(metadata: Any) -> tuple[dict[str, Any], str | None]:
    if metadata is None:
        return {}, None
    if not isinstance(metadata, Mapping):
        return {}, "metadata must be an object"
    try:
        data = payload_snapshot(dict(metadata))
    except PayloadError as exc:
        return {}, str(exc)
    if len(data) > MAX_METADATA_BYTES:
        return {}, f"metadata is {len(data)} bytes; the service keeps at most {MAX_METADATA_BYTES}"
    return json.loads(data), None


def _canonical_session_id(session_id: str | None) -> str:
    if session_id is None:
        return events.new_id()
    try:
        return str(uuid.UUID(str(session_id)))
    except ValueError:
        raise ValueError(f"session_id must be a UUID, not {session_id!r}") from None


def _head_sequence(body: Any) -> int | None:
    """The stored head's sequence number from a session object; -1 for an empty session."""
    if not isinstance(body, Mapping):
        return None
    head = body.get("head")
    if head is None:
        return -1
    if not isinstance(head, Mapping):
        return None
    number = head.get("sequence_number")
    if number is None:
        return -1
    return number if type(number) is int and number >= -1 else None


def _close_file(state: _SessionState) -> None:
    if state.file is not None:
        with contextlib.suppress(OSError):
            state.file.close()
        state.file = None


_live_clients: weakref.WeakSet[Client] = weakref.WeakSet()


@atexit.register
def _close_all_at_exit() -> None:
    for client in list(_live_clients):
        try:
            client.close()
        except Exception:
            logger.exception("agentops: closing a client at exit failed")
