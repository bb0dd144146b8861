"""verify_session and the readers: each rule of the spec, localisation, keys and policy."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk import chain, seal
from agentops_sdk.verify import (
    FORMAT_EXPORT,
    FORMAT_JSONL,
    LogFormatError,
    VerifyPolicy,
    iter_jsonl_events,
    open_session_file,
    parse_event_line,
    verify_file,
    verify_session,
)
from agentops_sdk.verify import workers as verify_workers
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import SessionBuilder, export_document, jsonl_text, rehash

REPORT_KEYS = {
    "session_id",
    "status",
    "evidence_class",
    "authority",
    "sealed",
    "complete",
    "total_drops",
    "partial_reasons",
    "violations",
    "event_count",
    "replay_fingerprint",
    "seal",
    "redacted_events",
    "spec_version",
}


def codes(report: dict[str, Any]) -> set[str]:
    return {violation["type"] for violation in report["violations"]}


def located(report: dict[str, Any]) -> set[tuple[str, int | None]]:
    return {(v["type"], v["sequence_number"]) for v in report["violations"]}


@pytest.fixture(scope="module")
def long_session(signing_key: Ed25519PrivateKey) -> list[dict[str, Any]]:
    """A sealed 1,000-event server session (built once; tests work on copies)."""
    return SessionBuilder(signing_key).session(1000)


# -- the report ----------------------------------------------------------------------------


def test_authoritative_report_is_complete_and_serialisable(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    events = builder.session(12)
    report = verify_session(events, trusted_keys=[signing_key.public_key()])
    assert set(report) >= REPORT_KEYS
    assert json.loads(json.dumps(report)) == report
    assert report["status"] == "PASS"
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert report["session_id"] == events[0]["session_id"]
    assert report["authority"] == "server"
    assert report["sealed"] and report["complete"]
    assert report["event_count"] == 11 == events[-1]["payload"]["event_count"]
    assert report["replay_fingerprint"] == "sha256:" + events[-1]["event_hash"]
    assert report["seal"] == {
        "ingestion_service_id": events[-1]["payload"]["ingestion_service_id"],
        "seal_timestamp": events[-1]["payload"]["seal_timestamp"],
        "key_id": seal.key_id(signing_key.public_key()),
        "signature_checked": True,
        "signature_valid": True,
        "key_trusted": True,
    }
    assert report["spec_version"] == "v0.6"


def test_events_are_consumed_once_as_a_stream(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    events = builder.session(8)
    consumed = []

    def stream() -> Iterator[dict[str, Any]]:
        for event in events:
            consumed.append(event["sequence_number"])
            yield event

    report = verify_session(stream(), trusted_keys=[signing_key.public_key()])
    assert report["status"] == "PASS"
    assert consumed == list(range(8))


def test_memory_does_not_grow_with_the_session(builder: SessionBuilder) -> None:
    def stream(count: int) -> Iterator[dict[str, Any]]:
        prev = None
        for index in range(count):
            event = chain.chain_event(
                {
                    "event_id": f"00000000-0000-4000-8000-{index:012d}",
                    "session_id": "6513270e-269e-4d37-b2a7-4de452e6b438",
                    "sequence_number": index,
                    "timestamp_wall": "2026-01-25T10:00:00Z",
                    "timestamp_monotonic": index,
                    "event_type": "SESSION_START" if index == 0 else "MODEL_RESPONSE",
                    "source_sdk_ver": "t",
                    "schema_ver": "v0.6",
                    "payload": {"agent_id": "a"}
                    if index == 0
                    else {"model": "m", "finish_reason": "stop", "content": "x" * 2000},
                },
                prev_event_hash=prev,
                chain_authority="sdk",
                authority_id="t",
            )
            prev = event["event_hash"]
            yield event

    tracemalloc.start()
    try:
        report = verify_session(stream(3000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report["status"] == "PASS"
    # Holding the events would take over 6 MB; the verifier keeps one id per event.
    assert peak < 2_000_000


def test_empty_log_fails() -> None:
    report = verify_session([])
    assert report["status"] == "FAIL"
    assert codes(report) == {"EMPTY_LOG"}
    assert report["evidence_class"] is None and report["replay_fingerprint"] is None


# -- localisation --------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "count"), [(1, 1), (2, 3), (3, 17), (4, 60)])
def test_altered_payloads_are_reported_exactly_where_they_are(
    long_session: list[dict[str, Any]], signing_key: Ed25519PrivateKey, seed: int, count: int
) -> None:
    events = copy.deepcopy(long_session)
    rng = random.Random(seed)
    altered = set(rng.sample(range(len(events) - 1), count))  # the seal keeps its payload
    for index in altered:
        events[index]["payload"]["tampered"] = rng.random()
    report = verify_session(events, trusted_keys=[signing_key.public_key()])
    assert report["status"] == "FAIL"
    assert located(report) == {("PAYLOAD_HASH_MISMATCH", index) for index in altered}
    for violation in report["violations"]:
        assert violation["event_id"] == events[violation["sequence_number"]]["event_id"]


def test_an_altered_signed_field_is_reported_at_its_event_only(
    long_session: list[dict[str, Any]],
) -> None:
    events = copy.deepcopy(long_session)
    events[500]["timestamp_wall"] = "2026-01-25T09:00:00Z"
    assert located(verify_session(events)) == {("EVENT_HASH_MISMATCH", 500)}


def test_a_removed_event_breaks_sequence_and_chain_at_the_gap(
    long_session: list[dict[str, Any]],
) -> None:
    events = copy.deepcopy(long_session)
    del events[400]
    assert located(verify_session(events)) == {("SEQUENCE_GAP", 401), ("CHAIN_BROKEN", 401)}


def test_a_removed_event_in_a_rehashed_chain_is_a_sequence_gap(
    builder: SessionBuilder,
) -> None:
    events = builder.session(20, sealed=False)
    del events[7]
    rehash(events)
    assert located(verify_session(events)) == {("SEQUENCE_GAP", 8)}


def test_a_replayed_event_is_reported_at_the_copy(builder: SessionBuilder) -> None:
    events = builder.session(10, sealed=False)
    events.insert(5, copy.deepcopy(events[4]))
    report = verify_session(events)
    assert {v["sequence_number"] for v in report["violations"]} == {4}
    assert codes(report) == {"SEQUENCE_GAP", "CHAIN_BROKEN", "MISSING_FIELD"}
    assert any("already used" in v["message"] for v in report["violations"])


def test_a_log_that_starts_late_is_a_gap_not_a_bad_genesis(builder: SessionBuilder) -> None:
    events = builder.session(10, sealed=False)[3:]
    assert located(verify_session(events)) == {("SEQUENCE_GAP", 3)}


# -- envelope and payload rules -----------------------------------------------------------


def test_missing_and_unknown_fields(builder: SessionBuilder) -> None:
    events = builder.session(5, sealed=False)
    del events[2]["source_sdk_ver"]
    events[3]["received_at"] = "2026-01-25T10:00:00Z"
    report = verify_session(events)
    assert located(report) == {("MISSING_FIELD", 2), ("UNKNOWN_FIELD", 3)}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timestamp_wall", "2026-01-25 10:00:00"),
        ("timestamp_wall", "\uff12\uff10\uff12\uff16-01-25T10:00:00Z"),  # fullwidth digits
        ("timestamp_monotonic", -1),
        ("source_sdk_ver", ["not", "a", "string"]),
        ("authority_id", {"id": 1}),
        ("chain_authority", ["server"]),
        ("payload", "text"),
    ],
)
def test_malformed_fields_are_missing_field(
    builder: SessionBuilder, field: str, value: Any
) -> None:
    events = builder.session(5, sealed=False)
    events[2][field] = value
    report = verify_session(events)
    assert ("MISSING_FIELD", 2) in located(report)
    assert report["status"] == "FAIL"


def test_schema_v05_is_accepted_and_others_are_not(builder: SessionBuilder) -> None:
    events = builder.session(5, sealed=False)
    events[1]["schema_ver"] = "v0.5"  # not a signed field: no rehash needed
    assert verify_session(events)["status"] == "PASS"
    events[2]["schema_ver"] = "v0.4"
    assert located(verify_session(events)) == {("SCHEMA_VERSION_MISMATCH", 2)}


def test_unknown_event_type(builder: SessionBuilder) -> None:
    events = builder.session(5, sealed=False)
    events[2]["event_type"] = "AGENT_DECISION"
    rehash(events)
    assert located(verify_session(events)) == {("UNKNOWN_EVENT_TYPE", 2)}


def test_payload_requirements_are_missing_field(builder: SessionBuilder) -> None:
    events = builder.session(6, sealed=False)
    del events[3]["payload"]["tool_name"]  # a TOOL_CALL
    rehash(events)
    report = verify_session(events)
    assert located(report) == {("MISSING_FIELD", 3)}
    assert "requires tool_name" in report["violations"][0]["message"]


def test_a_payload_canonical_json_cannot_hold_is_a_payload_mismatch(
    builder: SessionBuilder,
) -> None:
    events = builder.session(5, sealed=False)
    events[2]["payload"]["big"] = 2**60
    report = verify_session(events)
    assert located(report) == {("PAYLOAD_HASH_MISMATCH", 2)}
    assert "$.big" in report["violations"][0]["message"]


def test_redacted_payloads_are_listed_and_keep_the_chain(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    events = builder.session(10)
    events[3]["payload"] = None
    events[5]["payload"] = None
    report = verify_session(events, trusted_keys=[signing_key.public_key()])
    assert report["status"] == "PASS"
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert report["redacted_events"] == [3, 5]


@pytest.mark.parametrize(
    ("types", "where"),
    [
        (["SESSION_START", "TOOL_CALL", "SESSION_START", "SESSION_END"], 2),
        (["SESSION_START", "SESSION_END", "TOOL_CALL"], 2),
        (["SESSION_START", "SESSION_END", "SESSION_END"], 2),
    ],
)
def test_ordering_rules(builder: SessionBuilder, types: list[str], where: int) -> None:
    assert located(verify_session(builder.build(types))) == {("ORDERING_VIOLATION", where)}


def test_genesis_must_be_session_start(builder: SessionBuilder) -> None:
    events = builder.build(["TOOL_CALL", "TOOL_RESULT", "SESSION_END"])
    assert located(verify_session(events)) == {("INVALID_GENESIS", 0)}


def test_mixed_authority_is_reported_where_it_changes(builder: SessionBuilder) -> None:
    events = builder.session(6, sealed=False)
    events[4]["chain_authority"] = "sdk"  # not a signed field
    report = verify_session(events)
    assert located(report) == {("MIXED_AUTHORITY", 4)}
    assert report["authority"] == "mixed"


def test_session_mismatch(builder: SessionBuilder) -> None:
    events = builder.session(6, sealed=False)
    events[2]["session_id"] = "7178ba0a-0000-4000-8000-000000000000"
    rehash(events)
    assert located(verify_session(events)) == {("SESSION_MISMATCH", 2)}


def test_entries_that_are_not_objects_are_reported(builder: SessionBuilder) -> None:
    events: list[Any] = builder.session(4, sealed=False)
    events.insert(2, ["not", "an", "event"])
    report = verify_session(events)
    assert report["status"] == "FAIL"
    assert "MISSING_FIELD" in codes(report)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, 5),
    field=st.sampled_from([*chain.ENVELOPE_FIELDS, "extra"]),
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=5,
    ),
)
def test_any_field_value_gives_a_report_never_an_exception(
    index: int, field: str, value: Any
) -> None:
    events = SessionBuilder(Ed25519PrivateKey.generate()).session(6)
    events[index][field] = value
    report = verify_session(events)
    json.dumps(report)
    assert report["status"] in {"PASS", "FAIL"}


# -- seals and keys ------------------------------------------------------------------------


def sealed_session(
    builder: SessionBuilder, key: Ed25519PrivateKey | None | bool = True, **overrides: Any
) -> list[dict[str, Any]]:
    events = builder.session(9, sealed=False)
    return [*events, builder.seal(events, key=key, **overrides)]


def test_unsealed_server_session_is_partial(builder: SessionBuilder) -> None:
    report = verify_session(builder.session(6, sealed=False))
    assert report["evidence_class"] == "PARTIAL_AUTHORITATIVE_EVIDENCE"
    assert report["partial_reasons"] == ["UNSEALED_SESSION"]
    assert report["seal"] is None and not report["sealed"]


def test_partial_reasons_accumulate(builder: SessionBuilder) -> None:
    events = builder.build(["SESSION_START", "TOOL_CALL", "LOG_DROP", "TOOL_RESULT"])
    report = verify_session(events)
    assert report["partial_reasons"] == [
        "UNSEALED_SESSION",
        "MISSING_SESSION_END",
        "LOG_DROP_PRESENT",
    ]
    assert report["total_drops"] == 2
    assert not report["complete"]


def test_local_session_with_unsigned_seal_is_non_authoritative(builder: SessionBuilder) -> None:
    report = verify_session(builder.session(8, authority="sdk"))
    assert report["status"] == "PASS"
    assert report["evidence_class"] == "NON_AUTHORITATIVE_EVIDENCE"
    assert report["partial_reasons"] == []
    assert report["seal"]["signature_checked"] is False


def test_server_seal_without_signature_is_invalid(builder: SessionBuilder) -> None:
    report = verify_session(sealed_session(builder, key=None))
    assert located(report) == {("INVALID_SEAL", 9)}


@pytest.mark.parametrize(
    "overrides",
    [{"event_count": 8}, {"complete": False}, {"total_drops": 4}, {"final_event_hash": "a" * 64}],
)
def test_seal_statements_must_match_the_chain(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey, overrides: dict[str, Any]
) -> None:
    events = sealed_session(builder, **overrides)  # signed: only the chain can disagree
    report = verify_session(events, trusted_keys=[signing_key.public_key()])
    assert located(report) == {("SEAL_DIGEST_MISMATCH", 9)}


def test_seal_signed_by_another_key_is_invalid(builder: SessionBuilder) -> None:
    events = sealed_session(builder, key=Ed25519PrivateKey.generate())
    other = Ed25519PrivateKey.generate().public_key()
    report = verify_session(events, trusted_keys=[other])
    assert located(report) == {("SEAL_SIGNATURE_INVALID", 9)}
    assert report["seal"]["signature_valid"] is False


def test_any_trusted_key_may_have_signed_such_as_a_retired_one(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    current = Ed25519PrivateKey.generate().public_key()
    report = verify_session(
        sealed_session(builder), trusted_keys=[current, signing_key.public_key()]
    )
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert report["seal"]["key_id"] == seal.key_id(signing_key.public_key())


def test_embedded_key_alone_is_not_trusted(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    report = verify_session(sealed_session(builder), embedded_key=signing_key.public_key())
    assert report["evidence_class"] == "PARTIAL_AUTHORITATIVE_EVIDENCE"
    assert report["partial_reasons"] == ["KEY_NOT_TRUSTED"]
    assert report["seal"]["signature_valid"] is True
    assert report["seal"]["key_trusted"] is False


def test_embedded_key_is_trusted_when_its_key_id_is_given(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    public = signing_key.public_key()
    report = verify_session(
        sealed_session(builder), embedded_key=public, trusted_key_ids=[seal.key_id(public)]
    )
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"


def test_an_attackers_embedded_key_never_makes_evidence_authoritative(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    attacker = Ed25519PrivateKey.generate()
    events = sealed_session(builder, key=attacker)
    alone = verify_session(events, embedded_key=attacker.public_key())
    assert alone["evidence_class"] == "PARTIAL_AUTHORITATIVE_EVIDENCE"
    with_real_key_id = verify_session(
        events,
        embedded_key=attacker.public_key(),
        trusted_key_ids=[seal.key_id(signing_key.public_key())],
    )
    assert with_real_key_id["evidence_class"] == "PARTIAL_AUTHORITATIVE_EVIDENCE"
    with_real_key = verify_session(
        events, embedded_key=attacker.public_key(), trusted_keys=[signing_key.public_key()]
    )
    assert with_real_key["status"] == "FAIL"
    assert codes(with_real_key) == {"SEAL_SIGNATURE_INVALID"}


# -- policy --------------------------------------------------------------------------------


def test_policy_rejects_local_authority(builder: SessionBuilder) -> None:
    events = builder.session(6, authority="sdk")
    report = verify_session(events, policy=VerifyPolicy(reject_local_authority=True))
    assert report["status"] == "FAIL"
    assert codes(report) == {"POLICY_VIOLATION"}
    assert report["evidence_class"] is None


def test_policy_requires_authoritative(builder: SessionBuilder) -> None:
    events = builder.session(6)
    report = verify_session(events, policy={"require_authoritative": True})
    assert report["status"] == "FAIL"
    assert codes(report) == {"POLICY_VIOLATION"}
    assert "PARTIAL_AUTHORITATIVE_EVIDENCE" in report["violations"][0]["message"]


def test_policy_lets_authoritative_evidence_pass(
    builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    report = verify_session(
        builder.session(6),
        trusted_keys=[signing_key.public_key()],
        policy=VerifyPolicy(reject_local_authority=True, require_authoritative=True),
    )
    assert report["status"] == "PASS"


def test_unknown_policy_flags_are_refused() -> None:
    with pytest.raises(ValueError, match="require_authoritive"):
        verify_session([], policy={"require_authoritive": True})


# -- reading files -------------------------------------------------------------------------


def test_jsonl_lines_are_parsed_strictly() -> None:
    assert parse_event_line('  {"a": 1}\n', 1) == {"a": 1}
    for line, reason in [
        ('{"a": 1, "a": 2}\n', "duplicate key"),
        ('{"a": NaN}\n', "NaN"),
        ('{"a": 1} {"b": 2}\n', "more than one"),
        ("[1, 2]\n", "not a JSON object"),
        ('{"a": \n', "not valid JSON"),
        ('{"a": ' + "[" * 100_000 + "\n", "line 7"),
    ]:
        with pytest.raises(LogFormatError, match=reason):
            parse_event_line(line, 7)


def test_jsonl_reader_skips_blank_lines(tmp_path: Path, builder: SessionBuilder) -> None:
    events = builder.session(4, sealed=False)
    path = tmp_path / "s.jsonl"
    path.write_text("\n" + jsonl_text(events[:2]) + "\n  \n" + jsonl_text(events[2:]))
    assert list(iter_jsonl_events(path)) == events


def test_crlf_line_ends_are_accepted_a_byte_order_mark_is_not(
    tmp_path: Path, builder: SessionBuilder
) -> None:
    text = jsonl_text(builder.session(4, sealed=False)).replace("\n", "\r\n")
    path = tmp_path / "windows.jsonl"
    path.write_bytes(text.encode())
    assert verify_file(path)["status"] == "PASS"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    with pytest.raises(LogFormatError, match="byte order mark") as refused:
        verify_file(path)
    assert (refused.value.reason, refused.value.line) == ("byte_order_mark", 1)


def test_format_is_detected(
    tmp_path: Path, builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    events = builder.session(6)
    public = signing_key.public_key()
    jsonl = tmp_path / "s.jsonl"
    jsonl.write_text(jsonl_text(events))
    one_line = tmp_path / "export.json"
    one_line.write_bytes(export_document(events, seal.public_key_b64(public), signer=signing_key))
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(json.loads(one_line.read_bytes()), indent=2))

    assert open_session_file(jsonl).format == FORMAT_JSONL
    for path in (one_line, pretty):
        source = open_session_file(path)
        assert source.format == FORMAT_EXPORT
        assert source.embedded_key is not None
        assert seal.key_id(source.embedded_key) == seal.key_id(public)
        assert list(source.events) == events
        report = verify_file(path, trusted_key_ids=[seal.key_id(public)])
        assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"


def test_empty_file_is_an_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert codes(verify_file(path)) == {"EMPTY_LOG"}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"export_format": "something-else", "events": []}', "not a compliance export"),
        (b'{"export_format": "agentops-compliance-export", "events": [1]}', "list of JSON"),
        (
            b'{"export_format": "agentops-compliance-export", "events": [], '
            b'"chain_of_custody": {"public_key": "AAAA"}}',
            "public_key",
        ),
        (b'[\n  {"a": 1}\n]\n', "line 1 is not a JSON object"),
        (b'{\n  "a": 1\n}\n', "not a compliance export"),
        (b"\xff\xfe{}\n", "UTF-8"),
    ],
)
def test_unusable_files_raise_log_format_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(LogFormatError, match=reason):
        verify_file(path)


# -- worker processes ----------------------------------------------------------------------


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hand workers tiny blocks, so that even a small file spans many of them."""
    monkeypatch.setattr(verify_workers, "_BLOCK_BYTES", 4096)


@pytest.mark.usefixtures("small_blocks")
def test_workers_give_the_same_report_as_one_process(
    tmp_path: Path, long_session: list[dict[str, Any]], signing_key: Ed25519PrivateKey
) -> None:
    events = copy.deepcopy(long_session)
    events[10]["payload"]["tampered"] = True
    events[300]["timestamp_wall"] = "2026-01-25T09:00:00Z"
    del events[700]
    events[900]["payload"] = None
    path = tmp_path / "s.jsonl"
    path.write_text(jsonl_text(events))
    keys = [signing_key.public_key()]
    alone = verify_file(path, trusted_keys=keys, workers=1)
    assert located(alone) == {
        ("PAYLOAD_HASH_MISMATCH", 10),
        ("EVENT_HASH_MISMATCH", 300),
        ("SEQUENCE_GAP", 701),
        ("CHAIN_BROKEN", 701),
    }
    assert verify_file(path, trusted_keys=keys, workers=2) == alone


@pytest.mark.usefixtures("small_blocks")
def test_workers_report_damaged_lines_like_one_process(
    tmp_path: Path, long_session: list[dict[str, Any]]
) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(jsonl_text(long_session)[:-30])
    with pytest.raises(LogFormatError) as alone:
        verify_file(path, workers=1)
    with pytest.raises(LogFormatError) as spread:
        verify_file(path, workers=2)
    assert str(spread.value) == str(alone.value)
    assert "line 1000" in str(alone.value)


# Values that canonical JSON writes differently from Python, or that sort differently in
# UTF-16: none of them may be hashed as Python writes them, whichever way they are read.
CANONICAL_BUT_UNUSUAL = {
    "integral": 2.0,
    "negative_zero": -0.0,
    "tiny": 1e-7,
    "huge": 1e21,
    "largest": chain.MAX_SAFE_INTEGER,
    "\U0001f600": "an astral key, which sorts after the next one in UTF-16",
    "\uff61": "a key near the top of the BMP",
}


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("ascii_only", [True, False], ids=["escaped", "raw"])
def test_values_outside_the_fast_path_verify_from_a_file(
    tmp_path: Path, builder: SessionBuilder, signing_key: Ed25519PrivateKey, ascii_only: bool
) -> None:
    events = builder.session(60, sealed=False)
    for event in events[1:-1:3]:
        event["payload"]["unusual"] = CANONICAL_BUT_UNUSUAL
    rehash(events)
    events.append(builder.seal(events))
    events[7]["payload"]["big"] = 2**60  # beyond ±(2^53-1): no payload_hash can match
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=ascii_only) + "\n" for e in events))
    keys = [signing_key.public_key()]

    alone = verify_file(path, trusted_keys=keys, workers=1)
    assert located(alone) == {("PAYLOAD_HASH_MISMATCH", 7)}
    assert "$.big" in alone["violations"][0]["message"]
    assert alone == verify_session(events, trusted_keys=keys)
    assert verify_file(path, trusted_keys=keys, workers=2) == alone


_START_METHOD = """
import sys, threading
from agentops_sdk.verify.workers import _worker_start
if sys.argv[1] == "thread":
    threading.Thread(target=threading.Event().wait, daemon=True).start()
print(_worker_start().get_start_method())
"""


@pytest.mark.parametrize(("threads", "method"), [("alone", "fork"), ("thread", "spawn")])
def test_workers_are_forked_only_from_a_single_thread(threads: str, method: str) -> None:
    # A fresh interpreter: the test process itself may hold threads of earlier tests.
    done = subprocess.run(
        [sys.executable, "-c", _START_METHOD, threads],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == method


@pytest.mark.usefixtures("small_blocks")
def test_workers_started_as_fresh_interpreters_give_the_same_report(
    tmp_path: Path, long_session: list[dict[str, Any]], signing_key: Ed25519PrivateKey
) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(jsonl_text(long_session[:300]))
    keys = [signing_key.public_key()]
    alone = verify_file(path, trusted_keys=keys, workers=1)
    release = threading.Event()
    other = threading.Thread(target=release.wait)  # a running thread rules out forking
    other.start()
    try:
        assert verify_file(path, trusted_keys=keys, workers=2) == alone
    finally:
        release.set()
        other.join()
