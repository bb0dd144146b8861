"""The seal's evaluation scans each payload string once, and finds what two scans found."""

from __future__ import annotations

from typing import Any

from agentops_sdk.jsonpath import child_path

from policy import pii, subjects
from policy.pii import event_scan, payload_strings, scanner_build
from policy.rules import policy_default, policy_evaluate

PAYLOADS: list[Any] = [
    {"agent_id": "support-bot", "contact": "jane.doe@example.com"},
    {
        "tool_name": "crm.lookup",
        "args": {"phone": "+1 415 555 2671", "ssn": "123-45-6789", "n": [1, {"x": "y"}]},
        "odd key's \\ name": ["card 4111 1111 1111 1111", {"iban": "DE89 3704 0044 0532 0130 00"}],
        "phone_number": 4155552671,
        "flag": True,
        "nothing": None,
    },
    {"messages": [{"role": "user", "content": "mail me at JOHN@EXAMPLE.ORG or 415-555-0100"}]},
    None,  # a withheld payload
    {"plain": "no personal data here", "id": "0f6d8f5e-5a35-4a8e-9d8c-3b1f0c2a7e41"},
]


def _events() -> list[dict[str, Any]]:
    events = [
        {
            "event_id": f"e{seq}",
            "sequence_number": seq,
            "event_type": "TOOL_CALL" if seq else "SESSION_START",
            "payload": payload,
        }
        for seq, payload in enumerate(PAYLOADS)
    ]
    # The service's seal is not agent data, but a fingerprint found in it was always recorded.
    events.append(
        {
            "event_id": "seal",
            "sequence_number": len(PAYLOADS),
            "event_type": "CHAIN_SEAL",
            "payload": {"note": "sealed for ops@example.com"},
        }
    )
    return events


def _paths(value: Any, path: str = "$", key: str | None = None) -> list[tuple[str, str]]:
    """(path, text) of every string, by recursion and ``child_path``: the walk as it was."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths(v, child_path(path, k), k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _paths(v, child_path(path, i), key)]
    return []


def test_paths_are_written_as_before():
    for payload in PAYLOADS[:3]:
        walked = [(path, text) for path, text, _ in payload_strings(payload)]
        strings = [(path, text) for path, text in walked if not text.isdigit()]
        assert strings == _paths(payload)
    assert ("$.phone_number", "4155552671") in [
        (path, text) for path, text, _ in payload_strings(PAYLOADS[1])
    ]


def test_one_scan_gives_the_findings_and_fingerprints_of_two(monkeypatch):
    policy = policy_default()
    events = _events()
    # What the seal did before: fingerprints in one pass, findings in another.
    key = subjects.subject_key()
    separate: set[tuple[int, str, str]] = set()
    for event in events:
        separate.update(subjects.event_fingerprints(scanner=policy.scanner, event=event, key=key))
    expected = [
        f
        for e in events
        if e["event_type"] != "CHAIN_SEAL"
        for f in event_scan(scanner=policy.scanner, event=e)
    ]
    assert {kind for _, kind, _ in separate} >= {"email", "phone", "ssn", "card", "iban"}
    assert any(seq == len(PAYLOADS) for seq, _, _ in separate)  # the seal's

    walks: list[Any] = []
    walk = pii._walk

    def counting(payload):
        walks.append(payload)
        return walk(payload)

    monkeypatch.setattr(pii, "_walk", counting)
    shared: set[tuple[int, str, str]] = set()
    report = policy_evaluate(
        policy=policy,
        events=events,
        on_matches=subjects.fingerprints_collector(scanner=policy.scanner, into=shared),
    )
    assert shared == separate
    assert list(report.pii_findings) == expected
    assert report.event_count == len(PAYLOADS)
    # Each payload walked (and each of its strings scanned) once; a withheld one not at all.
    assert walks == [e["payload"] for e in events if e["payload"] is not None]

    alone = policy_evaluate(policy=policy, events=events)
    assert alone.pii_findings == report.pii_findings
    assert alone.as_dict() == report.as_dict()


def test_fingerprints_of_one_event_match_the_command_that_records_them():
    scanner = scanner_build()
    events = _events()
    found = subjects.events_fingerprints(scanner=scanner, events=events)
    collected: set[tuple[int, str, str]] = set()
    collect = subjects.fingerprints_collector(scanner=scanner, into=collected)
    for event in events:
        collect(event, list(pii.payload_matches(scanner=scanner, payload=event["payload"])))
    assert collected == found
    assert not list(subjects.event_fingerprints(scanner=scanner, event={"payload": None}, key=b"k"))
