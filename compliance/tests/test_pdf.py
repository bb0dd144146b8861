"""The PDF report (``compliance.exports.pdf``): what its cover says, read back with pdftotext."""

from __future__ import annotations

import io

import pytest
from agentops_sdk import wording

from compliance import services
from compliance.models import ExportRecord
from compliance.statements import DISCLAIMER
from ingestion import selectors as ingestion_selectors

from .factories import ACTOR, event_tamper, export_bytes, session_recorded, session_sealed
from .pdf_attachments import needs_poppler, pdf_words

pytestmark = pytest.mark.django_db


@needs_poppler
def test_pdf_carries_evidence_class_session_digest_and_disclaimer(tmp_path):
    session = session_sealed()
    data, record = export_bytes(session, "pdf")
    assert data.startswith(b"%PDF-")
    text = pdf_words(data, tmp_path)
    compact = "".join(text.split())
    seal_payload = ingestion_selectors.session_seal_envelope(session=session)["payload"]
    assert "AUTHORITATIVE_EVIDENCE" in text
    assert "VERIFIED" in text
    assert str(session.pk) in text
    assert seal_payload["session_digest"] in compact
    assert seal_payload["signature"]["key_id"] in compact
    assert " ".join(DISCLAIMER.split()) in text
    assert "Page 1 of" in text
    assert record.json_export.sha256 in compact


@needs_poppler
def test_pdf_of_an_unsealed_session_carries_a_banner(tmp_path):
    data, _ = export_bytes(session_recorded(end=False), "pdf")
    text = pdf_words(data, tmp_path)
    assert "UNSEALED SESSION" in text
    assert "VERIFIED " not in text.replace("NOT VERIFIED", "")


@needs_poppler
def test_pdf_of_a_failed_verification_says_so_as_loudly(tmp_path):
    session = session_sealed()
    event_tamper(session, 3, event_type="ERROR")
    data, record = export_bytes(session, "pdf")
    text = pdf_words(data, tmp_path)
    assert "VERIFICATION FAILED" in text
    assert "EVENT_HASH_MISMATCH" in text
    assert record.verification_status == "FAIL"


def test_pdf_cites_a_compliance_json_export_recorded_with_it():
    session = session_sealed()
    _, record = export_bytes(session, "pdf")
    cited = record.json_export
    assert cited.format == "json"
    assert cited.exported_at == record.exported_at
    # Handed out inside the PDF, as a file attachment (test_export_pairs reads it back).
    assert cited.delivered is True and cited.attached_to_pdf is True
    assert record.delivered is True
    assert ExportRecord.objects.filter(session=session).count() == 2


def test_a_pdf_needs_the_json_written_from_the_same_context():
    session = session_sealed()
    with (
        services.export_context(session=session, timeline=True) as context,
        pytest.raises(ValueError, match="cites the compliance JSON"),
    ):
        services.export_write(context=context, fmt="pdf", target=io.BytesIO(), actor=ACTOR)


@needs_poppler
def test_the_cover_of_a_partial_session_gives_each_reason_in_the_shared_words(tmp_path):
    data, record = export_bytes(session_recorded(end=False), "pdf")
    text = pdf_words(data, tmp_path)
    assert record.evidence_class == "PARTIAL_AUTHORITATIVE_EVIDENCE"
    assert "PARTIAL EVIDENCE" in text
    for code in ("UNSEALED_SESSION", "MISSING_SESSION_END"):
        assert wording.partial_reason(code) in text
