"""Masked exports, for readers without the ``compliance.view_raw_payload`` permission.

A masked export withholds the payload of every event in which personal data was found, as
spec §3 allows: ``"payload": null`` with the ``payload_hash`` kept, so the chain still
verifies and the verifier lists the event under ``redacted_events``. Whole payloads, not
single values, because the chain binds each payload through its hash: a payload with one
value masked would no longer match it, and the export could not be verified. Events without
personal data stay readable, since what the agent did (which tools, with what outcome) is
what a reviewer checks; the session page shows the same events with their values masked.

An event counts as holding personal data when the stored findings name it or the project's
scanner finds some in it now (a policy may have changed since the findings were stored).
Nothing else of the export shows a payload: findings and the PDF carry masked previews only.
The session's agent id and metadata are masked value by value (they are not in the chain).

Personal data in a chain field that cannot be withheld (``source_sdk_ver``, or the
``authority_id`` an SDK wrote for itself) would have to be shown or the chain broken: the
masked export is refused instead (``RedactionImpossible``), naming the event and the field.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentops_sdk import chain

from policy.masking import payload_masked
from policy.pii import PiiScanner, payload_scan
from policy.services import scanner_for_project

from .. import selectors

#: Top-level member of a masked compliance export (also its label in the ledger and PDF).
MARKER = "redaction"

#: Chain fields a producer writes as free text; they take part in the event hash.
_CHAIN_TEXT_FIELDS = ("source_sdk_ver", "authority_id")

#: What the marker says, for any reader of the file.
REASON = (
    "Masked copy for a reader without permission to see personal data: the payload of every "
    "event in which personal data was found is withheld (payload null, its payload_hash "
    "kept, so the chain still verifies), and the session's agent id and metadata are masked."
)


class RedactionImpossible(Exception):
    """Personal data sits where a masked export cannot withhold it without breaking the
    chain; the message says where and what to do instead."""


@dataclass
class Redaction:
    """The masking of one export, filled in as the chain is read."""

    scanner: PiiScanner
    flagged: frozenset[int]  # sequence numbers named by the stored PII findings
    withheld: list[int] = field(default_factory=list)

    def envelope(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """``envelope`` as the masked export shows it: its payload withheld if it holds
        personal data. Raises ``RedactionImpossible`` for personal data in a chain field."""
        sequence = envelope.get("sequence_number")
        for name in _CHAIN_TEXT_FIELDS:
            if name == "authority_id" and envelope.get("chain_authority") == chain.AUTHORITY_SERVER:
                continue  # the service's own configured id, not something a producer wrote
            value = envelope.get(name)
            if isinstance(value, str) and payload_scan(scanner=self.scanner, payload=value):
                raise RedactionImpossible(
                    f"Event {sequence} holds personal data in its {name}, which is part of "
                    "the hash chain and cannot be withheld without breaking verification, so "
                    "no masked copy of this session can be made. A user with the permission "
                    "to view raw payloads can export it in full."
                )
        payload = envelope.get("payload")
        if payload is None or envelope.get("event_type") == chain.SEAL_EVENT_TYPE:
            return envelope  # the seal is the service's own statement: no agent data
        if sequence in self.flagged or payload_scan(scanner=self.scanner, payload=payload):
            self.withheld.append(sequence)
            return {**envelope, "payload": None}
        return envelope

    def marker(self) -> dict[str, Any]:
        return {
            "redacted": True,
            "reason": REASON,
            "withheld_payloads": sorted(self.withheld),
        }

    def notice(self) -> str:
        count = len(self.withheld)
        listed = ", ".join(map(str, sorted(self.withheld))) or "none"
        return (
            f"REDACTED COPY: personal data is not shown. The payloads of {count} event"
            f"{'s' if count != 1 else ''} ({listed}) are withheld; their hashes remain in the "
            "chain, so the export still verifies. The session's agent id and metadata are "
            "masked. A user with the permission to view raw payloads can export it in full."
        )


def redaction_for(*, session: Any) -> Redaction:
    """The masking of an export of ``session`` with its project's scanner."""
    flagged: set[int] = set()
    findings = selectors.session_findings_latest(session=session)
    if findings is not None:
        for finding in selectors.findings_lists(findings=findings)["pii_findings"]:
            sequence = finding.get("sequence_number")
            if isinstance(sequence, int):
                flagged.add(sequence)
    return Redaction(
        scanner=scanner_for_project(project=session.project), flagged=frozenset(flagged)
    )


def session_masked(*, redaction: Redaction, agent_id: str, metadata: Any) -> tuple[str, Any, bool]:
    """(agent id, metadata, whether anything was masked) with personal data masked the way
    the console masks payloads."""
    shown = copy.deepcopy({"agent_id": agent_id, "metadata": metadata})
    found = [(f.path, f.preview) for f in payload_scan(scanner=redaction.scanner, payload=shown)]
    if not found:
        return agent_id, metadata, False
    masked, _ = payload_masked(shown, findings=found, scanner=redaction.scanner)
    if not isinstance(masked, Mapping):
        return "(hidden: personal data)", None, True
    return str(masked.get("agent_id")), masked.get("metadata"), True
