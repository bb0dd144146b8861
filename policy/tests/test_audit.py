import pytest

from policy.audit import (
    ARGS_HASH_ONLY,
    STATUS_ERROR,
    STATUS_NO_RESULT,
    STATUS_SUCCESS,
    arg_preview,
    timestamp_microseconds,
    tool_audit,
)
from policy.pii import scanner_build
from policy.tests.factories import event_make

HASH = "ab" * 32


@pytest.fixture(scope="module")
def scanner():
    return scanner_build(region="US")


def call(seq, tool, *, at_ms, tool_id=None, args=None, hashed=False):
    payload = {"tool_name": tool}
    if tool_id is not None:
        payload["tool_id"] = tool_id
    if hashed:
        payload["args_hash"] = HASH
    else:
        payload["args"] = args or {}
    return event_make(seq, "TOOL_CALL", payload, at_ms=at_ms)


def result(seq, tool, *, at_ms, status="success", tool_id=None):
    payload = {"tool_name": tool, "status": status, "result_hash": HASH}
    if tool_id is not None:
        payload["tool_id"] = tool_id
    return event_make(seq, "TOOL_RESULT", payload, at_ms=at_ms)


def error(seq, *, at_ms, tool=None):
    payload = {"error_type": "Timeout", "message": "tool timed out", "fatal": False}
    if tool is not None:
        payload["tool_name"] = tool
    return event_make(seq, "ERROR", payload, at_ms=at_ms)


def pairs(audit):
    return [(c.call_sequence_number, c.result_sequence_number, c.status) for c in audit.calls]


def test_results_pair_by_tool_id_across_interleaving(scanner):
    events = [
        call(1, "search", at_ms=0, tool_id="a"),
        call(2, "search", at_ms=5, tool_id="b"),
        result(3, "search", at_ms=20, tool_id="b"),
        result(4, "search", at_ms=40, tool_id="a", status="error"),
    ]
    audit = tool_audit(events=events, scanner=scanner)
    assert pairs(audit) == [(1, 4, STATUS_ERROR), (2, 3, STATUS_SUCCESS)]
    assert [c.duration_ms for c in audit.calls] == [40.0, 15.0]


def test_results_without_id_answer_the_first_open_call_of_their_tool(scanner):
    events = [
        call(1, "search", at_ms=0),
        call(2, "fetch", at_ms=1),
        call(3, "search", at_ms=2),
        result(4, "search", at_ms=10),
        result(5, "search", at_ms=12),
        result(6, "fetch", at_ms=13),
    ]
    assert pairs(tool_audit(events=events, scanner=scanner)) == [
        (1, 4, STATUS_SUCCESS),
        (2, 6, STATUS_SUCCESS),
        (3, 5, STATUS_SUCCESS),
    ]


def test_error_answers_the_most_recent_open_call(scanner):
    events = [
        call(1, "search", at_ms=0),
        call(2, "fetch", at_ms=1),
        error(3, at_ms=9),
        result(4, "search", at_ms=10),
    ]
    assert pairs(tool_audit(events=events, scanner=scanner)) == [
        (1, 4, STATUS_SUCCESS),
        (2, 3, STATUS_ERROR),
    ]


def test_error_naming_a_tool_answers_that_tools_latest_call(scanner):
    events = [
        call(1, "search", at_ms=0),
        call(2, "fetch", at_ms=1),
        error(3, at_ms=2, tool="search"),
    ]
    assert pairs(tool_audit(events=events, scanner=scanner)) == [
        (1, 3, STATUS_ERROR),
        (2, None, STATUS_NO_RESULT),
    ]


def test_error_without_open_call_is_not_about_a_tool(scanner):
    events = [call(1, "search", at_ms=0), result(2, "search", at_ms=3), error(3, at_ms=4)]
    audit = tool_audit(events=events, scanner=scanner)
    assert pairs(audit) == [(1, 2, STATUS_SUCCESS)]
    assert audit.unmatched_results == ()


def test_result_without_call_is_listed_as_unmatched(scanner):
    audit = tool_audit(events=[result(5, "search", at_ms=0)], scanner=scanner)
    assert audit.calls == ()
    assert audit.unmatched_results == (5,)


def test_totals_per_tool(scanner):
    events = [
        call(1, "search", at_ms=0),
        result(2, "search", at_ms=30),
        call(3, "search", at_ms=40),
        result(4, "search", at_ms=50, status="error"),
        call(5, "search", at_ms=60),
        call(6, "email.send", at_ms=70),
        result(7, "email.send", at_ms=75),
    ]
    totals = {t.tool_name: t for t in tool_audit(events=events, scanner=scanner).totals}
    search = totals["search"]
    assert (search.calls, search.successes, search.errors, search.unanswered) == (3, 1, 1, 1)
    assert (search.total_duration_ms, search.avg_duration_ms) == (40.0, 20.0)
    assert list(totals) == ["email.send", "search"]


def test_arguments_are_summarised_masked_and_truncated(scanner):
    args = {
        "to": "jane.doe@example.com",
        "body": "Hello " * 20,
        "amount": 12.5,
        "urgent": True,
        "cc": ["a@example.com"],
        "meta": {"k": 1},
        "phone": 4155552671,
    }
    audit = tool_audit(events=[call(1, "email.send", at_ms=0, args=args)], scanner=scanner)
    summary = {a.key: (a.type, a.preview) for a in audit.calls[0].args}
    assert summary["to"] == ("string", "j***@example.com")
    assert summary["body"][1] == ("Hello " * 7)[:39] + "…"
    assert summary["amount"] == ("number", "12.5")
    assert summary["urgent"] == ("boolean", "true")
    assert summary["cc"] == ("array", "[1 items]")
    assert summary["meta"] == ("object", "{1 keys}")
    assert summary["phone"] == ("integer", "******2671")


def test_masking_happens_before_truncation(scanner):
    # The card straddles the cut: truncating first would show digits no detector then sees.
    text = "x" * 30 + " 4242 4242 4242 4242"
    preview = arg_preview(scanner=scanner, key="note", value=text)
    assert "4242 4242" not in preview
    assert len(preview) == 40


def test_hash_only_arguments(scanner):
    audit = tool_audit(events=[call(1, "db.query", at_ms=0, hashed=True)], scanner=scanner)
    assert audit.calls[0].args_logged == ARGS_HASH_ONLY
    assert audit.calls[0].args == ()


def test_withheld_call_is_recorded_without_details(scanner):
    events = [event_make(1, "TOOL_CALL", None), event_make(2, "TOOL_RESULT", None)]
    audit = tool_audit(events=events, scanner=scanner)
    assert [(c.tool_name, c.args_logged, c.status) for c in audit.calls] == [
        ("(withheld)", "withheld", "withheld")
    ]


def test_as_dict_is_plain_data(scanner):
    events = [call(1, "search", at_ms=0, args={"q": "x"}), result(2, "search", at_ms=1)]
    data = tool_audit(events=events, scanner=scanner).as_dict()
    assert data["calls"][0]["args"] == [{"key": "q", "type": "string", "preview": "x"}]
    assert data["totals"][0]["calls"] == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:01.5Z", 1_500_000),
        ("1970-01-01T00:00:00.123456789Z", 123_456),
        ("2026-01-25 10:00:00Z", None),
        ("2026-13-25T10:00:00Z", None),
        ("1970-01-01T00:00:00.\u0661Z", None),  # an Arabic-Indic digit is not RFC 3339's
        (1706184000, None),
    ],
)
def test_timestamp_microseconds(text, expected):
    assert timestamp_microseconds(text) == expected
