"""A report rendered in chunks (compliance.exports.chunked) follows the rules of one rendered
as a single document: every page says "Page N of M" with the real N and M and carries the
disclaimer, the contents give the pages where sections start, the timeline pages name the
events they show, and the cover cites the SHA-256 of the compliance JSON it carries."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from compliance import statements

from .factories import export_bytes, session_sealed
from .pdf_attachments import needs_poppler, pdf_attachments

pytestmark = [pytest.mark.django_db, needs_poppler]

COVERS = re.compile(r"Events (\d+) to (\d+) of (\d+)")


def pages_text(data: bytes, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    pdf = folder / "report.pdf"
    pdf.write_bytes(data)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return [" ".join(page.split()) for page in text.split("\f")[:-1]]


def producer(data: bytes, folder: Path) -> str:
    pdf = folder / "info.pdf"
    pdf.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return next(line for line in info.splitlines() if line.startswith("Producer:"))


def report_rules(data: bytes, record, folder: Path) -> dict:
    """Checks the rules every report follows; returns what two renderings must share."""
    pages = pages_text(data, folder / "text")
    total = len(pages)
    short = " ".join(statements.SHORT_DISCLAIMER.split())
    for number, page in enumerate(pages, start=1):
        assert page.endswith(f"Page {number} of {total}") or f"Page {number} of {total}" in page
        assert short in page, number
    # The cover cites the SHA-256 of the JSON it carries, recorded in the ledger.
    cited = record.json_export
    (attached,) = pdf_attachments(data, folder / "files").values()
    assert hashlib.sha256(attached).hexdigest() == cited.sha256
    assert cited.sha256 in pages[0].replace(" ", "")
    # The contents name the page each section starts on.
    toc = dict(re.findall(r"(\d) [A-Z][A-Za-z -]+?\s?\.{3,}\s?(\d+)", pages[1]))
    assert "7" in toc and "8" in toc, pages[1]
    timeline_start = int(toc["7"])
    assert "7 Timeline of events Every event" in pages[timeline_start - 1]
    assert "8 Disclaimer" in pages[int(toc["8"]) - 1]
    assert int(toc["8"]) == total  # the disclaimer is the last page here
    # The transcript appendix sits between the timeline and the disclaimer.
    (appendix_start,) = map(int, re.findall(r"Appendix Transcript\s?\.{3,}\s?(\d+)", pages[1]))
    assert "Appendix Transcript The session as a reader follows it" in pages[appendix_start - 1]
    toc["appendix"] = str(appendix_start)
    # Every timeline page names its events; together they are every event, in order.
    covered = []
    for page in pages[timeline_start - 1 : appendix_start - 1]:
        (found,) = COVERS.findall(page)
        covered.append(tuple(map(int, found)))
    expected_next = 0
    for first, last, of in covered:
        assert first == expected_next
        assert last >= first
        expected_next = last + 1
        assert of == record.last_sequence_number + 1
    assert expected_next == record.last_sequence_number + 1
    return {"total": total, "toc": toc, "covered": covered}


def test_a_report_in_chunks_follows_the_rules_of_one_rendered_whole(settings, tmp_path):
    session = session_sealed(extra=300)
    settings.AGENTOPS_PDF_CHUNK_EVENTS = 100  # a timeline of 309 rows: four chunks
    chunked, chunked_record = export_bytes(session, "pdf")
    settings.AGENTOPS_PDF_CHUNK_EVENTS = 100_000
    whole, whole_record = export_bytes(session, "pdf")

    assert "pypdf" in producer(chunked, tmp_path)  # assembled from parts
    assert "pypdf" not in producer(whole, tmp_path)  # one WeasyPrint document
    in_chunks = report_rules(chunked, chunked_record, tmp_path / "chunked")
    at_once = report_rules(whole, whole_record, tmp_path / "whole")
    assert in_chunks == at_once
    assert len(in_chunks["covered"]) > 4
