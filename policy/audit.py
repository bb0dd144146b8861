"""Tool-access audit: which tools an agent called, with what, and what came back.

Every TOOL_CALL is paired with the TOOL_RESULT or ERROR that answers it:

- by ``payload.tool_id`` when both carry one;
- otherwise a TOOL_RESULT answers the first unanswered call of the same ``tool_name`` (tools
  of one name answer in call order), and an ERROR answers the most recent unanswered call
  (of its ``tool_name`` if it names one), since an error interrupts the call in flight.
  An ERROR with no unanswered call is not about a tool and is ignored.

Argument values appear only as short, PII-masked previews; a call that logged only
``args_hash`` is reported as "hash only". The audit is a pure function of the events; the
``ToolAuditor`` accumulator lets one pass over a stream feed several consumers.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agentops_sdk import chain

from policy.pii import PiiScanner, scanner_build, text_mask

ARG_PREVIEW_CHARS = 40

STATUS_SUCCESS = "success"
STATUS_ERROR = "error"
STATUS_NO_RESULT = "no_result"
STATUS_WITHHELD = "withheld"  # the answering event's payload was withheld: outcome unknown

ARGS_LOGGED = "args"
ARGS_HASH_ONLY = "hash only"
ARGS_MISSING = "missing"
ARGS_WITHHELD = "withheld"

WITHHELD_TOOL = "(withheld)"


@dataclass(frozen=True, slots=True)
class ArgSummary:
    key: str
    type: str
    preview: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "type": self.type, "preview": self.preview}


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    tool_name: str
    tool_id: str | None
    call_sequence_number: int | None
    call_event_id: str | None
    called_at: str | None
    result_sequence_number: int | None
    result_event_id: str | None
    result_at: str | None
    duration_ms: float | None
    status: str
    args_logged: str
    args: tuple[ArgSummary, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool_name": self.tool_name,
            "tool_id": self.tool_id,
            "call_sequence_number": self.call_sequence_number,
            "call_event_id": self.call_event_id,
            "called_at": self.called_at,
            "result_sequence_number": self.result_sequence_number,
            "result_event_id": self.result_event_id,
            "result_at": self.result_at,
            "duration_ms": self.duration_ms,
            "status": self.status,
            "args_logged": self.args_logged,
            "args": [arg.as_dict() for arg in self.args],
        }


@dataclass(frozen=True, slots=True)
class ToolTotals:
    tool_name: str
    calls: int
    successes: int
    errors: int
    unanswered: int
    total_duration_ms: float
    avg_duration_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool_name": self.tool_name,
            "calls": self.calls,
            "successes": self.successes,
            "errors": self.errors,
            "unanswered": self.unanswered,
            "total_duration_ms": self.total_duration_ms,
            "avg_duration_ms": self.avg_duration_ms,
        }


@dataclass(frozen=True, slots=True)
class ToolAudit:
    calls: tuple[ToolCallRecord, ...]
    totals: tuple[ToolTotals, ...]
    #: Sequence numbers of TOOL_RESULT events that answer no call.
    unmatched_results: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": [call.as_dict() for call in self.calls],
            "totals": [total.as_dict() for total in self.totals],
            "unmatched_results": list(self.unmatched_results),
        }


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def timestamp_microseconds(value: Any) -> int | None:
    """Microseconds since the epoch of an RFC 3339 UTC ``...Z`` string, else None."""
    if type(value) is not str:
        return None
    match = chain.RFC3339_UTC.match(value)
    if match is None:
        return None
    try:
        whole = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
    except ValueError:
        return None
    fraction = (match.group(2) or "").ljust(6, "0")[:6]
    return int(whole.timestamp()) * 1_000_000 + int(fraction)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _truncate(text: str) -> str:
    if len(text) <= ARG_PREVIEW_CHARS:
        return text
    return text[: ARG_PREVIEW_CHARS - 1] + "…"


def arg_preview(*, scanner: PiiScanner, key: str, value: Any) -> str:
    """A short, PII-masked rendering of one argument value.

    Masking happens before truncation: cutting first could leave half a card number that no
    detector recognises any more, and that half would then be shown.
    """
    if isinstance(value, Mapping):
        return f"{{{len(value)} keys}}"
    if isinstance(value, list | tuple):
        return f"[{len(value)} items]"
    text = value if isinstance(value, str) else json.dumps(value)
    return _truncate(text_mask(scanner=scanner, text=text, key=key))


def args_summarize(*, scanner: PiiScanner, payload: Mapping[str, Any]) -> tuple[str, tuple]:
    """(how args were logged, per-argument summaries) for a TOOL_CALL payload."""
    args = payload.get("args")
    if isinstance(args, Mapping):
        return ARGS_LOGGED, tuple(
            ArgSummary(
                key=str(key),
                type=_json_type(value),
                preview=arg_preview(scanner=scanner, key=str(key), value=value),
            )
            for key, value in args.items()
        )
    if "args_hash" in payload:
        return ARGS_HASH_ONLY, ()
    return ARGS_MISSING, ()


# --------------------------------------------------------------------------------------
# The accumulator
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _OpenCall:
    tool_name: str
    tool_id: str | None
    sequence_number: int | None
    event_id: str | None
    called_at: str | None
    called_us: int | None
    args_logged: str
    args: tuple[ArgSummary, ...]
    answered: bool = False
    result_sequence_number: int | None = None
    result_event_id: str | None = None
    result_at: str | None = None
    duration_ms: float | None = None
    status: str = STATUS_NO_RESULT


@dataclass
class ToolAuditor:
    """Feed events one by one with ``add``; ``audit()`` returns the finished ``ToolAudit``."""

    scanner: PiiScanner
    _calls: list[_OpenCall] = field(default_factory=list)
    _by_id: dict[str, _OpenCall] = field(default_factory=dict)
    _by_name: dict[str, deque[_OpenCall]] = field(default_factory=dict)
    _open: list[_OpenCall] = field(default_factory=list)
    _unmatched: list[int] = field(default_factory=list)

    def add(self, event: Mapping[str, Any]) -> None:
        event_type = event.get("event_type")
        if event_type == "TOOL_CALL":
            self._call(event)
        elif event_type == "TOOL_RESULT":
            self._answer(event, error=False)
        elif event_type == "ERROR":
            self._answer(event, error=True)

    def _call(self, event: Mapping[str, Any]) -> None:
        payload = event.get("payload")
        if isinstance(payload, Mapping):
            tool_name = str(payload.get("tool_name") or "")
            tool_id = payload.get("tool_id")
            args_logged, args = args_summarize(scanner=self.scanner, payload=payload)
        else:
            tool_name, tool_id, args_logged, args = WITHHELD_TOOL, None, ARGS_WITHHELD, ()
        call = _OpenCall(
            tool_name=tool_name,
            tool_id=tool_id if isinstance(tool_id, str) else None,
            sequence_number=event.get("sequence_number"),
            event_id=event.get("event_id"),
            called_at=event.get("timestamp_wall"),
            called_us=timestamp_microseconds(event.get("timestamp_wall")),
            args_logged=args_logged,
            args=args,
        )
        self._calls.append(call)
        if call.tool_id is not None:
            self._by_id[call.tool_id] = call
        self._by_name.setdefault(tool_name, deque()).append(call)
        self._open.append(call)

    def _first_open(self, tool_name: str) -> _OpenCall | None:
        queue = self._by_name.get(tool_name)
        while queue and queue[0].answered:
            queue.popleft()
        return queue[0] if queue else None

    def _latest_open(self, tool_name: str | None) -> _OpenCall | None:
        # Answered calls are dropped lazily from whichever end is being looked at, so each
        # call is skipped at most once per end and pairing stays linear.
        stack = self._by_name.get(tool_name) if tool_name is not None else self._open
        while stack and stack[-1].answered:
            stack.pop()
        return stack[-1] if stack else None

    def _answer(self, event: Mapping[str, Any], *, error: bool) -> None:
        payload = event.get("payload")
        if not isinstance(payload, Mapping):
            # Withheld answer: only a withheld call can be matched without knowing the tool.
            call = self._first_open(WITHHELD_TOOL)
            status = STATUS_WITHHELD
        else:
            call = None
            tool_id = payload.get("tool_id")
            if isinstance(tool_id, str):
                candidate = self._by_id.get(tool_id)
                if candidate is not None and not candidate.answered:
                    call = candidate
            tool_name = payload.get("tool_name")
            tool_name = tool_name if isinstance(tool_name, str) else None
            if call is None:
                if error:
                    call = self._latest_open(tool_name)
                elif tool_name is not None:
                    call = self._first_open(tool_name)
            if error or payload.get("status") != STATUS_SUCCESS:
                status = STATUS_ERROR
            else:
                status = STATUS_SUCCESS
        if call is None:
            if not error and isinstance(event.get("sequence_number"), int):
                self._unmatched.append(event["sequence_number"])
            return
        call.answered = True
        call.status = status
        call.result_sequence_number = event.get("sequence_number")
        call.result_event_id = event.get("event_id")
        call.result_at = event.get("timestamp_wall")
        result_us = timestamp_microseconds(call.result_at)
        if result_us is not None and call.called_us is not None:
            call.duration_ms = (result_us - call.called_us) / 1000

    def audit(self) -> ToolAudit:
        records = tuple(
            ToolCallRecord(
                tool_name=call.tool_name,
                tool_id=call.tool_id,
                call_sequence_number=call.sequence_number,
                call_event_id=call.event_id,
                called_at=call.called_at,
                result_sequence_number=call.result_sequence_number,
                result_event_id=call.result_event_id,
                result_at=call.result_at,
                duration_ms=call.duration_ms,
                status=call.status,
                args_logged=call.args_logged,
                args=call.args,
            )
            for call in self._calls
        )
        return ToolAudit(
            calls=records,
            totals=_totals(records),
            unmatched_results=tuple(self._unmatched),
        )


def _totals(records: Iterable[ToolCallRecord]) -> tuple[ToolTotals, ...]:
    grouped: dict[str, list[ToolCallRecord]] = {}
    for record in records:
        grouped.setdefault(record.tool_name, []).append(record)
    totals = []
    for tool_name in sorted(grouped):
        calls = grouped[tool_name]
        durations = [c.duration_ms for c in calls if c.duration_ms is not None]
        total = round(sum(durations), 3)
        totals.append(
            ToolTotals(
                tool_name=tool_name,
                calls=len(calls),
                successes=sum(c.status == STATUS_SUCCESS for c in calls),
                errors=sum(c.status == STATUS_ERROR for c in calls),
                unanswered=sum(c.status == STATUS_NO_RESULT for c in calls),
                total_duration_ms=total,
                avg_duration_ms=round(total / len(durations), 3) if durations else None,
            )
        )
    return tuple(totals)


def tool_audit(
    *, events: Iterable[Mapping[str, Any]], scanner: PiiScanner | None = None
) -> ToolAudit:
    """The tool-access audit of a session's events (in sequence order)."""
    auditor = ToolAuditor(scanner=scanner or scanner_build())
    for event in events:
        auditor.add(event)
    return auditor.audit()
