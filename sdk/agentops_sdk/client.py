"""The recording client: ``Client`` and ``Session``, the objects an agent uses.

::

    client = Client()                                   # local mode: agentops-sessions/*.jsonl
    client = Client("https://agentops.example.com", api_key="...")   # remote mode
    with client.session(agent_id="support-bot", metadata={"ticket": 42}) as session:
        session.model_request(model="gpt-4o", messages=messages)
        tool_id = session.tool_call("lookup_order", {"order_id": 1000})
        session.tool_result("lookup_order", {"state": "shipped"}, tool_id=tool_id)
    client.close()                                      # also runs at interpreter exit

They tie together the parts that do the work: ``recording`` (numbering and the bounded queue,
on the agent's thread), ``remote_sender`` (batches to the service) and ``local_writer``
(self-hashed JSONL files), both run by the one sender thread started here. How recording,
batching, retries, drops and local files work, and why: ``sdk/docs/design.md``. Settings and
their defaults: ``agentops_sdk.config``.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from . import __version__, events
from .config import ClientConfig
from .events import PayloadError, payload_snapshot
from .local_writer import LocalWriter
from .recording import FULL_QUEUE_WARNING_INTERVAL, EventQueue, SessionState
from .remote_sender import MAX_REFUSALS_IN_A_ROW, RemoteSender

__all__ = [
    "FULL_QUEUE_WARNING_INTERVAL",
    "MAX_AGENT_ID_CHARS",
    "MAX_METADATA_BYTES",
    "MAX_REFUSALS_IN_A_ROW",
    "Client",
    "ClientConfig",
    "Session",
]

logger = logging.getLogger("agentops_sdk")

#: The service's limits on session creation (agent_id length, metadata size).
MAX_AGENT_ID_CHARS = 200
MAX_METADATA_BYTES = 16 * 1024


class Session:
    """One recorded agent session; get it from ``Client.session()``.

    Use it as a context manager: leaving the block writes ``SESSION_END`` with ``success``,
    or ``failure`` when an exception escapes (``cancelled`` for ``KeyboardInterrupt``), and the
    exception is never swallowed. No method of a session raises into the agent.
    """

    def __init__(self, client: Client, state: SessionState) -> None:
        # A session keeps its client alive (and so registered to be closed at exit).
        self._client = client
        self._queue = client._queue
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
        """Queue one event. Never blocks, never raises (``sdk/docs/design.md``)."""
        try:
            self._queue.record(self._state, event_type, payload)
        except Exception:  # the last guard: recording must not break the agent
            self._queue.count("invalid")
            logger.exception("agentops: could not record a %r event", event_type)

    def _build_and_record(
        self,
        event_type: str,
        build: Callable[..., Mapping[str, Any]],
        *args: Any,
        **kwargs: Any,
    ) -> None:
        try:
            try:
                payload = build(*args, **kwargs)
            except Exception as exc:  # a builder fed values it cannot use
                self._queue.enqueue(self._state, event_type, f"{type(exc).__name__}: {exc}")
                return
            self._queue.record(self._state, event_type, payload)
        except Exception:
            self._queue.count("invalid")
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
            self._queue.session_end(self._state, status, extra)
        except Exception:
            self._queue.count("invalid")
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
    """Records sessions locally or sends them to the ingestion service (``sdk/docs/design.md``).

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
        self._queue = EventQueue(config)
        self._thread: threading.Thread | None = None
        _live_clients.add(self)

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def instance_id(self) -> str:
        """This client's id; the ``authority_id`` of its local sessions."""
        return self.config.instance_id

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
            self._queue.count("invalid")
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
            self._queue.count("invalid")
            logger.warning("agentops: SESSION_START details left out: %s", exc)
            start_json = payload_snapshot({"agent_id": agent_id, "sdk_version": __version__})

        state = SessionState(session_id, agent_id, clean_metadata)
        if self.config.mode == "local":
            state.path = Path(self.config.local_dir) / f"{session_id}.jsonl"
        state.batch_limit = self.config.batch_size
        with self._queue.lock:
            if self._queue.session_add(state, start_json):
                self._start_thread()
        if state.dead:
            logger.warning("agentops: session %s started after close(); not recorded", session_id)
        return Session(self, state)

    # -- flush, close, stats ---------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters since the client was made; ``dropped`` sums the three ``dropped_*``."""
        return self._queue.stats_snapshot()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event is stored and ended sessions sealed; False on timeout."""
        limit = self.config.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        queue = self._queue
        with queue.lock:
            queue.wake_sender()
            while not queue.all_settled():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                queue.progress.wait(remaining)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Flush and seal within ``timeout`` seconds, then stop; later records are discarded."""
        limit = self.config.shutdown_timeout if timeout is None else timeout
        with self._queue.lock:
            if not self._queue.close_begin(limit):
                return
            thread = self._thread
        if thread is not None:
            # The sender stops at the deadline; a request already in flight may need its timeout.
            thread.join(limit + self.config.connect_timeout + self.config.read_timeout)
        unsent = self._queue.close_unsent()
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

    def _run(self) -> None:
        queue = self._queue
        sender: RemoteSender | LocalWriter
        if self.config.mode == "remote":
            sender = RemoteSender(queue, self.config)
        else:
            sender = LocalWriter(queue, self.config)
        try:
            while True:
                states = queue.next_round()
                retries_before = sender.retries
                for state in states:
                    try:
                        sender.deliver(state)
                    except Exception:  # a bug must not stop recording for every session
                        logger.exception("agentops: sender failed on session %s", state.session_id)
                        queue.kill(state, "internal error")
                if queue.round_done(states, sender.retries - retries_before):
                    return
        finally:
            sender.close(queue.sender_stopped())


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


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


_live_clients: weakref.WeakSet[Client] = weakref.WeakSet()


@atexit.register
def _close_all_at_exit() -> None:
    for client in list(_live_clients):
        try:
            client.close()
        except Exception:
            logger.exception("agentops: closing a client at exit failed")
