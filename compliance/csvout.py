"""CSV files the console and the management commands hand to people.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
return before one of them) as a formula. Agent ids, tool names, search terms and user names
are chosen by whoever sends events or signs in, so every cell passes through ``csv_cell``,
which puts an apostrophe before such a value: the spreadsheet shows the text, runs nothing.
Every CSV this service writes goes through ``csv_rows``; there is no second rule.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.http import StreamingHttpResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """One cell's text: ``None`` is empty, times are ISO 8601 with their offset, and text
    that a spreadsheet would run as a formula is prefixed with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


class _Line:
    """A file-like object ``csv.writer`` writes one line into, which is then handed on."""

    def write(self, text: str) -> str:
        return text


def csv_rows(header: Iterable[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """The CSV text, line by line: the header, then each row's cells through ``csv_cell``."""
    writer = csv.writer(_Line())
    yield writer.writerow([csv_cell(name) for name in header])
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def csv_response(
    filename: str, header: Iterable[str], rows: Iterable[Iterable[object]]
) -> StreamingHttpResponse:
    """A download of ``rows`` as ``filename``, streamed so a long list never sits in memory."""
    response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
