"""Reading a PDF back the way a reader does: its text (pdftotext) and its attached files
(pdfdetach), both from poppler-utils, which the project installs for its PDF tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

needs_poppler = pytest.mark.skipif(
    shutil.which("pdfdetach") is None or shutil.which("pdftotext") is None,
    reason="pdfdetach/pdftotext (poppler-utils) are not installed",
)


def pdf_attachments(data: bytes, folder: Path) -> dict[str, bytes]:
    """Every file attached to the PDF ``data``, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    pdf = folder / "report.pdf"
    pdf.write_bytes(data)
    out = folder / "attachments"
    out.mkdir()
    subprocess.run(
        ["pdfdetach", "-saveall", "-o", str(out), str(pdf)],
        capture_output=True,
        check=True,
    )
    return {path.name: path.read_bytes() for path in out.iterdir()}


def pdf_words(data: bytes, folder: Path) -> str:
    """The PDF's text, whitespace collapsed."""
    folder.mkdir(parents=True, exist_ok=True)
    pdf = folder / "text.pdf"
    pdf.write_bytes(data)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return " ".join(text.split())
