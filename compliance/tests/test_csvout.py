import csv
import io
from datetime import UTC, datetime

import pytest

from compliance.csvout import csv_cell, csv_rows


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2", "@cmd", "\t=x", "\r=x"])
def test_formula_starts_are_neutralised(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("agent-7", "agent-7"),
        (12, "12"),
        (True, "yes"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05+00:00"),
    ],
)
def test_plain_values_are_kept(value, expected):
    assert csv_cell(value) == expected


def test_rows_read_back_with_quotes_commas_and_newlines():
    rows = [["a,b", 'say "hi"', "two\nlines"], ["=evil()", None, 3]]
    text = "".join(csv_rows(["one", "two", "three"], rows))
    read = list(csv.reader(io.StringIO(text)))
    assert read == [
        ["one", "two", "three"],
        ["a,b", 'say "hi"', "two\nlines"],
        ["'=evil()", "", "3"],
    ]
