"""The console's words for a verification, and the one wording of partial evidence shared by
the console, the PDF report and ``agentops-verify``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from agentops_sdk import verify, wording

from compliance import labels
from compliance.exports import pdf
from ingestion.models import EvidenceClass
from ingestion.tests.factories import VECTORS


@pytest.fixture(scope="module")
def partial_report() -> dict:
    """A real report of a passing server log that is partial (lost events, no key)."""
    report = verify.verify_file(VECTORS / "server_log_drop.jsonl")
    assert report["evidence_class"] == verify.PARTIAL_AUTHORITATIVE_EVIDENCE
    assert report["total_drops"] == 3
    return report


@pytest.mark.parametrize("code", sorted(wording.PARTIAL_REASONS))
def test_each_partial_reason_reads_the_same_in_the_console_the_pdf_and_the_cli(
    partial_report, code
):
    report = {**partial_report, "partial_reasons": [code]}
    words = wording.partial_reason(code, drops=3)
    assert words != code
    console = labels.verdict_describe(report)
    stamp = pdf._stamp(SimpleNamespace(no_events=False, report=report))
    assert console.reasons == (wording.sentence(words),)
    assert stamp["text"].endswith(f"but: {words}.")
    assert f"  - {words}" in verify.render_text(report).splitlines()


def test_the_lost_events_are_counted_on_every_surface(partial_report):
    stamp = pdf._stamp(SimpleNamespace(no_events=False, report=partial_report))
    assert "3 lost event(s)" in stamp["text"]
    assert any(
        "3 lost event(s)" in reason for reason in labels.verdict_describe(partial_report).reasons
    )


def test_a_report_stored_before_drops_were_counted_still_reads():
    report = {"status": "PASS", "evidence_class": "PARTIAL_AUTHORITATIVE_EVIDENCE"}
    report["partial_reasons"] = ["LOG_DROP_PRESENT", "SOMETHING_NEW"]
    assert labels.verdict_describe(report).reasons == (
        "The recorder reported lost events (LOG_DROP).",
        "SOMETHING_NEW.",
    )


def test_the_wording_knows_every_code_the_verifier_gives():
    codes = {
        verify.UNSEALED_SESSION,
        verify.SIGNATURE_NOT_CHECKED,
        verify.KEY_NOT_TRUSTED,
        verify.MISSING_SESSION_END,
        verify.LOG_DROP_PRESENT,
        verify.EXPORT_NOT_SIGNED,
    }
    assert set(wording.PARTIAL_REASONS) == codes
    classes = {
        verify.AUTHORITATIVE_EVIDENCE,
        verify.PARTIAL_AUTHORITATIVE_EVIDENCE,
        verify.NON_AUTHORITATIVE_EVIDENCE,
    }
    assert set(wording.EVIDENCE_MEANINGS) == classes


def test_a_failed_report_lists_each_problem_in_plain_words():
    report = {
        "status": "FAIL",
        "event_count": 4,
        "violations": [
            {"type": "PAYLOAD_HASH_MISMATCH", "message": "m", "sequence_number": 2},
            {"type": "NEW_CHECK", "message": "n", "sequence_number": None},
        ],
    }
    verdict = labels.verdict_describe(report)
    assert verdict.label == labels.evidence_label(EvidenceClass.FAILED)
    assert [p.text for p in verdict.problems] == [
        labels.PROBLEMS["PAYLOAD_HASH_MISMATCH"],
        "A check failed.",
    ]
    assert verdict.message().startswith("Verification failed. 4 events checked.")
    assert "(event 2)" in verdict.message()


def test_a_session_never_verified_is_not_sealed_and_an_unknown_class_is_a_failure():
    assert labels.verdict_describe(None).label.short == "Not sealed"
    assert labels.evidence_label("SOMETHING_ELSE") == labels.evidence_label(EvidenceClass.FAILED)
