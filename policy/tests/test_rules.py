import dataclasses
import hashlib
import textwrap

import pytest

from policy.rules import (
    DEFAULT_POLICY_FILE,
    PolicyError,
    batch_violation,
    policy_default,
    policy_evaluate,
    policy_load,
    policy_parse,
)
from policy.tests.factories import event_make, session_make

HASH = "ab" * 32


def parse(text: str, source: str = "test.yaml"):
    return policy_parse(text=textwrap.dedent(text), source=source)


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse(text)
    return [str(problem) for problem in caught.value.problems]


# ------------------------------------------------------------------ loading and validation


def test_default_policy_loads_with_name_and_hash_of_its_bytes():
    policy = policy_default()
    assert policy.name == "default"
    assert policy.text_sha256 == hashlib.sha256(DEFAULT_POLICY_FILE.read_bytes()).hexdigest()
    assert policy.pii_action == "flag"
    assert "aws_access_key_id" in dict(policy.custom_patterns)


def test_policy_is_immutable():
    policy = policy_default()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.name = "other"
    assert isinstance(policy.denied_tools, tuple)


def test_minimal_policy_gets_defaults():
    policy = parse("name: minimal\n")
    assert policy.max_events_per_session is None
    assert policy.allowed_tools is None
    assert policy.pii_action == "flag"


def test_unknown_key_names_file_line_and_rule():
    assert problems("name: x\n\nmax_payload_byte: 10\n") == [
        "test.yaml:3: max_payload_byte: unknown rule; did you mean 'max_payload_bytes'?"
    ]


def test_wrong_types_are_reported_on_their_lines():
    found = problems(
        """\
        name: x
        max_events_per_session: "many"
        require_session_end: 1
        required_tool_logging:
          results: yes
          args_for: payments.refund
        denied_tools: [shell, 3]
        pii:
          action: block
          kinds: [email, passport]
        """
    )
    assert found == [
        "test.yaml:2: max_events_per_session: must be an integer >= 1 or null, not 'many'",
        "test.yaml:3: require_session_end: must be true or false, not an integer",
        "test.yaml:6: required_tool_logging.args_for: must be a list of strings, "
        "not 'payments.refund'",
        "test.yaml:7: denied_tools: items must be non-empty strings, not an integer",
        "test.yaml:9: pii.action: must be 'flag' or 'reject', not 'block'",
        "test.yaml:10: pii.kinds: unknown kind 'passport'; "
        "known: card, iban, ssn, email, phone, ipv6, ipv4",
    ]


def test_bad_regex_is_reported_with_its_pattern_name():
    found = problems(
        """\
        name: x
        custom_patterns:
          ok: 'EMP-\\d+'
          broken: '([a-z'
          everything: '.*'
          email: 'x'
        """
    )
    assert found[0].startswith("test.yaml:4: custom_patterns.broken: bad regular expression")
    assert found[1:] == [
        "test.yaml:5: custom_patterns.everything: matches the empty string",
        "test.yaml:6: custom_patterns.email: is a built-in PII kind; choose another name",
    ]


def test_missing_name_and_duplicate_keys():
    assert problems("max_payload_bytes: 10\nmax_payload_bytes: 20\n") == [
        "test.yaml:1: name: is required",
        "test.yaml:2: max_payload_bytes: defined twice (first on line 1)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "test.yaml:1: policy: the file is empty"),
        ("- a\n- b\n", "test.yaml:1: : must be a mapping"),
        ("name: [x\nother: 1\n", "test.yaml:2: yaml:"),
    ],
)
def test_unusable_documents(text, expected):
    assert problems(text)[0].startswith(expected)


def test_missing_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match="policy:"):
        policy_load(path=tmp_path / "absent.yaml")


# ------------------------------------------------------------------ evaluation


def tool_call(tool, **payload):
    return ("TOOL_CALL", {"tool_name": tool, **payload})


def tool_result(tool, status="success"):
    return ("TOOL_RESULT", {"tool_name": tool, "status": status, "result_hash": HASH})


START = ("SESSION_START", {"agent_id": "support-bot"})
END = ("SESSION_END", {"status": "success", "duration_ms": 120})

STRICT = """\
name: strict
max_events_per_session: 4
max_payload_bytes: 150
require_session_end: true
required_tool_logging:
  results: true
  args_for: ["payments.*"]
allowed_tools: [search, "payments.*", shell]
denied_tools: [shell]
pii:
  kinds: [email, ssn]
  action: reject
custom_patterns:
  employee_id: '\\bEMP-\\d{6}\\b'
"""


def results_by_rule(report):
    return {result.rule: result for result in report.rule_results}


def test_clean_session_passes_every_rule():
    events = session_make(
        START, tool_call("search", args={"q": "refund policy"}), tool_result("search"), END
    )
    report = policy_evaluate(policy=parse(STRICT), events=events)
    assert report.passed, [r for r in report.rule_results if not r.passed]
    assert set(results_by_rule(report)) == {
        "max_events_per_session",
        "max_payload_bytes",
        "require_session_end",
        "required_tool_logging.results",
        "required_tool_logging.args_for",
        "tools",
        "pii",
    }


def test_each_broken_rule_names_its_events():
    events = session_make(
        START,
        tool_call("payments.refund", args_hash=HASH),
        tool_call("shell", args={"cmd": "ls"}),
        tool_call("browser", args={}),
        ("MODEL_RESPONSE", {"model": "m", "finish_reason": "stop", "content": "x" * 200}),
        (
            "ANNOTATION",
            {"annotator_id": "a", "annotation_type": "comment", "content": "EMP-001234"},
        ),
        ("MODEL_REQUEST", {"model": "m", "messages": ["mail jane@example.com"]}),
    )
    report = policy_evaluate(policy=parse(STRICT), events=events)
    results = results_by_rule(report)
    assert not report.passed
    assert results["max_events_per_session"].sequence_numbers == (4, 5, 6)
    assert results["max_payload_bytes"].sequence_numbers == (4,)
    assert results["require_session_end"].passed is False
    assert results["required_tool_logging.results"].sequence_numbers == (1, 2, 3)
    assert results["required_tool_logging.args_for"].sequence_numbers == (1,)
    assert results["tools"].sequence_numbers == (2, 3)
    assert "'shell' is denied" in results["tools"].message
    assert "'browser' is not in allowed_tools" in results["tools"].message
    assert results["pii"].sequence_numbers == (5, 6)
    assert [(f.kind, f.preview) for f in report.pii_findings] == [
        ("employee_id", "****"),
        ("email", "j***@example.com"),
    ]


def test_report_carries_policy_identity_and_serialises():
    policy = parse(STRICT)
    report = policy_evaluate(policy=policy, events=session_make(START, END))
    data = report.as_dict()
    assert data["policy"] == {"name": "strict", "sha256": policy.text_sha256}
    assert data["summary"]["event_count"] == 2
    assert data["summary"]["rules_failed"] == 0


def test_seal_is_neither_counted_nor_scanned():
    seal = ("CHAIN_SEAL", {"ingestion_service_id": "agentops-ingest@host.example.com"})
    report = policy_evaluate(policy=parse(STRICT), events=session_make(START, END, seal))
    assert report.event_count == 2
    assert report.pii_findings == ()


def test_evaluation_consumes_a_generator_once():
    events = (event for event in session_make(START, END))
    assert policy_evaluate(policy=policy_default(), events=events).event_count == 2


def test_withheld_payloads_are_skipped():
    events = session_make(START, ("MODEL_REQUEST", None), END)
    report = policy_evaluate(policy=parse(STRICT), events=events)
    assert report.passed


# ------------------------------------------------------------------ ingestion-time checks


def proposals(*specs, first=10):
    return [event_make(first + n, kind, payload) for n, (kind, payload) in enumerate(specs)]


def test_batch_within_policy_passes():
    batch = proposals(tool_call("search", args={"q": "x"}))
    assert batch_violation(policy=parse(STRICT), proposals=batch, event_count_after=3) is None


def test_batch_over_event_limit_is_409():
    violation = batch_violation(policy=parse(STRICT), proposals=proposals(END), event_count_after=5)
    assert (violation.rule, violation.status) == ("max_events_per_session", 409)


def test_batch_with_oversized_payload_is_413():
    big = ("MODEL_RESPONSE", {"model": "m", "finish_reason": "stop", "content": "x" * 200})
    violation = batch_violation(
        policy=parse(STRICT), proposals=proposals(END, big), event_count_after=3
    )
    assert (violation.rule, violation.status, violation.sequence_number) == (
        "max_payload_bytes",
        413,
        11,
    )


def test_payload_size_is_measured_canonically():
    # {"args":{"q":"ab"},"tool_name":"search","z":1} is 46 bytes; json.dumps' default
    # spacing would make it 52.
    payload = {"tool_name": "search", "args": {"q": "ab"}, "z": 1}
    policy = parse("name: x\nmax_payload_bytes: 46\n")
    batch = proposals(("TOOL_CALL", payload))
    assert batch_violation(policy=policy, proposals=batch, event_count_after=1) is None
    tighter = parse("name: x\nmax_payload_bytes: 45\n")
    assert batch_violation(policy=tighter, proposals=batch, event_count_after=1).status == 413


def test_payload_sizes_given_by_the_caller_are_used_as_they_are():
    # Ingestion hands over the sizes of the canonical bytes it already made.
    payload = {"tool_name": "search", "args": {"q": "ab"}, "z": 1}  # 46 canonical bytes
    policy = parse("name: x\nmax_payload_bytes: 46\n")
    batch = proposals(("TOOL_CALL", payload))
    assert (
        batch_violation(policy=policy, proposals=batch, event_count_after=1, payload_bytes=[46])
        is None
    )
    refused = batch_violation(
        policy=policy, proposals=batch, event_count_after=1, payload_bytes=[47]
    )
    assert (refused.rule, refused.status) == ("max_payload_bytes", 413)


@pytest.mark.parametrize("tool", ["shell", "browser"])
def test_batch_calling_a_forbidden_tool_is_409(tool):
    violation = batch_violation(
        policy=parse(STRICT), proposals=proposals(tool_call(tool, args={})), event_count_after=2
    )
    assert (violation.rule, violation.status, violation.sequence_number) == ("tools", 409, 10)


def test_batch_with_pii_is_409_under_reject_and_message_is_masked():
    batch = proposals(tool_call("search", args={"q": "ssn 123-45-6789"}))
    violation = batch_violation(policy=parse(STRICT), proposals=batch, event_count_after=2)
    assert (violation.rule, violation.status) == ("pii", 409)
    assert "***-**-6789" in violation.message
    assert "123-45" not in violation.message
    assert "$.args.q" in violation.message


def test_batch_with_pii_passes_under_flag():
    batch = proposals(tool_call("search", args={"q": "jane@example.com"}))
    assert batch_violation(policy=policy_default(), proposals=batch, event_count_after=2) is None
