"""A long PDF report rendered in bounded chunks and assembled, so that memory and time stay
linear in the session's length.

WeasyPrint lays out a whole document at once, and its memory grows with it (about 850 MB for
30,000 timeline lines). Here the one template (``compliance/report.html``) is rendered in
parts, each a WeasyPrint document of bounded size:

- ``front``: cover, contents, summary, verification, chain of custody, policy results,
  personal data findings, tool-access audit (sections 1 to 6), exactly as in a short report;
- ``timeline``: section 7, ``chunk_events`` rows at a time;
- ``appendix``: the transcript of the session's first events;
- ``end``: the disclaimer (section 8).

Every page of the timeline is one block of a fixed number of lines
(``pdf.TIMELINE_PAGE_LINES``), so the timeline's page count is known before any layout. The
front part is laid out once to count its pages, then again with the total; each part numbers
its pages from where the previous one ended ("Page N of M"), and the contents give the
timeline's and the disclaimer's first pages. Each part is checked to have exactly the pages
planned for it. pypdf assembles the parts, attaches the compliance JSON the report cites and
sets the document's metadata.
"""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from ..models import ExportRecord
from .context import Actor, ExportContext
from .pdf import (
    TEMPLATE,
    TIMELINE_PAGE_LINES,
    report_context,
    timeline_page_bounds,
    timeline_pages,
)

Progress = Callable[[str, int, int], None]


class PaginationError(RuntimeError):
    """A part of the report did not have the pages planned for it (a template change made a
    timeline page taller than a sheet): refusing to print wrong page numbers."""


def _document(html: str) -> Any:
    from weasyprint import HTML

    return HTML(string=html, base_url=str(settings.BASE_DIR)).render()


def chunked_pdf_write(
    *,
    context: ExportContext,
    actor: Actor,
    json_export: ExportRecord,
    json_data: bytes,
    write: Callable[[bytes], Any],
    chunk_events: int,
    progress: Progress | None = None,
) -> None:
    """Write the report of ``context`` to ``write``, rendered ``chunk_events`` timeline rows
    at a time (see the module's documentation)."""
    timeline = context.timeline
    assert timeline is not None
    base = report_context(context=context, actor=actor, json_export=json_export, timeline=False)
    pages_per_chunk = max(1, chunk_events // TIMELINE_PAGE_LINES)
    timeline_total = len(timeline_page_bounds(len(timeline)))
    chunks = [
        (first, min(timeline_total, first + pages_per_chunk))
        for first in range(0, timeline_total, pages_per_chunk)
    ]
    steps = len(chunks) + 4
    tell = progress or (lambda stage, done, total: None)

    def html(part: str, **extra: Any) -> str:
        return render_to_string(TEMPLATE, {**base, "part": part, **extra})

    tell("rendering", 0, steps)
    # The front and the end are laid out first, only to count their pages.
    placeholder = {
        "page_total": 1,
        "toc_pages": {"timeline": 1, "appendix": 1, "disclaimer": 1},
    }
    front_pages = len(_document(html("front", **placeholder)).pages)
    appendix_pages = len(_document(html("appendix", page_first=1, **placeholder)).pages)
    end_pages = len(_document(html("end", page_first=1, **placeholder)).pages)
    total = front_pages + timeline_total + appendix_pages + end_pages
    numbering = {
        "page_total": total,
        "toc_pages": {
            "timeline": front_pages + 1,
            "appendix": front_pages + timeline_total + 1,
            "disclaimer": total - end_pages + 1,
        },
    }
    with tempfile.TemporaryDirectory(prefix="agentops-pdf-") as folder:
        parts: list[Path] = []

        def part_write(name: str, document: Any, planned: int) -> None:
            if len(document.pages) != planned:
                raise PaginationError(
                    f"part {name} has {len(document.pages)} page(s), {planned} planned"
                )
            path = Path(folder) / f"{len(parts):05d}.pdf"
            document.write_pdf(path)
            parts.append(path)

        part_write("front", _document(html("front", **numbering)), front_pages)
        tell("rendering", 1, steps)
        for index, (first, last) in enumerate(chunks):
            document = _document(
                html(
                    "timeline",
                    page_first=front_pages + first + 1,
                    timeline_intro=first == 0,
                    timeline_pages=timeline_pages(timeline, first, last),
                    **numbering,
                )
            )
            part_write(f"timeline {index + 1}", document, last - first)
            del document
            tell("rendering", index + 2, steps)
        appendix = _document(
            html("appendix", page_first=front_pages + timeline_total + 1, **numbering)
        )
        part_write("appendix", appendix, appendix_pages)
        del appendix
        tell("rendering", len(chunks) + 2, steps)
        end = _document(html("end", page_first=total - end_pages + 1, **numbering))
        part_write("end", end, end_pages)
        tell("assembling", steps - 1, steps)
        _assemble(parts, context=context, json_export=json_export, json_data=json_data, write=write)
        tell("assembling", steps, steps)


def _attach(writer: Any, json_export: ExportRecord, json_data: bytes) -> None:
    """The compliance JSON as the PDF's attached file, compressed (Flate) a block at a time,
    with the description and relationship a one-document report gives it."""
    from pypdf.generic import (
        ArrayObject,
        DictionaryObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    packer = zlib.compressobj(6)
    view = memoryview(json_data)
    packed = [packer.compress(view[at : at + (1 << 20)]) for at in range(0, len(view), 1 << 20)]
    packed.append(packer.flush())
    embedded = writer.add_attachment(json_export.file_name, b"")
    spec = embedded.pdf_object
    stream = spec["/EF"]["/F"].get_object()
    stream.set_data(b"".join(packed))
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    stream[NameObject("/Subtype")] = NameObject("/application#2Fjson")
    stream[NameObject("/Params")] = DictionaryObject(
        {NameObject("/Size"): NumberObject(len(json_data))}
    )
    description = f"Compliance JSON export (the evidence), SHA-256 {json_export.sha256}"
    spec[NameObject("/Desc")] = TextStringObject(description)
    spec[NameObject("/UF")] = TextStringObject(json_export.file_name)
    spec[NameObject("/AFRelationship")] = NameObject("/Source")
    writer._root_object[NameObject("/AF")] = ArrayObject([spec.indirect_reference])


def _assemble(
    parts: list[Path],
    *,
    context: ExportContext,
    json_export: ExportRecord,
    json_data: bytes,
    write: Callable[[bytes], Any],
) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for path in parts:
        writer.append(str(path))
    _attach(writer, json_export, json_data)
    writer.add_metadata(
        {
            "/Title": f"Session evidence report {context.session.pk}",
            "/Author": "AgentOps Replay",
            "/Creator": "AgentOps Replay",
            "/Subject": f"Evidence report of agent session {context.session.pk}: "
            f"{context.report.get('evidence_class') or 'verification failed'}",
        }
    )

    assembled = parts[0].with_name("report.pdf")
    writer.write(str(assembled))
    writer.close()
    with open(assembled, "rb") as handle:
        while block := handle.read(1 << 20):
            write(block)
