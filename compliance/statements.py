"""The fixed texts every export carries, worded once for the JSON document and the PDF."""

from __future__ import annotations

DISCLAIMER = (
    "This report records what the AgentOps Replay system observed and what it verified "
    "cryptographically about one recorded agent session. It is not a certification of "
    "compliance with any law, regulation or standard, and it is not legal advice. The "
    "verification shows whether the recorded events are intact and complete as stored by the "
    "ingestion service; it does not show that the agent behaved correctly, lawfully or as "
    "intended, nor that the recording agent reported everything it did. Conclusions drawn "
    "from this report are the reader's own."
)

SHORT_DISCLAIMER = (
    "Records what was observed and verified; not a certification of compliance and not "
    "legal advice."
)

SEAL_PROVES = [
    "The CHAIN_SEAL was signed with the ingestion service's Ed25519 key named by key_id; "
    "only the holder of that key can produce such a signature.",
    "At the seal time the service held exactly the chain the seal describes: its final event "
    "hash, its number of events, whether it ended with SESSION_END, and the drops the "
    "recorder reported.",
    "Every event is linked to the one before it by SHA-256 hashes of its RFC 8785 canonical "
    "form, so changing, removing, inserting or reordering any event after sealing is "
    "detected by any verifier, with the event named.",
]

SEAL_DOES_NOT_PROVE = [
    "That the events are true: the recording agent (SDK) is not trusted, and the service "
    "records what the agent sent, not what the agent actually did.",
    "That nothing is missing: events the agent never sent are invisible, apart from the "
    "losses it reported itself (LOG_DROP).",
    "That the producer's timestamps are accurate: timestamp_wall is the agent's own clock. "
    "Only the seal timestamp and the receipt times come from the service.",
    "Anything about the lawfulness, correctness or compliance of what the agent did, or "
    "about the identity of any person involved.",
]

UNSEALED_NOTICE = (
    "UNSEALED: the ingestion service has not sealed this session. Nothing vouches that the "
    "recording is complete, and events may still be appended after this export; the export "
    "holds the chain as it stood at the export time."
)

FAILED_NOTICE = (
    "VERIFICATION FAILED: the stored chain does not verify (see verification.violations). "
    "The session has been altered, is incomplete, or breaks the event-log specification, "
    "and must not be relied on as evidence."
)

PAYLOADS_NOT_EXPORTED_NOTICE = (
    "PAYLOADS NOT EXPORTED: the stored payloads of events {sequences} hold values canonical "
    "JSON cannot represent; they are exported as null, and verification reports them."
)

FINDINGS_UNAVAILABLE_NOTICE = (
    "NO POLICY FINDINGS: the session could not be evaluated under its project's policy ({reason})."
)

#: Who sent a session's events to the service, as the chain-of-custody statement names it.
SENT_BY_SDK = "The agent's SDK sent these events"
SENT_BY_OTLP = (
    "The agent's OpenTelemetry exporter sent its traces (made into these events by the service)"
)

CUSTODY_STATEMENT_SEALED = (
    "{sent} to the ingestion service {service}, which recomputed "
    "every hash itself (chain authority: server), stored them append-only, and sealed the "
    "session at {sealed_at} with a CHAIN_SEAL signed by key {key_id}. At export time the "
    "stored chain was verified again: {verdict}."
)

CUSTODY_STATEMENT_UNSEALED = (
    "{sent} to the ingestion service {service}, which recomputed "
    "every hash itself (chain authority: server) and stored them append-only. The session "
    "has NOT been sealed: no signature vouches for its completeness. At export time the "
    "stored chain was verified: {verdict}."
)

CUSTODY_STATEMENT_LOCAL = (
    "The events of this session were hashed by the recording agent itself (chain authority: "
    "sdk), not by an independent service, so their chain shows consistency, not "
    "authenticity. At export time the stored chain was verified: {verdict}."
)

VERIFICATION_CHECKS = [
    "every envelope field present and well-formed; no unknown field (spec §2)",
    "payload_hash recomputed from the RFC 8785 form of every payload (spec §3)",
    "event_hash recomputed from the seven signed fields of every event (spec §3)",
    "sequence numbers contiguous from 0; every prev_event_hash links to the preceding event",
    "one session id and one chain authority throughout; event ordering rules (spec §4)",
    "the seal's digest, final hash, event count, completeness and drops against the chain",
    "the seal's Ed25519 signature against the service's own current and retired keys",
]


def verdict(report: dict) -> str:
    """A verification report in a few words."""
    if report.get("status") != "PASS":
        count = len(report.get("violations") or [])
        return f"FAIL, {count} violation{'s' if count != 1 else ''}"
    reasons = report.get("partial_reasons") or []
    suffix = f" ({', '.join(reasons)})" if reasons else ""
    return f"PASS, {report.get('evidence_class')}{suffix}"


# A session that was started and never received an event. Verifiers report such a log as
# EMPTY_LOG (status FAIL, no evidence class): there is nothing to verify. That is not a sign
# of tampering, and every place that reports it (export notices, the PDF, the console,
# verify_sessions, export_sessions) uses these words, decided by session_without_events.
NO_EVENTS = (
    "NO EVENTS: the session was started but the service never received an event for it, so "
    "there is nothing to verify or seal (the verifier reports EMPTY_LOG). This is not a sign "
    "that anything was altered."
)


def session_without_events(*, head_sequence: int | None, events_read: int) -> bool:
    """True when the service never accepted an event for the session and none is stored.

    A session whose head says events were accepted but whose stored chain is empty lost
    them behind the service's back: that is a failure, not this case.
    """
    return head_sequence is None and events_read == 0
