"""The SDK in remote mode against a real ingestion service, with and without network faults.

The service is pytest-django's live server (a threaded HTTP server on 127.0.0.1). Faults come
from ``FaultProxy`` between the two: nothing listening, 5xx answers, a cut connection.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from agentops_sdk.client import Client
from agentops_sdk.integrations.langchain import AgentOpsCallbackHandler
from agentops_sdk.verify import verify_session
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool

from ingestion import keys

from .fault_proxy import CUT, FAILED, FORWARDED, FaultProxy
from .support import (
    FAST,
    assert_stored_exactly_once,
    record_tool_round_trips,
    stored_events,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def proxy(live_server: Any) -> Iterator[FaultProxy]:
    """A proxy in front of the live server; the test decides when it starts listening."""
    fault_proxy = FaultProxy(live_server.url)
    yield fault_proxy
    fault_proxy.stop()


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    """Make clients that are closed (sender thread stopped) whatever the test's outcome."""
    made: list[Client] = []

    def make(url: str, api_key: str, **settings: Any) -> Client:
        client = Client(url, api_key, **{**FAST, **settings})
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=1)


def verify_stored(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Verify offline, trusting the service's published keys as a reader of an export would."""
    return verify_session(events, trusted_keys=keys.trusted_public_keys())


def test_every_event_arrives_once_and_the_seal_is_authoritative(
    live_server: Any, api_key: str, clients: Callable[..., Client]
) -> None:
    client = clients(live_server.url, api_key)
    with client.session("support-bot", metadata={"ticket": 42}) as session:
        expected = record_tool_round_trips(session, 12)
    client.close(timeout=20)

    events = assert_stored_exactly_once(session.session_id, expected)
    assert {e["chain_authority"] for e in events} == {"server"}
    report = verify_stored(events)
    assert report["status"] == "PASS", report["violations"]
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert session.seal_result is not None
    assert session.seal_result["verification"]["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    stats = client.stats()
    assert stats["sent"] == stats["recorded"] == len(events) - 1
    assert stats["dropped"] == 0 and stats["duplicates"] == 0


def test_a_service_that_is_down_when_the_agent_starts_gets_every_event_once(
    proxy: FaultProxy, api_key: str, clients: Callable[..., Client]
) -> None:
    client = clients(proxy.url, api_key)
    with client.session("support-bot") as session:
        expected = record_tool_round_trips(session, 8)
    # Nothing listens on the port yet: the sender's attempts are refused and retried.
    time.sleep(0.5)
    assert proxy.log == []

    proxy.start()
    client.close(timeout=20)

    events = assert_stored_exactly_once(session.session_id, expected)
    assert verify_stored(events)["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    stats = client.stats()
    assert stats["retries"] >= 1
    assert stats["dropped"] == 0


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_answers_for_a_while_delay_the_events_but_lose_none(
    status: int, proxy: FaultProxy, api_key: str, clients: Callable[..., Client]
) -> None:
    proxy.fail(6, status)
    proxy.start()
    client = clients(proxy.url, api_key)
    with client.session("support-bot") as session:
        expected = record_tool_round_trips(session, 8)
    client.close(timeout=20)

    assert len(proxy.outcomes(FAILED)) == 6
    assert proxy.outcomes(FORWARDED)
    events = assert_stored_exactly_once(session.session_id, expected)
    assert verify_stored(events)["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    stats = client.stats()
    assert stats["retries"] >= 6
    assert stats["dropped"] == 0


def test_a_connection_cut_after_a_batch_was_stored_leaves_no_duplicate_and_no_gap(
    proxy: FaultProxy, api_key: str, clients: Callable[..., Client]
) -> None:
    proxy.cut(1, path_contains="/events")
    proxy.start()
    client = clients(proxy.url, api_key, flush_interval=60.0)  # batches of exactly batch_size
    with client.session("support-bot") as session:
        expected = record_tool_round_trips(session, 6)
    client.close(timeout=20)

    ((method, path, _),) = proxy.outcomes(CUT)
    assert (method, path) == ("POST", f"/api/v1/sessions/{session.session_id}/events")
    events = assert_stored_exactly_once(session.session_id, expected)
    assert verify_stored(events)["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    stats = client.stats()
    # The retried batch had been stored: the service answers it as duplicates.
    assert stats["duplicates"] == FAST["batch_size"]
    assert stats["sent"] + stats["duplicates"] == stats["recorded"]
    assert stats["dropped"] == 0


def test_queue_overflow_is_recorded_as_log_drop_and_the_session_is_partial(
    proxy: FaultProxy, api_key: str, clients: Callable[..., Client]
) -> None:
    # While the service cannot be reached the queue cannot drain: the SESSION_START and
    # four more events fill it, the other 26 calls are refused.
    client = clients(proxy.url, api_key, queue_size=5)
    with client.session("support-bot") as session:
        for number in range(30):
            session.tool_call("lookup_order", {"order_id": number}, tool_id=f"t{number}")
    proxy.start()
    client.close(timeout=20)

    events = stored_events(session.session_id)
    assert [e["event_type"] for e in events] == [
        "SESSION_START",
        *["TOOL_CALL"] * 4,
        "LOG_DROP",
        "SESSION_END",
        "CHAIN_SEAL",
    ]
    assert [e["payload"]["tool_id"] for e in events[1:5]] == ["t0", "t1", "t2", "t3"]
    assert events[5]["payload"] == {
        "dropped_count": 26,
        "cumulative_drops": 26,
        "drop_reason": "BUFFER_FULL",
    }
    assert client.stats()["dropped_buffer_full"] == 26

    report = verify_stored(events)
    assert report["status"] == "PASS", report["violations"]
    assert report["evidence_class"] == "PARTIAL_AUTHORITATIVE_EVIDENCE"
    assert report["partial_reasons"] == ["LOG_DROP_PRESENT"]
    assert report["total_drops"] == 26
    assert session.seal_result is not None
    assert session.seal_result["seal"]["payload"]["total_drops"] == 26
    assert session.seal_result["verification"]["partial_reasons"] == ["LOG_DROP_PRESENT"]


class ToolCallingFakeChatModel(GenericFakeChatModel):
    def bind_tools(self, tools: list[Any], **kwargs: Any) -> Any:
        from langchain_core.utils.function_calling import convert_to_openai_tool

        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)


@tool
def lookup_order(order_id: int) -> dict:
    """Look up an order by its number."""
    return {"order_id": order_id, "state": "shipped"}


def test_the_langchain_handler_records_a_sealed_authoritative_session(
    live_server: Any, api_key: str, clients: Callable[..., Client]
) -> None:
    model = ToolCallingFakeChatModel(
        messages=iter(
            [
                AIMessage(
                    "", tool_calls=[{"name": "lookup_order", "args": {"order_id": 7}, "id": "c1"}]
                ),
                AIMessage("Order 7 has shipped."),
            ]
        )
    )
    client = clients(live_server.url, api_key)
    with client.session("support-bot", framework="langchain") as session:
        config = {"callbacks": [AgentOpsCallbackHandler(session)]}
        bound = model.bind_tools([lookup_order])
        messages: list[Any] = [HumanMessage("Where is order 7?")]
        reply = bound.invoke(messages, config=config)
        tool_run = uuid.uuid4()
        messages += [
            reply,
            lookup_order.invoke(reply.tool_calls[0], {**config, "run_id": tool_run}),
        ]
        bound.invoke(messages, config=config)
    client.close(timeout=20)

    events = stored_events(session.session_id)
    assert [e["event_type"] for e in events] == [
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
    call, result = events[3]["payload"], events[4]["payload"]
    assert call["tool_id"] == result["tool_id"] == str(tool_run)
    assert call["tool_call_id"] == result["tool_call_id"] == "c1"
    assert events[6]["payload"]["content"] == "Order 7 has shipped."
    assert verify_stored(events)["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
