"""Exports into a folder and re-verification (``compliance.services``)."""

from __future__ import annotations

import pytest

from compliance import services
from ingestion.tests.factories import session_create

from .factories import ACTOR, event_tamper, session_sealed

pytestmark = pytest.mark.django_db


def test_a_file_already_exported_from_the_same_chain_is_kept_and_an_altered_one_rewritten(
    tmp_path,
):
    session = session_sealed()
    first = services.session_files_export(
        session=session, folder=tmp_path, formats=["jsonl"], actor=ACTOR
    )
    again = services.session_files_export(
        session=session, folder=tmp_path, formats=["jsonl"], actor=ACTOR
    )
    assert [f.skipped for f in first.files] == [False]
    assert [f.skipped for f in again.files] == [True]
    assert again.files[0].record == first.files[0].record
    path = first.files[0].path
    path.write_bytes(path.read_bytes() + b"\n")
    rewritten = services.session_files_export(
        session=session, folder=tmp_path, formats=["jsonl"], actor=ACTOR
    )
    assert [f.skipped for f in rewritten.files] == [False]
    assert services.file_sha256(path)[0] == rewritten.files[0].record.sha256


def test_a_pdf_comes_with_the_json_it_cites(tmp_path):
    result = services.session_files_export(
        session=session_sealed(), folder=tmp_path, formats=["pdf"], actor=ACTOR
    )
    json_file, pdf_file = result.files
    assert (json_file.record.format, pdf_file.record.format) == ("json", "pdf")
    assert pdf_file.record.json_export == json_file.record


def test_verifying_sessions_reports_each_and_passes_over_an_empty_one():
    empty, intact, tampered = session_create(), session_sealed(), session_sealed()
    event_tamper(tampered, 2, event_type="ERROR")
    results = {
        r.session.pk: r
        for r in services.sessions_verify(
            actor=ACTOR, session_ids=[empty.pk, intact.pk, tampered.pk]
        )
    }
    assert results[empty.pk].report is None and not results[empty.pk].failed
    assert results[intact.pk].report["status"] == "PASS"
    assert results[tampered.pk].failed
