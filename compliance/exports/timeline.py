"""One line per event for the PDF timeline: sequence, time, type, abbreviated hash, summary.

The lines are plain monospace text, fixed-width columns padded with spaces. WeasyPrint's cost
grows with every inline box and every glyph it lays out, so a 10,000-event timeline stays
fast only as one text run per event, without markup inside a line (see report.css).

Summaries never show personal data unmasked: free text passes through the project's PII
scanner first, and tool-call arguments appear as the tool-access audit shows them (short,
masked previews from ``policy.audit``), so that the timeline is also the full list of calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy.audit import args_summarize
from policy.pii import PiiScanner, text_mask

HASH_CHARS = 8
TYPE_WIDTH = 20  # AGENT_STATE_SNAPSHOT
TIME_WIDTH = 12  # HH:MM:SS.mmm
LINE_WIDTH = 112  # characters of DejaVu Sans Mono at 7 pt across the A4 text column
_FREE_TEXT_CHARS = 60  # masked before cutting: a cut could split a value the scanner knows


def sequence_width(last_sequence: int | None) -> int:
    """Characters of a sequence column: the largest number, and never narrower than "Seq"."""
    return max(3, len(str(last_sequence or 0)))


def _clean(value: Any) -> str:
    """A value as one printable line."""
    text = value if isinstance(value, str) else str(value)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _free_text(scanner: PiiScanner, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        return "(structured)" if isinstance(value, Mapping | list) else _clean(value)
    snippet = value[: _FREE_TEXT_CHARS * 4]  # bounded scanning cost for very long texts
    return _cut(_clean(text_mask(scanner=scanner, text=snippet)), _FREE_TEXT_CHARS)


def _ms(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:g} ms"
    return "?"


def event_summary(event: Mapping[str, Any], scanner: PiiScanner) -> str:
    """What happened, in a few words (the type column already says what kind of event)."""
    payload = event.get("payload")
    event_type = event.get("event_type")
    if payload is None:
        return "(payload withheld; its hash remains in the chain)"
    if not isinstance(payload, Mapping):
        return "(payload is not an object)"
    get = payload.get
    if event_type == "SESSION_START":
        parts = [f"agent {_clean(get('agent_id'))}"]
        parts += [
            f"{name} {_clean(get(name))}" for name in ("environment", "framework") if get(name)
        ]
        return ", ".join(parts)
    if event_type == "SESSION_END":
        return f"{_clean(get('status'))} after {_ms(get('duration_ms'))}"
    if event_type == "MODEL_REQUEST":
        messages = get("messages")
        what = f"{len(messages)} message(s)" if isinstance(messages, list) else "prompt hash only"
        return f"{_clean(get('model'))}, {what}"
    if event_type == "MODEL_RESPONSE":
        content = get("content")
        said = f': "{_free_text(scanner, content)}"' if content is not None else ", hash only"
        return f"{_clean(get('model'))} ({_clean(get('finish_reason'))}){said}"
    if event_type == "TOOL_CALL":
        logged, args = args_summarize(scanner=scanner, payload=payload)
        shown = ", ".join(f"{arg.key}={arg.preview}" for arg in args) if args else logged
        return f"{_clean(get('tool_name'))}({_clean(shown)})"
    if event_type == "TOOL_RESULT":
        took = f" in {_ms(get('duration_ms'))}" if get("duration_ms") is not None else ""
        return f"{_clean(get('tool_name'))}: {_clean(get('status'))}{took}"
    if event_type == "ERROR":
        fatal = " (fatal)" if get("fatal") is True else ""
        return f"{_clean(get('error_type'))}{fatal}: {_free_text(scanner, get('message'))}"
    if event_type == "DECISION_TRACE":
        why = _free_text(scanner, get("justification"))
        return f"{_clean(get('decision_id'))}: {why}"
    if event_type == "ANNOTATION":
        said = _free_text(scanner, get("content"))
        return f"{_clean(get('annotation_type'))} by {_clean(get('annotator_id'))}: {said}"
    if event_type == "LOG_DROP":
        return (
            f"{_clean(get('dropped_count'))} lost ({_clean(get('drop_reason'))}), "
            f"{_clean(get('cumulative_drops'))} in total"
        )
    if event_type == "AGENT_STATE_SNAPSHOT":
        return f"{len(payload)} field(s)"
    if event_type == "CHAIN_SEAL":
        signature = get("signature")
        key = signature.get("key_id") if isinstance(signature, Mapping) else None
        return (
            f"by {_clean(get('ingestion_service_id'))}: {_clean(get('event_count'))} events, "
            f"key {_clean(key)}"
        )
    return ""


class Timeline:
    """The rows of a session's timeline, formatted once every row is known.

    Columns are as wide as their widest value (a session without AGENT_STATE_SNAPSHOT does
    not pad every line to that name): on a long report every glyph costs time. A line marks
    each change of date, since the time column shows the time of day only.
    """

    def __init__(self, scanner: PiiScanner) -> None:
        self.scanner = scanner
        self._rows: list[tuple[str, str, str, str, str] | str] = []
        self._date: str | None = None
        #: Printed sequence number -> what to show for an erased payload (exports/erasures).
        self.erasure_notes: dict[str, str] = {}
        self._widths_of = -1  # rows when the widths were last computed
        self._widths_value = (0, 0)

    def __len__(self) -> int:
        """Rows of the timeline: one per event, one per change of date."""
        return len(self._rows)

    def add(self, event: Mapping[str, Any]) -> None:
        stamp = event.get("timestamp_wall")
        if isinstance(stamp, str) and len(stamp) >= 20:
            date, clock = stamp[:10], stamp[11:23]
        else:
            date, clock = "", _cut(_clean(stamp), TIME_WIDTH)
        if date and date != self._date:
            if self._date is not None:
                self._rows.append(date)
            self._date = date
        event_hash = event.get("event_hash")
        self._rows.append(
            (
                _clean(event.get("sequence_number")),
                clock,
                _cut(_clean(event.get("event_type")), TYPE_WIDTH),
                event_hash[:HASH_CHARS] if isinstance(event_hash, str) else "?",
                event_summary(event, self.scanner),
            )
        )

    def _widths(self) -> tuple[int, int]:
        rows = [row for row in self._rows if isinstance(row, tuple)]
        sequence = max([len("Seq"), *(len(row[0]) for row in rows)])
        kind = max([len("Type"), *(len(row[2]) for row in rows)])
        return sequence, kind

    def header(self) -> str:
        sequence, kind = self._widths()
        return (
            f"{'Seq':>{sequence}}  {'Time (UTC)':<{TIME_WIDTH}}  {'Type':<{kind}}  "
            f"{'Hash':<{HASH_CHARS}}  Summary"
        )

    def lines(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The formatted rows ``start:stop`` (all by default)."""
        sequence, kind = self._widths_cached()
        lines = []
        for row in self._rows[start:stop]:
            if isinstance(row, str):
                lines.append(f"{'':>{sequence}}  ── {row} ──")
                continue
            number, clock, event_type, short_hash, summary = row
            summary = self.erasure_notes.get(number, summary)
            head = (
                f"{number:>{sequence}}  {clock:<{TIME_WIDTH}}  {event_type:<{kind}}  "
                f"{short_hash:<{HASH_CHARS}}  "
            )
            lines.append(head + _cut(summary, LINE_WIDTH - len(head)))
        return lines

    def sequences(self, start: int, stop: int) -> tuple[str, str]:
        """The sequence numbers of the first and the last event among rows ``start:stop``."""
        numbers = [row[0] for row in self._rows[start:stop] if isinstance(row, tuple)]
        return (numbers[0], numbers[-1]) if numbers else ("", "")

    def _widths_cached(self) -> tuple[int, int]:
        if self._widths_of != len(self._rows):
            self._widths_value = self._widths()
            self._widths_of = len(self._rows)
        return self._widths_value
