"""Record a LangChain agent's model calls, tool calls and errors in an AgentOps session.

::

    from agentops_sdk import Client
    from agentops_sdk.integrations.langchain import AgentOpsCallbackHandler

    client = Client()
    with client.session(agent_id="support-bot", framework="langchain") as session:
        handler = AgentOpsCallbackHandler(session)
        agent.invoke(inputs, config={"callbacks": [handler]})

Needs ``langchain-core`` (``pip install 'agentops-sdk[langchain]'``).

Mapping (LangChain callback -> event type)
    ``on_chat_model_start``, ``on_llm_start``   -> ``MODEL_REQUEST``
    ``on_llm_end``                               -> ``MODEL_RESPONSE``
    ``on_llm_error``                             -> ``ERROR`` (``source = "llm"``)
    ``on_tool_start``                            -> ``TOOL_CALL``
    ``on_tool_end``                              -> ``TOOL_RESULT`` (the ``ToolMessage``'s status)
    ``on_tool_error``                            -> ``TOOL_RESULT`` with ``status = "error"``
    ``on_chain_error``                           -> ``ERROR`` (``source = "chain"``)

    Every other callback (chain start and end, retrievers, streamed tokens) records nothing.

Correlation
    A tool's ``TOOL_CALL`` and ``TOOL_RESULT`` carry the same ``tool_id``: the LangChain run id
    of the tool run, which LangChain gives to both callbacks in every version. When the model
    asked for the call, its own id is kept as ``tool_call_id``, which also appears in the
    ``tool_calls`` of the ``MODEL_RESPONSE`` that asked (``TOOL_CALL`` has it from
    langchain-core 1.1.2 on, which passes it to ``on_tool_start``; ``TOOL_RESULT`` always).
    Model events carry their run id as ``run_id``.

Errors
    A tool that fails is answered by its ``TOOL_RESULT`` (``status = "error"``), so every call
    has its result. An exception that escapes a chain is recorded as one ``ERROR``; as it
    bubbles up through the enclosing chains (and after ``on_llm_error`` recorded it) it is not
    recorded again. ``fatal`` is always false: code around a run may catch what escapes it,
    so only the agent knows whether an error ended its work (the session's ``SESSION_END``
    status says so).

``capture_content=False``
    No text of the conversation is stored: ``MODEL_REQUEST`` carries ``prompt_hash``,
    ``MODEL_RESPONSE`` ``content_hash`` (and ``args_hash`` per requested tool call),
    ``TOOL_CALL`` ``args_hash``, ``TOOL_RESULT`` ``result_hash`` and ``ERROR`` a
    ``message_hash`` in place of the exception's text. See ``content_hash`` for how they are
    computed, so that anyone holding the original text can prove it matches. Names of models
    and tools, ids, statuses and token counts are kept.

Never raising
    A callback handler runs inside the agent. Every callback here catches its own exceptions
    and logs them on the ``agentops_sdk`` logger; recording must never change what the agent
    does. The session's own methods never raise either.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

try:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
    from langchain_core.outputs import ChatGeneration, LLMResult
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "agentops_sdk.integrations.langchain needs langchain-core: "
        "pip install 'agentops-sdk[langchain]'"
    ) from exc

from .. import chain
from ..client import Session

logger = logging.getLogger("agentops_sdk")

_Method = TypeVar("_Method", bound=Callable[..., None])

#: LangChain message types -> the roles model APIs use.
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
#: Exceptions already recorded, remembered by identity while they bubble up through chains.
#: Exceptions cannot be weakly referenced, so the memory is bounded instead.
_REMEMBERED_ERRORS = 256
_WITHHELD = "message not captured (capture_content=False); see message_hash"


def content_hash(value: Any) -> str:
    """The SHA-256 (lowercase hex) stored in place of ``value`` when content is not captured.

    Text is hashed as its UTF-8 bytes, so ``sha256sum`` over the same text gives the same
    digest. Anything else (messages, tool arguments, structured results) is hashed as its
    RFC 8785 canonical JSON, the same rule the event chain uses for payloads.
    """
    if isinstance(value, str):
        # surrogatepass: a lone surrogate must not make recording fail; it hashes as is.
        return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return chain.payload_hash(value)


def _guarded(method: _Method) -> _Method:
    """Run a callback so that no exception of ours ever reaches LangChain or the agent."""

    @functools.wraps(method)
    def callback(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception:
            logger.exception("agentops: LangChain callback %s not recorded", method.__name__)

    return callback  # type: ignore[return-value]


class AgentOpsCallbackHandler(BaseCallbackHandler):
    """LangChain callbacks that record into ``session`` (see the module docstring).

    One handler serves one session; pass it in ``config={"callbacks": [handler]}`` (or to a
    model or tool's ``callbacks``). It may be shared by threads and by async runs.
    """

    # Recording only queues an event, so running inline never blocks the event loop; and it
    # keeps events in the order LangChain reports them, which a thread pool would not.
    run_inline = True
    raise_error = False

    def __init__(self, session: Session, *, capture_content: bool = True) -> None:
        super().__init__()
        self.session = session
        self.capture_content = capture_content
        self._lock = threading.Lock()
        self._models: dict[UUID, str] = {}  # model run id -> model name, for the response
        self._tools: dict[UUID, str] = {}  # tool run id -> tool name, for the result
        self._reported: collections.OrderedDict[int, BaseException] = collections.OrderedDict()

    # -- models -----------------------------------------------------------------------------

    @_guarded
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        flat = [_message(message) for batch in messages for message in batch]
        self._model_request(serialized, metadata, kwargs, run_id, flat)

    @_guarded
    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # A completion model takes plain text; it is recorded as the user's turn.
        flat = [{"role": "user", "content": prompt} for prompt in prompts]
        self._model_request(serialized, metadata, kwargs, run_id, flat)

    def _model_request(
        self,
        serialized: Mapping[str, Any] | None,
        metadata: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
        run_id: UUID,
        messages: list[dict[str, Any]],
    ) -> None:
        model = _model_name(serialized, metadata, kwargs.get("invocation_params"))
        with self._lock:
            self._models[run_id] = model
        extra: dict[str, Any] = {"run_id": str(run_id)}
        if self.capture_content:
            self.session.model_request(model, messages, **extra)
        else:
            self.session.model_request(
                model,
                prompt_hash=content_hash(messages),
                message_count=len(messages),
                **extra,
            )

    @_guarded
    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        with self._lock:
            model = self._models.pop(run_id, None)
        if model is None:
            model = _model_from_output(response.llm_output) or "unknown"
        generations = [g for batch in response.generations for g in batch]
        texts: list[Any] = []
        tool_calls: list[dict[str, Any]] = []
        finish_reason = None
        usage = None
        for generation in generations:
            if isinstance(generation, ChatGeneration):
                message = generation.message
                texts.append(_jsonable(message.content))
                if isinstance(message, AIMessage):
                    tool_calls.extend(self._tool_request(call) for call in message.tool_calls)
                    usage = usage or message.usage_metadata
                finish_reason = finish_reason or message.response_metadata.get("finish_reason")
            else:
                texts.append(generation.text)
            info = generation.generation_info or {}
            finish_reason = finish_reason or info.get("finish_reason")
        if not finish_reason:
            finish_reason = "tool_calls" if tool_calls else "stop"
        # One generation is the usual case; several (n > 1) are kept in order.
        content: Any = texts[0] if len(texts) == 1 else texts

        extra: dict[str, Any] = {"run_id": str(run_id)}
        if tool_calls:
            extra["tool_calls"] = tool_calls
        if usage:
            extra["usage"] = _jsonable(usage)
        if self.capture_content:
            self.session.model_response(model, content, finish_reason=str(finish_reason), **extra)
        else:
            self.session.model_response(
                model,
                finish_reason=str(finish_reason),
                content_hash=content_hash(content),
                **extra,
            )

    def _tool_request(self, call: Mapping[str, Any]) -> dict[str, Any]:
        """A tool call the model asked for, as it appears in ``MODEL_RESPONSE.tool_calls``."""
        requested: dict[str, Any] = {"tool_call_id": call.get("id"), "tool_name": call.get("name")}
        args = _jsonable(call.get("args") or {})
        if self.capture_content:
            requested["args"] = args
        else:
            requested["args_hash"] = content_hash(args)
        return requested

    @_guarded
    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        with self._lock:
            model = self._models.pop(run_id, None)
        self._error(error, source="llm", run_id=run_id, model=model)

    # -- tools ------------------------------------------------------------------------------

    @_guarded
    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = (serialized or {}).get("name") or kwargs.get("name") or "unknown"
        with self._lock:
            self._tools[run_id] = name
        # LangChain gives the parsed arguments when the tool was called with an object, and
        # only a string otherwise; the event needs an object either way.
        args = _jsonable(inputs) if isinstance(inputs, Mapping) else {"input": input_str}
        extra: dict[str, Any] = {}
        tool_call_id = kwargs.get("tool_call_id")
        if tool_call_id is not None:
            extra["tool_call_id"] = str(tool_call_id)
        if self.capture_content:
            self.session.tool_call(name, args, tool_id=str(run_id), **extra)
        else:
            self.session.tool_call(name, tool_id=str(run_id), args_hash=content_hash(args), **extra)

    @_guarded
    def on_tool_end(
        self,
        output: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = self._tool_name(run_id, kwargs)
        status = "success"
        extra: dict[str, Any] = {}
        if isinstance(output, ToolMessage):
            # A tool whose error LangChain handled (handle_tool_error) still ends normally;
            # the message's status says it failed.
            status = "error" if output.status == "error" else "success"
            result = _jsonable(output.content)
            extra["tool_call_id"] = output.tool_call_id
        else:
            result = _jsonable(output)
        self._tool_result(name, run_id, result, status, extra)

    @_guarded
    def on_tool_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = self._tool_name(run_id, kwargs)
        extra: dict[str, Any] = {"error_type": type(error).__name__}
        tool_call_id = kwargs.get("tool_call_id")
        if tool_call_id is not None:
            extra["tool_call_id"] = str(tool_call_id)
        self._tool_result(name, run_id, str(error), "error", extra)

    def _tool_name(self, run_id: UUID, kwargs: Mapping[str, Any]) -> str:
        with self._lock:
            name = self._tools.pop(run_id, None)
        return name or kwargs.get("name") or "unknown"

    def _tool_result(
        self, name: str, run_id: UUID, result: Any, status: str, extra: dict[str, Any]
    ) -> None:
        if self.capture_content:
            self.session.tool_result(name, result, status=status, tool_id=str(run_id), **extra)
        else:
            self.session.tool_result(
                name,
                status=status,
                tool_id=str(run_id),
                result_hash=content_hash(result),
                **extra,
            )

    # -- chains -----------------------------------------------------------------------------

    @_guarded
    def on_chain_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._error(error, source="chain", run_id=run_id)

    def _error(
        self,
        error: BaseException,
        *,
        source: str,
        run_id: UUID,
        model: str | None = None,
    ) -> None:
        with self._lock:
            if id(error) in self._reported and self._reported[id(error)] is error:
                return
            # Holding the exception keeps its id from being reused while it is remembered.
            self._reported[id(error)] = error
            while len(self._reported) > _REMEMBERED_ERRORS:
                self._reported.popitem(last=False)
        extra: dict[str, Any] = {"source": source, "run_id": str(run_id)}
        if model is not None:
            extra["model"] = model
        if self.capture_content:
            self.session.error(error, fatal=False, **extra)
        else:
            self.session.error(
                type(error).__name__,
                _WITHHELD,
                fatal=False,
                message_hash=content_hash(str(error)),
                **extra,
            )


# --------------------------------------------------------------------------------------
# Turning LangChain objects into JSON
# --------------------------------------------------------------------------------------


def _message(message: BaseMessage) -> dict[str, Any]:
    role = getattr(message, "role", None) if message.type == "chat" else None
    item: dict[str, Any] = {
        "role": role or _ROLES.get(message.type, message.type),
        "content": _jsonable(message.content),
    }
    if isinstance(message, AIMessage) and message.tool_calls:
        item["tool_calls"] = [
            {"id": call.get("id"), "name": call["name"], "args": _jsonable(call["args"])}
            for call in message.tool_calls
        ]
    if isinstance(message, ToolMessage):
        item["tool_call_id"] = message.tool_call_id
    if message.name:
        item["name"] = message.name
    return item


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data: messages and models become objects, anything else its text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, BaseMessage):
        return _message(value)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
        return [_jsonable(item) for item in value]
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):  # pydantic models: tool outputs, usage records
        return _jsonable(model_dump())
    return str(value)


def _model_name(
    serialized: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
    invocation_params: Any,
) -> str:
    """The model's name as the provider knows it, else the LangChain model class."""
    params = invocation_params if isinstance(invocation_params, Mapping) else {}
    candidates: list[Any] = [params.get(key) for key in ("model", "model_name", "model_id")]
    candidates.append((metadata or {}).get("ls_model_name"))
    candidates.append(params.get("_type"))
    serialized = serialized or {}
    candidates.append(serialized.get("name"))
    ids = serialized.get("id")
    if isinstance(ids, list) and ids:
        candidates.append(ids[-1])
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            return candidate
    return "unknown"


def _model_from_output(llm_output: Mapping[str, Any] | None) -> str | None:
    for key in ("model_name", "model"):
        name = (llm_output or {}).get(key)
        if isinstance(name, str) and name:
            return name
    return None
