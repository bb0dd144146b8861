"""The recording client in local mode: the JSONL file it writes and what it does with bad input."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk.client import Client, Session
from agentops_sdk.config import ClientConfig


@pytest.fixture(autouse=True)
def _no_agentops_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("AGENTOPS_"):
            monkeypatch.delenv(name)


def local_client(tmp_path: Path, **settings: Any) -> Client:
    settings.setdefault("flush_interval", 60.0)  # the tests decide when the sender runs
    return Client(local_dir=tmp_path, **settings)


def read_events(session: Session) -> list[dict[str, Any]]:
    assert session.path is not None
    with session.path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def verify(events: list[dict[str, Any]]) -> dict[str, Any]:
    from agentops_sdk.verify import verify_session

    return verify_session(events)


def sequence_numbers(events: list[dict[str, Any]]) -> list[int]:
    return [event["sequence_number"] for event in events]


def test_local_session_round_trip_verifies_as_non_authoritative(tmp_path: Path) -> None:
    client = local_client(tmp_path, seal=True)
    with client.session("support-bot", metadata={"ticket": 7}, environment="dev") as session:
        session.model_request("gpt-4o", [{"role": "user", "content": "hi"}], temperature=0.2)
        session.model_response("gpt-4o", "hello", usage={"tokens": 3})
        tool_id = session.tool_call("lookup_order", {"order_id": 1000})
        session.tool_result("lookup_order", {"state": "shipped"}, tool_id=tool_id)
        session.decision("refund", inputs={"a": 1}, outputs={"ok": True}, justification="rule 4")
        session.error("Timeout", "the shop API did not answer")
        session.annotate("worth a look", annotation_type="flag")
        session.snapshot({"step": 3})
    client.close()

    events = read_events(session)
    report = verify(events)
    assert report["status"] == "PASS", report["violations"]
    assert report["evidence_class"] == "NON_AUTHORITATIVE_EVIDENCE"
    assert report["sealed"] is True and report["complete"] is True
    assert [e["event_type"] for e in events] == [
        "SESSION_START",
        "MODEL_REQUEST",
        "MODEL_RESPONSE",
        "TOOL_CALL",
        "TOOL_RESULT",
        "DECISION_TRACE",
        "ERROR",
        "ANNOTATION",
        "AGENT_STATE_SNAPSHOT",
        "SESSION_END",
        "CHAIN_SEAL",
    ]
    assert {e["chain_authority"] for e in events} == {"sdk"}
    assert {e["authority_id"] for e in events} == {client.instance_id}
    assert events[0]["payload"]["metadata"] == {"ticket": 7}
    assert events[4]["payload"]["tool_id"] == events[3]["payload"]["tool_id"] == tool_id
    assert session.sealed and client.stats()["sent"] == 10  # the seal is not an agent event


def test_local_session_without_seal_has_no_chain_seal(tmp_path: Path) -> None:
    client = local_client(tmp_path)
    with client.session("bot") as session:
        session.record("AGENT_STATE_SNAPSHOT", {"k": "v"})
    client.close()

    events = read_events(session)
    assert [e["event_type"] for e in events] == [
        "SESSION_START",
        "AGENT_STATE_SNAPSHOT",
        "SESSION_END",
    ]
    report = verify(events)
    assert report["status"] == "PASS"
    assert report["evidence_class"] == "NON_AUTHORITATIVE_EVIDENCE"
    assert report["sealed"] is False


def test_leaving_the_block_normally_writes_session_end_success(tmp_path: Path) -> None:
    client = local_client(tmp_path)
    with client.session("bot") as session:
        pass
    client.close()

    end = read_events(session)[-1]
    assert end["event_type"] == "SESSION_END"
    assert end["payload"]["status"] == "success"
    assert isinstance(end["payload"]["duration_ms"], int) and end["payload"]["duration_ms"] >= 0


def test_an_exception_writes_session_end_failure_and_is_re_raised(tmp_path: Path) -> None:
    client = local_client(tmp_path)
    with pytest.raises(LookupError, match="no such order"), client.session("bot") as session:
        session.tool_call("lookup_order", {"order_id": 1})
        raise LookupError("no such order")
    client.close()

    end = read_events(session)[-1]
    assert end["event_type"] == "SESSION_END"
    assert end["payload"]["status"] == "failure"
    assert end["payload"]["error_type"] == "LookupError"
    assert verify(read_events(session))["status"] == "PASS"


def test_keyboard_interrupt_ends_the_session_as_cancelled(tmp_path: Path) -> None:
    client = local_client(tmp_path)
    with pytest.raises(KeyboardInterrupt), client.session("bot") as session:
        raise KeyboardInterrupt
    client.close()

    assert read_events(session)[-1]["payload"]["status"] == "cancelled"


class _NotJson:
    pass


def _circular() -> dict[str, Any]:
    payload: dict[str, Any] = {"tool_name": "t"}
    payload["args"] = payload
    return payload


def _nested(depth: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return {"tool_name": "t", "args": {"deep": value}}


BAD_RECORDS: list[tuple[Any, Any]] = [
    ("TOOL_CALL", {"tool_name": "t", "args": {"x": float("nan")}}),
    ("TOOL_CALL", {"tool_name": "t", "args": {"x": float("inf")}}),
    ("TOOL_CALL", {"tool_name": "t", "args": {"x": 2**60}}),
    ("TOOL_CALL", {"tool_name": "t", "args": {"x": "\ud800"}}),
    ("TOOL_CALL", {"tool_name": "t", "args": {1: "int key"}}),
    ("TOOL_CALL", {"tool_name": "t", "args": {"x": _NotJson()}}),
    ("TOOL_CALL", _circular()),
    ("TOOL_CALL", _nested(600)),
    ("TOOL_CALL", {"args": {}}),  # tool_name missing
    ("TOOL_CALL", ["not", "an", "object"]),
    ("NOT_A_TYPE", {}),
    (None, {}),
    ("CHAIN_SEAL", {}),
    ("SESSION_START", {"agent_id": "x"}),
    ("LOG_DROP", {"dropped_count": 1, "cumulative_drops": 1, "drop_reason": "BUFFER_FULL"}),
    ("AGENT_STATE_SNAPSHOT", {"blob": "x" * 5000}),  # over max_payload_bytes below
]


def test_record_never_raises_and_records_bad_input_as_error_events(tmp_path: Path) -> None:
    client = local_client(tmp_path, max_payload_bytes=4096)
    with client.session("bot") as session:
        for event_type, payload in BAD_RECORDS:
            session.record(event_type, payload)
        session.tool_call("t", "not a mapping")  # type: ignore[arg-type]
    client.close()

    events = read_events(session)
    errors = [e for e in events if e["event_type"] == "ERROR"]
    assert len(errors) == len(BAD_RECORDS) + 1
    assert {e["payload"]["error_type"] for e in errors} == {"INVALID_EVENT"}
    assert all(len(e["payload"]["message"]) <= 500 for e in errors)
    assert client.stats()["invalid"] == len(BAD_RECORDS) + 1
    assert verify(events)["status"] == "PASS"


def test_the_payload_is_recorded_as_it_was_when_record_was_called(tmp_path: Path) -> None:
    client = local_client(tmp_path)
    messages = [{"role": "user", "content": "first"}]
    with client.session("bot") as session:
        session.model_request("gpt-4o", messages)
        messages.append({"role": "assistant", "content": "later"})
    client.close()

    assert read_events(session)[1]["payload"]["messages"] == [{"role": "user", "content": "first"}]


def test_queue_overflow_becomes_log_drop_events_in_a_gap_free_chain(tmp_path: Path) -> None:
    client = local_client(tmp_path, queue_size=5)
    with client.session("bot") as session:
        for number in range(10):  # SESSION_START holds one of the five places
            session.record("AGENT_STATE_SNAPSHOT", {"n": number})
        assert client.flush(5)  # the first LOG_DROP is written once room frees up
        for number in range(10, 20):
            session.record("AGENT_STATE_SNAPSHOT", {"n": number})
    client.close()

    events = read_events(session)
    assert sequence_numbers(events) == list(range(len(events)))
    drops = [e["payload"] for e in events if e["event_type"] == "LOG_DROP"]
    assert drops == [
        {"dropped_count": 6, "cumulative_drops": 6, "drop_reason": "BUFFER_FULL"},
        {"dropped_count": 5, "cumulative_drops": 11, "drop_reason": "BUFFER_FULL"},
    ]
    kept = [e["payload"]["n"] for e in events if e["event_type"] == "AGENT_STATE_SNAPSHOT"]
    assert kept == [0, 1, 2, 3, *range(10, 15)]
    report = verify(events)
    assert report["status"] == "PASS" and report["total_drops"] == 11
    stats = client.stats()
    assert stats["dropped_buffer_full"] == 11 and stats["dropped"] == 11


def test_several_threads_record_each_event_once_with_contiguous_numbers(tmp_path: Path) -> None:
    client = local_client(tmp_path, batch_size=50, flush_interval=0.01)
    threads_count, per_thread = 8, 250
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

    events = read_events(session)
    assert sequence_numbers(events) == list(range(threads_count * per_thread + 2))
    seen = sorted(
        (e["payload"]["thread"], e["payload"]["n"])
        for e in events
        if e["event_type"] == "AGENT_STATE_SNAPSHOT"
    )
    assert seen == [(t, n) for t in range(threads_count) for n in range(per_thread)]
    assert len({e["event_id"] for e in events}) == len(events)
    assert verify(events)["status"] == "PASS"


def test_one_client_keeps_concurrent_sessions_apart(tmp_path: Path) -> None:
    client = local_client(tmp_path)
    first = client.session("a")
    second = client.session("b")
    first.snapshot({"who": "a"})
    second.snapshot({"who": "b"})
    second.end()
    first.end()
    client.close()

    for session, who in ((first, "a"), (second, "b")):
        events = read_events(session)
        assert {e["session_id"] for e in events} == {session.session_id}
        assert events[1]["payload"] == {"who": who, "nonce": events[1]["payload"]["nonce"]}
        assert verify(events)["status"] == "PASS"


def test_events_after_the_end_or_after_close_are_counted_not_written(tmp_path: Path) -> None:
    client = local_client(tmp_path)
    with client.session("bot") as session:
        pass
    session.snapshot({"late": True})
    client.close()
    session.snapshot({"later": True})

    assert [e["event_type"] for e in read_events(session)] == ["SESSION_START", "SESSION_END"]
    stats = client.stats()
    assert stats["invalid"] == 1 and stats["dropped_unsent"] == 1


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOPS_SERVER_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("AGENTOPS_API_KEY", "k")
    monkeypatch.setenv("AGENTOPS_BATCH_SIZE", "25")
    monkeypatch.setenv("AGENTOPS_FLUSH_INTERVAL", "0.2")
    monkeypatch.setenv("AGENTOPS_TIMEOUT", "4")

    config = ClientConfig.resolve(queue_size=50)

    assert config.mode == "remote" and config.seal is True
    assert config.server_url == "http://127.0.0.1:9"
    assert (config.batch_size, config.flush_interval, config.read_timeout) == (25, 0.2, 4.0)
    assert config.queue_size == 50


def test_a_malformed_setting_is_reported_with_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOPS_BATCH_SIZE", "lots")
    with pytest.raises(ValueError, match="AGENTOPS_BATCH_SIZE"):
        ClientConfig.resolve()


def test_remote_mode_needs_an_api_key() -> None:
    with pytest.raises(ValueError, match="api_key"):
        Client("http://127.0.0.1:9")


def test_a_bad_end_status_still_ends_the_session(tmp_path: Path) -> None:
    client = local_client(tmp_path)
    session = client.session("bot")
    session.end("done", note=float("nan"))
    client.close()

    end = read_events(session)[-1]
    assert end["event_type"] == "SESSION_END" and end["payload"]["status"] == "failure"
    assert client.stats()["invalid"] == 1


def test_an_explicit_local_dir_means_local_mode_whatever_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AGENTOPS_SERVER_URL", "http://127.0.0.1:9")
    assert ClientConfig.resolve(local_dir=str(tmp_path)).mode == "local"
    assert ClientConfig.resolve(api_key="k").mode == "remote"


def test_each_payload_gets_a_random_128_bit_nonce_by_default(tmp_path: Path) -> None:
    client = local_client(tmp_path)
    session = client.session("bot")
    session.snapshot({"email": "jane@example.org"})
    session.snapshot({"email": "jane@example.org"})
    session.snapshot({})
    session.end()
    client.close()
    payloads = [e["payload"] for e in read_events(session)[1:4]]
    nonces = [p["nonce"] for p in payloads]
    assert all(len(n) == 32 and int(n, 16) >= 0 for n in nonces)
    assert len(set(nonces)) == 3  # the same content hashes differently each time
    assert payloads[0] == {"nonce": nonces[0], "email": "jane@example.org"}
    assert payloads[2] == {"nonce": nonces[2]}
    hashes = [e["payload_hash"] for e in read_events(session)[1:3]]
    assert hashes[0] != hashes[1]


def test_the_nonce_can_be_switched_off_and_a_nonce_of_the_agent_is_kept(tmp_path: Path) -> None:
    client = local_client(tmp_path, payload_nonce=False)
    session = client.session("bot")
    session.snapshot({"email": "jane@example.org"})
    session.end()
    client.close()
    assert read_events(session)[1]["payload"] == {"email": "jane@example.org"}
    client = local_client(tmp_path / "own")
    session = client.session("bot")
    session.snapshot({"nonce": "mine"})
    session.end()
    client.close()
    assert read_events(session)[1]["payload"] == {"nonce": "mine"}
