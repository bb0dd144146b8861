"""The PDF report's appendix: the transcript of the session (``compliance.transcript``),
bounded to its first ``APPENDIX_EVENTS`` events.

Its events come from the export's own spool, so the appendix shows exactly the chain the
report covers, as the export shows it (a masked copy's withheld payloads stay withheld).
Its texts are masked for every reader, as the timeline's summaries are: the PDF is a
document handed on, and the unmasked payloads travel in the attached JSON for those who may
read them.
"""

from __future__ import annotations

import heapq
import json
from typing import Any

from policy.services import scanner_for_project

from ..transcript import Entry, Pairing, entries_build, is_otlp, order_sentence, reader_key
from .context import ExportContext
from .erasures import erasure_notes

#: Events of the transcript printed in the PDF; the console shows the whole transcript.
APPENDIX_EVENTS = 150
#: Characters of one text in the appendix (the JSON holds it whole).
APPENDIX_TEXT_CHARS = 1200


def _envelopes(context: ExportContext):
    context.spool.seek(0)
    for line in context.spool:
        line = line.strip()
        if line:
            yield json.loads(line)


def _pairing_part(envelope: dict[str, Any]) -> dict[str, Any]:
    """What pairing a call with its answer reads of an event (the rest is not kept)."""
    payload = envelope.get("payload")
    if isinstance(payload, dict):
        payload = {
            key: payload[key] for key in ("tool_name", "tool_id", "status") if key in payload
        }
    return {
        "event_type": envelope.get("event_type"),
        "sequence_number": envelope.get("sequence_number"),
        "event_id": envelope.get("event_id"),
        "timestamp_wall": envelope.get("timestamp_wall"),
        "payload": payload,
    }


def _cut(entry: Entry) -> Entry:
    for said in entry.said:
        if len(said.text) > APPENDIX_TEXT_CHARS:
            rest = len(said.text) - APPENDIX_TEXT_CHARS
            said.text = said.text[:APPENDIX_TEXT_CHARS] + f"… ({rest} more characters)"
    if entry.answer is not None:
        _cut(entry.answer)
    return entry


def transcript_appendix(context: ExportContext, limit: int = APPENDIX_EVENTS) -> dict[str, Any]:
    """The appendix: its entries, how many events it covers, and what it leaves out."""
    scanner = scanner_for_project(project=context.session.project)
    by_time = is_otlp(context.session)
    # One pass over the spool: every tool call and answer for the pairing, and the first
    # ``limit`` events in reader order (nsmallest keeps a heap of ``limit`` items only).
    calls: list[dict[str, Any]] = []
    counted = [0]

    def read():
        for index, envelope in enumerate(_envelopes(context)):
            counted[0] += 1
            if envelope.get("event_type") in ("TOOL_CALL", "TOOL_RESULT", "ERROR"):
                calls.append(_pairing_part(envelope))
            yield reader_key(envelope, by_time=by_time), index, envelope

    chosen = heapq.nsmallest(limit, read(), key=lambda item: (item[0], item[1]))
    total = counted[0]
    notes = {int(number): note for number, note in erasure_notes(context).items()}
    entries = entries_build(
        (envelope for _, _, envelope in chosen),
        scanner=scanner,
        raw_allowed=False,
        pairing=Pairing.from_events(calls, scanner),
        erased=notes,
    )
    shown = len(chosen)
    left_out = total - shown
    return {
        "entries": [_cut(entry) for entry in entries],
        "events_shown": shown,
        "events_total": total,
        "order": order_sentence(context.session),
        "left_out": (
            f"This appendix shows the first {shown} of the session's {total} events. The other "
            f"{left_out} are in the timeline (section 7) and, in full, in the attached compliance "
            "JSON export; the console's transcript view shows them all."
            if left_out
            else f"This appendix shows all {total} events of the session."
        ),
    }
