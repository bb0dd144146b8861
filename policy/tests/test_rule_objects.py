"""Each policy rule is one object holding both its checks: what it refuses in a batch at
ingestion time, it also reports failed on the stored session."""

import textwrap

import pytest

from policy.rules import (
    RULES,
    batch_violation,
    policy_evaluate,
    policy_parse,
    policy_rules,
)
from policy.tests.factories import session_make

STRICT = textwrap.dedent(
    """\
    name: strict
    max_events_per_session: 4
    max_payload_bytes: 120
    require_session_end: true
    required_tool_logging:
      results: true
      args_for: ["pay*"]
    denied_tools: ["rm*"]
    pii:
      action: reject
    """
)

START = ("SESSION_START", {"agent_id": "a", "framework": "f"})
END = ("SESSION_END", {"status": "success", "duration_ms": 5})

# One session per rule with a batch check, each breaking that rule alone.
BREAKING = {
    "max_events_per_session": [START, *[("ANNOTATION", {"note": "n"})] * 4],
    "max_payload_bytes": [START, ("ANNOTATION", {"note": "x" * 200})],
    "tools": [START, ("TOOL_CALL", {"tool_name": "rm_rf", "args": {}})],
    "pii": [START, ("ANNOTATION", {"note": "write to jane.doe@example.com"})],
}


def strict():
    return policy_parse(text=STRICT, source="strict.yaml")


@pytest.mark.parametrize("rule", sorted(BREAKING))
def test_what_a_batch_check_refuses_the_session_check_reports_failed(rule):
    events = session_make(*BREAKING[rule])
    violation = batch_violation(policy=strict(), proposals=events, event_count_after=len(events))
    assert violation is not None and violation.rule == rule
    report = policy_evaluate(policy=strict(), events=events)
    failed = {result.rule for result in report.rule_results if not result.passed}
    assert rule in failed


def test_a_policy_gets_an_object_of_each_rule_it_sets_in_report_order():
    assert [type(rule) for rule in policy_rules(policy=strict())] == list(RULES)
    report = policy_evaluate(policy=strict(), events=session_make(START, END))
    assert [result.rule for result in report.rule_results] == [rule.name for rule in RULES]
    assert len({rule.name for rule in RULES}) == len(RULES)


def test_a_rule_the_policy_does_not_set_is_neither_reported_nor_checked():
    policy = policy_parse(text="name: lax\npii:\n  kinds: []\n", source="lax.yaml")
    assert policy_rules(policy=policy) == []
    events = session_make(*BREAKING["tools"], *BREAKING["max_payload_bytes"][1:])
    assert batch_violation(policy=policy, proposals=events, event_count_after=99) is None
    assert policy_evaluate(policy=policy, events=events).rule_results == ()


def test_rule_objects_keep_no_state_between_evaluations():
    policy = strict()
    events = session_make(*BREAKING["tools"])
    first = policy_evaluate(policy=policy, events=events)
    second = policy_evaluate(policy=policy, events=events)
    assert first.rule_results == second.rule_results
