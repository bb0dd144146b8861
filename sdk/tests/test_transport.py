"""Transport and remote client against a small ingestion API served on loopback.

``ScriptedIngestion`` is a real HTTP server (``http.server`` on 127.0.0.1, port 0) that keeps
sessions in memory with the service's append rules (continuity, duplicates, all or nothing)
and can be told to answer the next requests of a route with given failures.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from agentops_sdk import chain
from agentops_sdk.client import Client
from agentops_sdk.transport import Reply, RetryPolicy, Transport, retry_after_seconds

API_KEY = "test-key"


@pytest.fixture(autouse=True)
def _no_agentops_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AGENTOPS_"):
            monkeypatch.delenv(name)


@dataclass
class Action:
    """A scripted answer: ``status`` (with an error ``code``), optionally after storing."""

    status: int
    code: str = "SCRIPTED"
    headers: dict[str, str] = field(default_factory=dict)
    store: bool = False  # apply the request first: the answer is lost, not the request


SWALLOW = "swallow"  # answer 200 without storing: the service lost an acknowledged batch


@dataclass
class Seen:
    method: str
    path: str
    body: bytes
    at: float


class ScriptedIngestion:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[str, dict[str, Any]] = {}
        self.script: dict[str, list[Action | str | None]] = {}
        self.seen: list[Seen] = []
        handler = type("Handler", (_Handler,), {"api": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def then(self, route: str, *actions: Action | str | None) -> None:
        """Answer the next requests of ``route`` (events, create, get, seal) with ``actions``;
        ``None`` means "answer normally"."""
        with self.lock:
            self.script.setdefault(route, []).extend(actions)

    def clear(self, route: str) -> None:
        with self.lock:
            self.script.pop(route, None)

    def stored(self, session_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.sessions[session_id]["events"])

    def requests(self, route_suffix: str) -> list[Seen]:
        with self.lock:
            return [seen for seen in self.seen if seen.path.endswith(route_suffix)]

    # -- request handling (lock held) ---------------------------------------------------

    def handle(self, method: str, path: str, body: bytes, auth: str | None) -> tuple:
        self.seen.append(Seen(method, path, body, time.monotonic()))
        if auth != f"Bearer {API_KEY}":
            return _error(401, "UNAUTHENTICATED")
        parts = path.removeprefix("/api/v1/").split("/")
        route = {
            ("POST", 1): "create",
            ("GET", 2): "get",
            ("POST", 3): parts[-1] if len(parts) == 3 else "",
        }.get((method, len(parts)), "")
        queued = self.script.get(route)
        action = queued.pop(0) if queued else None
        if isinstance(action, Action):
            if action.store:
                self._apply(route, parts, body)
            return _error(action.status, action.code, headers=action.headers)
        if action == SWALLOW:
            events = json.loads(body)["events"]
            return 200, {}, {"accepted": len(events), "duplicates": 0, "head": {}}
        return self._apply(route, parts, body)

    def _apply(self, route: str, parts: list[str], body: bytes) -> tuple:
        if route == "create":
            data = json.loads(body)
            session_id = data["session_id"]
            if session_id in self.sessions:
                return 200, {}, self._session(session_id)
            self.sessions[session_id] = {"events": [], "sealed": False, "agent": data["agent_id"]}
            return 201, {}, self._session(session_id)
        session = self.sessions.get(parts[1])
        if session is None:
            return _error(404, "SESSION_NOT_FOUND")
        if route == "get":
            return 200, {}, self._session(parts[1])
        if route == "seal":
            session["sealed"] = True
            return 200, {}, {"seal": {"event_type": "CHAIN_SEAL"}, "verification": {}}
        if route == "events":
            return self._append(session, json.loads(body)["events"])
        return _error(404, "NOT_FOUND")

    def _append(self, session: dict[str, Any], proposals: list[dict[str, Any]]) -> tuple:
        if session["sealed"]:
            return _error(409, "SESSION_SEALED")
        stored = session["events"]
        expected = len(stored)
        fresh: list[dict[str, Any]] = []
        duplicates = 0
        ended = bool(stored) and stored[-1]["event_type"] == "SESSION_END"
        for proposal in proposals:
            number = proposal["sequence_number"]
            problems = chain.payload_problems(proposal["event_type"], proposal["payload"])
            if proposal["event_type"] not in chain.PRODUCER_EVENT_TYPES or problems:
                return _error(400, "VALIDATION_ERROR")
            if number < expected:
                known = (stored + fresh)[number]
                if known["event_id"] != proposal["event_id"] or known != proposal:
                    return _error(409, "SEQUENCE_CONFLICT")
                duplicates += 1
                continue
            if number != expected:
                return _error(409, "SEQUENCE_GAP", details={"expected_sequence": expected})
            is_start = proposal["event_type"] == "SESSION_START"
            if (number == 0) != is_start or ended:
                return _error(409, "ORDERING_VIOLATION")
            ended = proposal["event_type"] == "SESSION_END"
            fresh.append(proposal)
            expected += 1
        stored.extend(fresh)
        head = {"sequence_number": len(stored) - 1 if stored else None, "event_hash": None}
        return 200, {}, {"accepted": len(fresh), "duplicates": duplicates, "head": head}

    def _session(self, session_id: str) -> dict[str, Any]:
        events = self.sessions[session_id]["events"]
        return {
            "session_id": session_id,
            "event_count": len(events),
            "sealed": self.sessions[session_id]["sealed"],
            "head": {
                "sequence_number": len(events) - 1 if events else None,
                "event_hash": None,
            },
        }


def _error(
    status: int,
    code: str,
    *,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> tuple:
    body = {"error": {"code": code, "message": code.lower(), "details": details or {}}}
    return status, headers or {}, body


class _Handler(BaseHTTPRequestHandler):
    api: ScriptedIngestion
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: avoid delayed-ACK stalls

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.api.lock:
            status, headers, answer = self.api.handle(
                self.command, self.path, body, self.headers.get("Authorization")
            )
        data = json.dumps(answer).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[ScriptedIngestion]:
    server = ScriptedIngestion()
    yield server
    server.close()


def transport(url: str, **policy: Any) -> Transport:
    settings = {"base": 0.001, "cap": 0.01, "budget": 2.0, **policy}
    return Transport(server_url=url, api_key=API_KEY, policy=RetryPolicy(**settings))


def remote_client(api: ScriptedIngestion, **settings: Any) -> Client:
    defaults = {
        "batch_size": 3,
        "flush_interval": 60.0,  # batches go out when full or on flush(): the tests decide
        "backoff_base": 0.001,
        "backoff_cap": 0.01,
        "retry_budget": 0.3,
        "shutdown_timeout": 5.0,
    }
    return Client(api.url, API_KEY, **{**defaults, **settings})


def numbers(events: list[dict[str, Any]]) -> list[int]:
    return [event["sequence_number"] for event in events]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["event_type"] for event in events]


def a_started_session(api: ScriptedIngestion) -> str:
    session_id = "6513270e-269e-4d37-b2a7-4de452e6b438"
    api.sessions[session_id] = {"events": [], "sealed": False, "agent": "bot"}
    return session_id


def start_event(session_id: str) -> bytes:
    return json.dumps(
        {
            "event_id": "0f6cfc43-1a6e-4d38-9f0e-7ad2c1d1f1a1",
            "session_id": session_id,
            "sequence_number": 0,
            "timestamp_wall": "2026-01-25T10:00:00.000000Z",
            "timestamp_monotonic": 0,
            "event_type": "SESSION_START",
            "source_sdk_ver": "test/1",
            "schema_ver": "v0.6",
            "payload": {"agent_id": "bot"},
        }
    ).encode()


# --------------------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------------------


def test_server_errors_are_retried_with_the_same_body_until_accepted(
    api: ScriptedIngestion,
) -> None:
    session_id = a_started_session(api)
    api.then("events", Action(500), Action(503), Action(408))

    reply = transport(api.url).events_append(session_id, [start_event(session_id)])

    assert reply.ok and reply.attempts == 4
    bodies = {seen.body for seen in api.requests("/events")}
    assert len(bodies) == 1  # every attempt sent the same event id and numbers
    assert len(api.stored(session_id)) == 1


def test_retry_after_is_honoured(api: ScriptedIngestion) -> None:
    session_id = a_started_session(api)
    api.then("events", Action(429, "RATE_LIMITED", headers={"Retry-After": "0.3"}))

    reply = transport(api.url).events_append(session_id, [start_event(session_id)])

    assert reply.ok
    first, second = api.requests("/events")
    assert second.at - first.at >= 0.3


def test_a_400_is_not_retried(api: ScriptedIngestion) -> None:
    session_id = a_started_session(api)
    api.then("events", Action(400, "VALIDATION_ERROR"))

    reply = transport(api.url).events_append(session_id, [start_event(session_id)])

    assert (reply.status, reply.code, reply.retryable) == (400, "VALIDATION_ERROR", False)
    assert len(api.requests("/events")) == 1


def test_retrying_stops_when_the_budget_is_spent(api: ScriptedIngestion) -> None:
    session_id = a_started_session(api)
    api.then("events", *[Action(503)] * 1000)

    started = time.monotonic()
    reply = transport(api.url, budget=0.2).events_append(session_id, [start_event(session_id)])

    assert reply.status == 503 and reply.retryable and reply.attempts > 1
    assert time.monotonic() - started < 1.0


def test_max_attempts_limits_retries_when_nothing_answers() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"

    reply = transport(url, max_attempts=2).session_get("6513270e-269e-4d37-b2a7-4de452e6b438")

    assert reply.status is None and reply.retryable and reply.attempts == 2


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds("Thu, 01 Jan 2099 00:00:00 GMT", now=4070908790.0) == 10.0
    assert retry_after_seconds("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_is_full_jitter_under_the_cap() -> None:
    import random

    policy = RetryPolicy(base=0.25, cap=10.0)
    rng = random.Random(7)
    for retry in range(200):
        assert 0.0 <= policy.backoff(retry, rng) <= min(10.0, 0.25 * 2 ** min(retry, 60))


def test_error_code_and_details_are_read_from_the_error_body() -> None:
    body = {"error": {"code": "SEQUENCE_GAP", "message": "m", "details": {"expected_sequence": 4}}}
    reply = Reply(409, body)
    assert reply.code == "SEQUENCE_GAP" and reply.details == {"expected_sequence": 4}
    assert Reply(502, "<html>").code is None


# --------------------------------------------------------------------------------------
# Remote client
# --------------------------------------------------------------------------------------


def test_remote_session_is_stored_in_order_and_sealed(api: ScriptedIngestion) -> None:
    client = remote_client(api)
    with client.session("bot", metadata={"run": 1}) as session:
        for number in range(7):
            session.snapshot({"n": number})
    client.close()

    stored = api.stored(session.session_id)
    assert numbers(stored) == list(range(9))
    assert types(stored)[0] == "SESSION_START" and types(stored)[-1] == "SESSION_END"
    assert api.sessions[session.session_id]["sealed"] is True
    assert session.seal_result == {"seal": {"event_type": "CHAIN_SEAL"}, "verification": {}}
    stats = client.stats()
    assert (stats["sent"], stats["dropped"], stats["pending"]) == (9, 0, 0)


def test_a_retried_batch_keeps_its_event_ids_and_is_stored_once(api: ScriptedIngestion) -> None:
    client = remote_client(api)
    api.then("events", Action(500), Action(503, headers={"Retry-After": "0"}))
    with client.session("bot") as session:
        session.snapshot({"n": 0})
        session.snapshot({"n": 1})  # a full batch of three goes out now
        assert client.flush(5)
    client.close()

    first_attempt = json.loads(api.requests("/events")[0].body)["events"]
    stored = api.stored(session.session_id)
    assert [e["event_id"] for e in stored[:3]] == [e["event_id"] for e in first_attempt]
    assert numbers(stored) == [0, 1, 2, 3]
    assert client.stats()["retries"] == 2


def test_an_answer_lost_after_storing_is_neither_duplicated_nor_counted_as_lost(
    api: ScriptedIngestion,
) -> None:
    client = remote_client(api, max_attempts=3, retry_budget=30.0)
    api.then("events", Action(500, store=True), Action(503), Action(503))
    with client.session("bot") as session:
        session.snapshot({"n": 0})
        session.snapshot({"n": 1})  # sequence 0-2: stored, but no attempt is answered 200
    client.close()

    stored = api.stored(session.session_id)
    assert numbers(stored) == [0, 1, 2, 3]
    assert "LOG_DROP" not in types(stored)
    assert client.stats()["dropped"] == 0


def test_a_batch_given_up_after_the_retry_budget_becomes_a_network_loss_log_drop(
    api: ScriptedIngestion,
) -> None:
    client = remote_client(api, max_attempts=3, retry_budget=30.0)
    with client.session("bot") as session:
        session.snapshot({"n": 0})
        session.snapshot({"n": 1})
        assert client.flush(5)  # sequence 0-2 stored
        api.then("events", Action(503), Action(503), Action(503))
        for number in range(2, 5):
            session.snapshot({"n": number})  # sequence 3-5: given up after three attempts
        session.snapshot({"n": 5})
    client.close()

    stored = api.stored(session.session_id)
    assert numbers(stored) == list(range(len(stored)))
    assert types(stored)[3] == "LOG_DROP"
    assert stored[3]["payload"] == {
        "dropped_count": 3,
        "cumulative_drops": 3,
        "drop_reason": "NETWORK_LOSS",
        "sequence_range": [3, 5],
    }
    assert [e["payload"].get("n") for e in stored[4:]] == [5, None]
    assert types(stored)[-1] == "SESSION_END"
    stats = client.stats()
    assert stats["dropped_network_loss"] == 3 and stats["dropped"] == 3


def test_a_refused_batch_is_not_retried_and_becomes_a_log_drop(api: ScriptedIngestion) -> None:
    client = remote_client(api)
    with client.session("bot") as session:
        session.snapshot({"n": 0})
        session.snapshot({"n": 1})
        assert client.flush(5)
        api.then("events", Action(409, "POLICY_VIOLATION"))
        for number in range(2, 5):
            session.snapshot({"n": number})
        assert client.flush(5)
    client.close()

    refused = json.loads(api.requests("/events")[1].body)["events"]
    sent_ids = [json.loads(seen.body)["events"][0]["event_id"] for seen in api.requests("/events")]
    assert sent_ids.count(refused[0]["event_id"]) == 1  # never retried
    stored = api.stored(session.session_id)
    assert numbers(stored) == list(range(5))
    snapshot = "AGENT_STATE_SNAPSHOT"
    assert types(stored) == ["SESSION_START", snapshot, snapshot, "LOG_DROP", "SESSION_END"]
    assert stored[3]["payload"]["dropped_count"] == 3


def test_a_lost_first_batch_sends_session_start_again(api: ScriptedIngestion) -> None:
    client = remote_client(api)
    api.then("events", Action(400, "VALIDATION_ERROR"))
    with client.session("bot") as session:
        session.snapshot({"n": 0})
        session.snapshot({"n": 1})
        assert client.flush(5)
    client.close()

    stored = api.stored(session.session_id)
    assert types(stored) == ["SESSION_START", "LOG_DROP", "SESSION_END"]
    assert numbers(stored) == [0, 1, 2]
    assert stored[1]["payload"]["dropped_count"] == 2


def test_the_sdk_events_of_a_lost_batch_are_sent_again(api: ScriptedIngestion) -> None:
    client = remote_client(api, queue_size=4, batch_size=10)
    api.then("events", Action(409, "POLICY_VIOLATION"))
    with client.session("bot") as session:
        for number in range(5):  # three fit beside SESSION_START, two are dropped
            session.snapshot({"n": number})
    client.close()  # one batch: START, 3 snapshots, LOG_DROP (BUFFER_FULL), END; refused

    stored = api.stored(session.session_id)
    assert types(stored) == ["SESSION_START", "LOG_DROP", "LOG_DROP", "SESSION_END"]
    assert numbers(stored) == [0, 1, 2, 3]
    assert [e["payload"] for e in stored[1:3]] == [
        {"dropped_count": 2, "cumulative_drops": 2, "drop_reason": "BUFFER_FULL"},
        {
            "dropped_count": 3,
            "cumulative_drops": 5,
            "drop_reason": "NETWORK_LOSS",
            "sequence_range": [0, 5],
        },
    ]
    assert api.sessions[session.session_id]["sealed"] is True


def test_a_batch_too_large_for_the_service_is_split(api: ScriptedIngestion) -> None:
    client = remote_client(api, batch_size=10)
    api.then("events", Action(413, "PAYLOAD_TOO_LARGE"))
    with client.session("bot") as session:
        for number in range(6):
            session.snapshot({"n": number})
    client.close()

    stored = api.stored(session.session_id)
    assert numbers(stored) == list(range(8)) and "LOG_DROP" not in types(stored)
    sizes = [len(json.loads(seen.body)["events"]) for seen in api.requests("/events")]
    assert sizes[:2] == [8, 4]


def test_resynchronises_after_a_sequence_gap(api: ScriptedIngestion) -> None:
    client = remote_client(api)
    with client.session("bot") as session:
        session.snapshot({"n": 0})
        session.snapshot({"n": 1})
        assert client.flush(5)  # sequence 0-2 stored
        api.then("events", SWALLOW)
        for number in range(2, 5):
            session.snapshot({"n": number})  # 3-5: acknowledged, yet never stored
        assert client.flush(5)
        for number in range(5, 8):
            session.snapshot({"n": number})  # 6-8: answered SEQUENCE_GAP
    client.close()

    assert len(api.requests(f"/sessions/{session.session_id}")) == 1  # the GET
    stored = api.stored(session.session_id)
    assert numbers(stored) == list(range(len(stored)))
    assert stored[3]["event_type"] == "LOG_DROP"
    assert stored[3]["payload"]["sequence_range"] == [3, 5]
    assert [e["payload"].get("n") for e in stored[4:7]] == [5, 6, 7]
    assert types(stored)[-1] == "SESSION_END"
    assert api.sessions[session.session_id]["sealed"] is True


def test_an_unknown_api_key_stops_the_session_and_counts_its_events(
    api: ScriptedIngestion,
) -> None:
    client = Client(api.url, "wrong-key", flush_interval=60.0, shutdown_timeout=2.0)
    with client.session("bot") as session:
        session.snapshot({"n": 0})
    client.close()

    assert session.session_id not in api.sessions
    assert client.stats()["dropped_unsent"] == 3


def test_several_threads_record_concurrently_into_one_remote_session(
    api: ScriptedIngestion,
) -> None:
    client = remote_client(api, batch_size=50, flush_interval=0.02)
    threads_count, per_thread = 8, 200
    with client.session("bot") as session:

        def work(thread: int) -> None:
            for number in range(per_thread):
                session.record("AGENT_STATE_SNAPSHOT", {"thread": thread, "n": number})

        threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    client.close()

    stored = api.stored(session.session_id)
    assert numbers(stored) == list(range(threads_count * per_thread + 2))
    assert len({e["event_id"] for e in stored}) == len(stored)
    seen = sorted(
        (e["payload"]["thread"], e["payload"]["n"])
        for e in stored
        if e["event_type"] == "AGENT_STATE_SNAPSHOT"
    )
    assert seen == [(t, n) for t in range(threads_count) for n in range(per_thread)]
    assert client.stats()["sent"] == len(stored)
