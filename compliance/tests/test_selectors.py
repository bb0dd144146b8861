"""Reads for exports (``compliance.selectors``)."""

from __future__ import annotations

import pytest

from compliance import selectors
from policy.services import session_findings_evaluate

from .factories import RUN, export_bytes, session_sealed

pytestmark = pytest.mark.django_db


def test_the_latest_findings_come_without_their_long_lists_which_read_back_whole():
    session = session_sealed()
    session_findings_evaluate(session=session)
    latest = session_findings_evaluate(session=session)
    found = selectors.session_findings_latest(session=session)
    assert found.pk == latest.pk
    assert {"pii_findings", "tool_audit"} <= found.get_deferred_fields()
    lists = selectors.findings_lists(findings=found)
    assert list(lists["pii_findings"]) == latest.pii_findings
    assert list(lists["tool_audit"]["calls"]) == latest.tool_audit["calls"]
    assert list(lists["tool_audit"]["totals"]) == latest.tool_audit["totals"]


def test_the_ingestion_facts_span_the_producers_events_up_to_the_last_asked():
    session = session_sealed()
    facts = selectors.session_ingestion_facts(session=session, last_sequence=len(RUN) - 1)
    assert facts["first_received_at"] <= facts["last_received_at"]
    assert facts["api_keys"] == []  # appended through the service, not the API


def test_an_earlier_export_is_found_by_its_exact_bytes_only():
    session = session_sealed()
    data, record = export_bytes(session, "jsonl")
    digest = record.sha256
    found = selectors.export_record_matching(
        session=session, fmt="jsonl", sha256=digest, size_bytes=len(data)
    )
    assert found == record
    assert (
        selectors.export_record_matching(
            session=session, fmt="jsonl", sha256=digest, size_bytes=len(data) + 1
        )
        is None
    )
