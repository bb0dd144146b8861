"""The LangChain callback handler, driven by real langchain-core models, tools and runnables."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from agentops_sdk import chain
from agentops_sdk.client import Client, Session
from agentops_sdk.integrations.langchain import (
    AgentOpsCallbackHandler,
    content_hash,
)
from agentops_sdk.verify import verify_session
from langchain_core.language_models import FakeListLLM, GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import ToolException, tool
from langchain_core.utils.function_calling import convert_to_openai_tool

EMAIL = "jane.doe@example.com"
QUESTION = f"Order 1042 arrived broken. Please refund it and write to me at {EMAIL}."
FINAL_ANSWER = "Your refund for order 1042 is on its way."


@pytest.fixture(autouse=True)
def _no_agentops_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AGENTOPS_"):
            monkeypatch.delenv(name)


class ToolCallingFakeChatModel(GenericFakeChatModel):
    """The fake chat model of langchain-core, accepting tools the way real chat models do."""

    def bind_tools(self, tools: list[Any], **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)


class FailingChatModel(GenericFakeChatModel):
    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("model endpoint unreachable")


@tool
def lookup_order(order_id: int) -> dict:
    """Look up an order by its number."""
    return {"order_id": order_id, "state": "delivered", "email": EMAIL}


@tool
def issue_refund(order_id: int, amount: float) -> str:
    """Refund an order."""
    raise ToolException(f"refunds above {amount - 1} need approval")


@tool
def broken_tool(order_id: int) -> str:
    """A tool whose backend fails."""
    raise RuntimeError("inventory service down")


def scripted_model(*replies: AIMessage) -> ToolCallingFakeChatModel:
    return ToolCallingFakeChatModel(messages=iter(replies))


def lookup_then_answer() -> ToolCallingFakeChatModel:
    return scripted_model(
        AIMessage(
            content="",
            tool_calls=[{"name": "lookup_order", "args": {"order_id": 1042}, "id": "call_1"}],
        ),
        AIMessage(content=FINAL_ANSWER),
    )


def run_agent(model: Any, tools: list[Any], config: RunnableConfig) -> list[Any]:
    """A minimal tool-calling loop: ask the model, run the tools it asks for, until it answers.

    Returns the run ids given to the tool runs, in order, so that tests can check them.
    """
    by_name = {t.name: t for t in tools}
    bound = model.bind_tools(tools)
    messages: list[Any] = [SystemMessage("You are a support agent."), HumanMessage(QUESTION)]
    tool_run_ids = []
    while True:
        reply = bound.invoke(messages, config=config)
        messages.append(reply)
        if not reply.tool_calls:
            return tool_run_ids
        for call in reply.tool_calls:
            run_id = uuid.uuid4()
            tool_run_ids.append(run_id)
            messages.append(by_name[call["name"]].invoke(call, config={**config, "run_id": run_id}))


def record(tmp_path: Path, body: Any, **handler_options: Any) -> list[dict[str, Any]]:
    """Run ``body(handler)`` inside a local session and return the session's events."""
    client = Client(local_dir=tmp_path, flush_interval=60.0, seal=True)
    session: Session
    with client.session("support-bot", framework="langchain") as session:
        body(AgentOpsCallbackHandler(session, **handler_options))
    client.close()
    assert session.path is not None
    events = [json.loads(line) for line in session.path.read_text("utf-8").splitlines()]
    report = verify_session(events)
    assert report["status"] == "PASS", report["violations"]
    return events


def types_of(events: list[dict[str, Any]]) -> list[str]:
    return [event["event_type"] for event in events]


def of_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    """The payloads of ``event_type``, without the random nonce the client adds."""
    return [
        {key: value for key, value in event["payload"].items() if key != "nonce"}
        for event in events
        if event["event_type"] == event_type
    ]


def test_a_tool_calling_agent_maps_to_model_and_tool_events(tmp_path: Path) -> None:
    tool_run_ids: list[Any] = []

    def body(handler: AgentOpsCallbackHandler) -> None:
        tool_run_ids.extend(
            run_agent(lookup_then_answer(), [lookup_order], {"callbacks": [handler]})
        )

    events = record(tmp_path, body)

    assert types_of(events) == [
        "SESSION_START",
        "MODEL_REQUEST",
        "MODEL_RESPONSE",
        "TOOL_CALL",
        "TOOL_RESULT",
        "MODEL_REQUEST",
        "MODEL_RESPONSE",
        "SESSION_END",
        "CHAIN_SEAL",
    ]
    first_request, second_request = of_type(events, "MODEL_REQUEST")
    first_response, second_response = of_type(events, "MODEL_RESPONSE")
    (call,) = of_type(events, "TOOL_CALL")
    (result,) = of_type(events, "TOOL_RESULT")

    assert first_request["model"] == "generic-fake-chat-model"
    assert first_request["messages"] == [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": QUESTION},
    ]
    assert first_response["run_id"] == first_request["run_id"]
    assert first_response["finish_reason"] == "tool_calls"
    assert first_response["tool_calls"] == [
        {"tool_call_id": "call_1", "tool_name": "lookup_order", "args": {"order_id": 1042}}
    ]

    # The tool run's LangChain id pairs the call with its result; the model's id links both
    # to the response that asked for the call.
    assert call == {
        "tool_name": "lookup_order",
        "tool_id": str(tool_run_ids[0]),
        "tool_call_id": "call_1",
        "args": {"order_id": 1042},
    }
    assert result["tool_id"] == call["tool_id"]
    assert result["tool_call_id"] == "call_1"
    assert result["status"] == "success"
    assert json.loads(result["result"]) == {
        "order_id": 1042,
        "state": "delivered",
        "email": EMAIL,
    }

    # The second request carries the whole conversation, tool turn included.
    assert [m["role"] for m in second_request["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
    ]
    assert second_request["messages"][3]["tool_call_id"] == "call_1"
    assert second_response["content"] == FINAL_ANSWER
    assert second_response["finish_reason"] == "stop"
    assert "tool_calls" not in second_response


def test_without_content_capture_only_hashes_of_the_text_are_stored(tmp_path: Path) -> None:
    def with_text(handler: AgentOpsCallbackHandler) -> None:
        run_agent(lookup_then_answer(), [lookup_order], {"callbacks": [handler]})

    def hashed(handler: AgentOpsCallbackHandler) -> None:
        run_agent(lookup_then_answer(), [lookup_order], {"callbacks": [handler]})

    captured = record(tmp_path / "text", with_text)
    events = record(tmp_path / "hashes", hashed, capture_content=False)

    assert types_of(events) == types_of(captured)
    raw = json.dumps([event["payload"] for event in events])
    text = json.dumps([event["payload"] for event in captured], ensure_ascii=False)
    for secret in (EMAIL, "1042", "support agent", FINAL_ANSWER, "delivered"):
        # Not inside a longer run of letters and digits: digests, nonces and timestamps hold
        # "1042" by chance now and then, never standing on its own.
        alone = re.compile(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])")
        assert alone.search(text), secret  # the check finds it where the text was captured
        assert not alone.search(raw), secret

    requests = of_type(events, "MODEL_REQUEST")
    responses = of_type(events, "MODEL_RESPONSE")
    (call,) = of_type(events, "TOOL_CALL")
    (result,) = of_type(events, "TOOL_RESULT")
    text_requests = of_type(captured, "MODEL_REQUEST")
    (text_call,) = of_type(captured, "TOOL_CALL")
    (text_result,) = of_type(captured, "TOOL_RESULT")

    for request, text_request in zip(requests, text_requests, strict=True):
        assert "messages" not in request
        assert request["prompt_hash"] == chain.payload_hash(text_request["messages"])
        assert request["message_count"] == len(text_request["messages"])
    assert "content" not in responses[1]
    assert responses[1]["content_hash"] == hashlib.sha256(FINAL_ANSWER.encode()).hexdigest()
    assert responses[0]["tool_calls"] == [
        {
            "tool_call_id": "call_1",
            "tool_name": "lookup_order",
            "args_hash": chain.payload_hash({"order_id": 1042}),
        }
    ]
    assert "args" not in call
    assert call["args_hash"] == chain.payload_hash(text_call["args"])
    assert call["tool_id"] == result["tool_id"]
    assert "result" not in result
    assert result["result_hash"] == hashlib.sha256(text_result["result"].encode()).hexdigest()


def test_content_hash_is_sha256_of_utf8_text_or_of_canonical_json() -> None:
    assert content_hash("héllo") == hashlib.sha256("héllo".encode()).hexdigest()
    assert content_hash({"b": 1, "a": [2.0]}) == hashlib.sha256(b'{"a":[2],"b":1}').hexdigest()


def test_a_failing_tool_is_answered_by_an_error_result_and_one_error(tmp_path: Path) -> None:
    """The exception passes through two chains; it is recorded once."""

    def agent(question: str, config: RunnableConfig) -> str:
        inner = RunnableLambda(lambda q, config: broken_tool.invoke({"order_id": 7}, config))
        return inner.invoke(question, config)

    def body(handler: AgentOpsCallbackHandler) -> None:
        with pytest.raises(RuntimeError, match="inventory service down"):
            RunnableLambda(agent).invoke("go", config={"callbacks": [handler]})

    events = record(tmp_path, body)

    assert types_of(events)[1:-2] == ["TOOL_CALL", "TOOL_RESULT", "ERROR"]
    (call,) = of_type(events, "TOOL_CALL")
    (result,) = of_type(events, "TOOL_RESULT")
    (error,) = of_type(events, "ERROR")
    assert result["tool_id"] == call["tool_id"]
    assert result["status"] == "error"
    assert result["error_type"] == "RuntimeError"
    assert result["result"] == "inventory service down"
    assert error["error_type"] == "RuntimeError"
    assert error["message"] == "inventory service down"
    assert error["source"] == "chain"
    assert error["fatal"] is False


def test_a_tool_error_handled_by_langchain_is_an_error_result(tmp_path: Path) -> None:
    refund = issue_refund.model_copy(update={"handle_tool_error": True})

    def body(handler: AgentOpsCallbackHandler) -> None:
        call = {"name": "issue_refund", "args": {"order_id": 7, "amount": 500.0}, "id": "c9"}
        reply = refund.invoke({**call, "type": "tool_call"}, config={"callbacks": [handler]})
        assert reply.status == "error"

    events = record(tmp_path, body)

    assert types_of(events)[1:-2] == ["TOOL_CALL", "TOOL_RESULT"]
    (call,) = of_type(events, "TOOL_CALL")
    (result,) = of_type(events, "TOOL_RESULT")
    assert result == {
        "tool_name": "issue_refund",
        "status": "error",
        "tool_id": call["tool_id"],
        "tool_call_id": "c9",
        "result": "refunds above 499.0 need approval",
    }


def test_a_failing_model_call_is_one_error_even_inside_a_chain(tmp_path: Path) -> None:
    model = FailingChatModel(messages=iter([]))

    def body(handler: AgentOpsCallbackHandler) -> None:
        chained = RunnableLambda(lambda q, config: model.invoke(q, config))
        with pytest.raises(ConnectionError):
            chained.invoke("hello", config={"callbacks": [handler]})

    events = record(tmp_path, body)

    assert types_of(events)[1:-2] == ["MODEL_REQUEST", "ERROR"]
    (request,) = of_type(events, "MODEL_REQUEST")
    (error,) = of_type(events, "ERROR")
    assert error["source"] == "llm"
    assert error["run_id"] == request["run_id"]
    assert error["model"] == request["model"]
    assert error["fatal"] is False
    assert error["error_type"] == "ConnectionError"


def test_without_content_capture_an_error_keeps_its_type_and_hashes_its_text(
    tmp_path: Path,
) -> None:
    def body(handler: AgentOpsCallbackHandler) -> None:
        with pytest.raises(RuntimeError):
            RunnableLambda(lambda q, config: broken_tool.invoke({"order_id": 7}, config)).invoke(
                "go", config={"callbacks": [handler]}
            )

    events = record(tmp_path, body, capture_content=False)

    assert "inventory service down" not in json.dumps([e["payload"] for e in events])
    (result,) = of_type(events, "TOOL_RESULT")
    (error,) = of_type(events, "ERROR")
    expected = hashlib.sha256(b"inventory service down").hexdigest()
    assert result["result_hash"] == expected
    assert error["message_hash"] == expected
    assert error["error_type"] == "RuntimeError"


def test_a_completion_model_is_recorded_like_a_chat_model(tmp_path: Path) -> None:
    def body(handler: AgentOpsCallbackHandler) -> None:
        FakeListLLM(responses=["Shipped on Monday."]).invoke(
            "Where is order 7?", config={"callbacks": [handler]}
        )

    events = record(tmp_path, body)

    (request,) = of_type(events, "MODEL_REQUEST")
    (response,) = of_type(events, "MODEL_RESPONSE")
    assert request["model"] == "fake-list"
    assert request["messages"] == [{"role": "user", "content": "Where is order 7?"}]
    assert response["content"] == "Shipped on Monday."
    assert response["run_id"] == request["run_id"]


def test_async_runs_record_in_the_order_langchain_reports(tmp_path: Path) -> None:
    def body(handler: AgentOpsCallbackHandler) -> None:
        async def agent() -> None:
            config: RunnableConfig = {"callbacks": [handler]}
            reply = await lookup_then_answer().bind_tools([lookup_order]).ainvoke("hi", config)
            await lookup_order.ainvoke({**reply.tool_calls[0], "type": "tool_call"}, config)

        asyncio.run(agent())

    events = record(tmp_path, body)

    assert types_of(events)[1:-2] == ["MODEL_REQUEST", "MODEL_RESPONSE", "TOOL_CALL", "TOOL_RESULT"]


def test_callbacks_never_raise_into_the_agent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="agentops_sdk")

    def body(handler: AgentOpsCallbackHandler) -> None:
        run_id = uuid.uuid4()
        # Values LangChain would never send: the handler must log, not raise.
        handler.on_llm_end(object(), run_id=run_id)  # type: ignore[arg-type]
        handler.on_chat_model_start({}, None, run_id=run_id)  # type: ignore[arg-type]
        handler.on_tool_start(None, 42, run_id=run_id)  # type: ignore[arg-type]

    events = record(tmp_path, body)

    assert "on_llm_end" in caplog.text
    assert "on_chat_model_start" in caplog.text
    # What could be understood is still recorded; nothing else is.
    assert types_of(events)[1:-2] == ["TOOL_CALL"]
    assert of_type(events, "TOOL_CALL")[0]["args"] == {"input": 42}
