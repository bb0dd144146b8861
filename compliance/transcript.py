"""A session as a reader follows it: the conversation and the tool calls, in words.

The timeline lists events as they were chained; a transcript tells what happened. Each entry
is one event put in words: a request to the model shows the messages it added to the
conversation (not the whole history again), a reply shows what the model said, a tool call
shows its arguments with its answer beside it, and errors, annotations and decisions read as
sentences.

Order: events of an SDK session are chained in the order the agent did things, so the
transcript keeps sequence order. An OpenTelemetry session is chained in the order its spans
arrived, which need not be the order they ran; its events are read by the span times the
mapping put in their timestamps (``ingestion.otlp.mapping``), the session's start first and
the service's seal last.

Every payload is shown through ``console.payload_for_reader``, as on the timeline: masked for
a reader without ``compliance.view_raw_payload``. An erased payload reads as erased, with
when and under which request. Tool calls are paired with their answers by the tool-access
audit's own rules (``policy.audit.ToolAuditor``), in sequence order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Case, IntegerField, Value, When

from ingestion.erasure_models import Erasure
from ingestion.models import Event, Session
from ingestion.otlp.services import SESSION_SOURCE as OTLP_SOURCE
from policy.audit import ToolAuditor
from policy.masking import text_shown
from policy.pii import PiiScanner
from policy.services import scanner_for_project

from . import selectors
from .console import findings_of_events, payload_for_reader
from .exports.erasures import erasure_note
from .formatting import wall_text
from .labels import EVENT_TYPES, MESSAGE_ROLES, TOOL_STATUSES

TRANSCRIPT_PAGE_SIZE = 100  # events per page of the transcript view
TEXT_CHARS = 4000  # of one text shown; the timeline and the exports hold it whole

#: Event types that answer a tool call (the tool-access audit's pairing).
ANSWERS = ("TOOL_RESULT", "ERROR")


@dataclass
class Said:
    """One part of an entry: who or what (``label``), and the text, prose or data."""

    label: str
    text: str
    data: bool = False  # structured values (JSON), shown in a monospace block


@dataclass
class Entry:
    sequence_number: int
    event_type: str
    kind: str  # CSS modifier: start, ask, reply, tool, answer, error, note, end, seal, other
    heading: str  # who acted, in a few words: "User and system → model gpt-4o"
    when: str  # the producer's clock, with its zone
    said: list[Said] = field(default_factory=list)
    note: str = ""  # a sentence under the entry ("Answered by event 5: succeeded in 120 ms")
    answer: Entry | None = None  # a tool call's answer, when it is shown with the call
    personal_data: int = 0  # values holding personal data in this payload
    erased: bool = False

    @property
    def type_label(self) -> str:
        return EVENT_TYPES.get(self.event_type, self.event_type)


@dataclass(frozen=True)
class Pairing:
    """Tool calls and their answers, by sequence number."""

    answer_of: Mapping[int, tuple[int, str, float | None]]  # call -> (answer, status, ms)
    call_of: Mapping[int, int]  # answer -> call

    @classmethod
    def from_events(cls, envelopes: Iterable[Mapping[str, Any]], scanner: PiiScanner) -> Pairing:
        """Pair the calls among ``envelopes`` (in sequence order) with their answers."""
        auditor = ToolAuditor(scanner=scanner)
        for envelope in envelopes:
            auditor.add(envelope)
        answer_of: dict[int, tuple[int, str, float | None]] = {}
        call_of: dict[int, int] = {}
        for call in auditor.audit().calls:
            if call.call_sequence_number is None or call.result_sequence_number is None:
                continue
            answer_of[call.call_sequence_number] = (
                call.result_sequence_number,
                call.status,
                call.duration_ms,
            )
            call_of[call.result_sequence_number] = call.call_sequence_number
        return cls(answer_of, call_of)


def is_otlp(session: Session) -> bool:
    return (session.metadata or {}).get("source") == OTLP_SOURCE


def reader_rank(event_type: Any) -> int:
    """The session's start first, the service's seal last, everything else by its time."""
    return 0 if event_type == "SESSION_START" else 2 if event_type == "CHAIN_SEAL" else 1


def reader_key(envelope: Mapping[str, Any], *, by_time: bool) -> tuple:
    """The place of an event in a transcript (``by_time`` for OpenTelemetry sessions)."""
    sequence = envelope.get("sequence_number")
    if not by_time:
        return (sequence,)
    stamp = envelope.get("timestamp_wall")
    return (reader_rank(envelope.get("event_type")), str(stamp or ""), sequence)


def order_sentence(session: Session) -> str:
    if is_otlp(session):
        return (
            "This session was sent as OpenTelemetry spans, which may arrive out of order: it "
            "reads in the order the spans ran (their start and end times), not the order the "
            "events were chained."
        )
    return "Events read in the order the agent recorded them (their sequence numbers)."


# --------------------------------------------------------------------------------------
# One event in words
# --------------------------------------------------------------------------------------


def _text(value: Any) -> tuple[str, bool]:
    """(a value as text, whether it is structured data)."""
    if isinstance(value, str):
        text, data = value, False
    else:
        text, data = json.dumps(value, indent=2, ensure_ascii=False), True
    if len(text) > TEXT_CHARS:
        text = text[:TEXT_CHARS] + f"… ({len(text) - TEXT_CHARS} more characters in the export)"
    return text, data


def _said(label: str, value: Any) -> Said:
    text, data = _text(value)
    return Said(label, text, data)


def _message_text(message: Any) -> Any:
    """A message's words: its ``content``, or the text of its ``parts`` (OpenTelemetry)."""
    if not isinstance(message, Mapping):
        return message
    if "content" in message:
        return message["content"]
    parts = message.get("parts")
    if isinstance(parts, list):
        texts = [
            str(part["content"])
            for part in parts
            if isinstance(part, Mapping) and isinstance(part.get("content"), str)
        ]
        if texts and len(texts) == len(parts):
            return "\n".join(texts)
        return parts
    return {key: value for key, value in message.items() if key != "role"}


def _role(message: Any) -> str:
    role = message.get("role") if isinstance(message, Mapping) else None
    if not isinstance(role, str):
        return "Message"
    return MESSAGE_ROLES.get(role.lower(), role)


def _ms(value: Any) -> str:
    from .formatting import duration_text

    if isinstance(value, int | float) and not isinstance(value, bool):
        return duration_text(value / 1000)
    return "an unknown time"


class _Words:
    """Puts events into words for one reader; remembers the conversation so far, so that a
    request shows only the messages it added."""

    def __init__(self, shown: Callable[[Any], str]) -> None:
        self.shown = shown
        self.conversation: list[Any] = []

    def entry(self, envelope: Mapping[str, Any], payload: Any) -> Entry:
        event_type = str(envelope.get("event_type"))
        entry = Entry(
            sequence_number=int(envelope.get("sequence_number") or 0),
            event_type=event_type,
            kind="other",
            heading=EVENT_TYPES.get(event_type, self.shown(event_type)),
            when=wall_text(self.shown(envelope.get("timestamp_wall"))),
        )
        if payload is None:
            entry.note = "The payload is withheld; its hash remains in the chain."
            return entry
        if not isinstance(payload, Mapping):
            entry.said.append(_said("Recorded", payload))
            return entry
        describe = getattr(self, "_" + event_type.lower(), None)
        if describe is None:
            entry.said.append(_said("Recorded", payload))
        else:
            describe(entry, payload)
        return entry

    def _named(self, value: Any, fallback: str = "unknown") -> str:
        return self.shown(value) if value not in (None, "") else fallback

    def _session_start(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        entry.kind = "start"
        entry.heading = f"Agent {self._named(payload.get('agent_id'))} started the session"
        facts = [
            f"{name} {self.shown(payload[name])}"
            for name in ("environment", "framework")
            if payload.get(name)
        ]
        if facts:
            entry.note = "Recorded with " + ", ".join(facts) + "."

    def _model_request(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        entry.kind = "ask"
        model = self._named(payload.get("model"))
        messages = payload.get("messages")
        if not isinstance(messages, list):
            entry.heading = f"Asked the model {model}"
            entry.note = (
                "Only a fingerprint of the prompt was recorded (prompt_hash), not its words."
            )
            return
        known = self.conversation
        repeated = len(known) if messages[: len(known)] == known and known else 0
        self.conversation = list(messages)
        new = messages[repeated:]
        speakers = sorted({_role(message) for message in new}) or ["No new message"]
        entry.heading = f"{' and '.join(speakers)} → model {model}"
        for message in new:
            entry.said.append(_said(_role(message), _message_text(message)))
        if repeated:
            entry.note = (
                f"The {repeated} earlier message{'s' if repeated != 1 else ''} of the "
                "conversation, sent again with this request, are not repeated here."
            )
        elif not new:
            entry.note = "The request carried no messages."

    def _model_response(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        entry.kind = "reply"
        model = self._named(payload.get("model"))
        entry.heading = f"Model {model} answered"
        content = payload.get("content")
        if content is None:
            entry.note = "Only a fingerprint of the answer was recorded (content_hash)."
        else:
            entry.said.append(_said("Model", content))
            self.conversation = [*self.conversation, {"role": "assistant", "content": content}]
        reason = payload.get("finish_reason")
        if reason:
            finished = f"It stopped because: {self.shown(reason)}."
            entry.note = f"{entry.note} {finished}".strip()

    def _tool_call(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        entry.kind = "tool"
        entry.heading = f"Called the tool {self._named(payload.get('tool_name'))}"
        if "args" in payload:
            entry.said.append(_said("Arguments", payload.get("args")))
        elif payload.get("args_hash"):
            entry.note = "Only a fingerprint of the arguments was recorded (args_hash)."

    def _tool_result(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        entry.kind = "answer"
        status = payload.get("status")
        outcome = TOOL_STATUSES.get(status, self._named(status)) if status else "Answered"
        entry.heading = f"The tool {self._named(payload.get('tool_name'))} answered: {outcome}"
        if "result" in payload:
            entry.said.append(_said("Result", payload.get("result")))
        elif payload.get("result_hash"):
            entry.note = "Only a fingerprint of the result was recorded (result_hash)."
        if payload.get("duration_ms") is not None:
            took = f"The tool reported taking {_ms(payload.get('duration_ms'))}."
            entry.note = f"{entry.note} {took}".strip()

    def _error(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        entry.kind = "error"
        fatal = payload.get("fatal") is True
        entry.heading = (
            f"{'Fatal error' if fatal else 'Error'}: {self._named(payload.get('error_type'))}"
        )
        if payload.get("message") is not None:
            entry.said.append(_said("Message", payload.get("message")))

    def _annotation(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        entry.kind = "note"
        kind = self._named(payload.get("annotation_type"), "note").capitalize()
        entry.heading = f"{kind} by {self._named(payload.get('annotator_id'))}"
        if payload.get("content") is not None:
            entry.said.append(_said("Note", payload.get("content")))

    def _decision_trace(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        entry.kind = "note"
        entry.heading = f"Decision {self._named(payload.get('decision_id'), '')}".strip()
        for key, label in (("justification", "Why"), ("chosen", "Chosen"), ("options", "Options")):
            if payload.get(key) is not None:
                entry.said.append(_said(label, payload.get(key)))

    def _log_drop(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        entry.kind = "error"
        entry.heading = (
            f"{self._named(payload.get('dropped_count'), 'Some')} events were lost "
            f"({self._named(payload.get('drop_reason'))})"
        )

    def _agent_state_snapshot(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        entry.heading = "The agent recorded its state"
        entry.said.append(_said("State", dict(payload)))

    def _session_end(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        entry.kind = "end"
        entry.heading = f"The session ended: {self._named(payload.get('status'))}"
        if payload.get("duration_ms") is not None:
            entry.note = f"The agent reported a run time of {_ms(payload.get('duration_ms'))}."

    def _chain_seal(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        entry.kind = "seal"
        entry.heading = (
            f"The service {self._named(payload.get('ingestion_service_id'))} sealed the session"
        )
        entry.note = f"It closed the chain at {self._named(payload.get('event_count'))} events."


def answer_note(status: str, milliseconds: float | None, answer: int) -> str:
    outcome = TOOL_STATUSES.get(status, status).lower()
    took = "" if milliseconds is None else f" after {_ms(milliseconds)}"
    return f"Answered by event {answer}: {outcome}{took}."


def entries_build(
    envelopes: Iterable[Mapping[str, Any]],
    *,
    scanner: PiiScanner,
    raw_allowed: bool,
    pairing: Pairing,
    erased: Mapping[int, str],
    stored: Callable[[int], list[tuple[str, str]] | None] = lambda sequence: None,
) -> list[Entry]:
    """The entries of ``envelopes`` (fresh copies, in reader order): each payload through
    ``payload_for_reader``, an answer shown under its call when both are among them."""

    def shown(value: Any) -> str:
        return text_shown(value, raw_allowed=raw_allowed, scanner=scanner)

    words = _Words(shown)
    entries: list[Entry] = []
    by_sequence: dict[int, Entry] = {}
    for envelope in envelopes:
        sequence = envelope.get("sequence_number")
        sequence = sequence if isinstance(sequence, int) else -1
        event_type = str(envelope.get("event_type"))
        if sequence in erased:
            entry = Entry(
                sequence_number=sequence,
                event_type=event_type,
                kind="erased",
                heading=EVENT_TYPES.get(event_type, shown(event_type)),
                when=wall_text(shown(envelope.get("timestamp_wall"))),
                note=f"{erased[sequence][:1].upper()}{erased[sequence][1:]}: nothing of it is "
                "left to show.",
                erased=True,
            )
        else:
            payload, personal = payload_for_reader(
                event_type=event_type,
                payload=envelope.get("payload"),
                stored=stored(sequence),
                scanner=scanner,
                raw_allowed=raw_allowed,
            )
            entry = words.entry(envelope, payload)
            entry.personal_data = personal
        by_sequence[sequence] = entry
        call = by_sequence.get(pairing.call_of.get(sequence, -1))
        if event_type in ANSWERS and call is not None and call.answer is None:
            call.answer = entry
            continue
        if sequence in pairing.answer_of:
            answer, status, took = pairing.answer_of[sequence]
            entry.note = f"{entry.note} {answer_note(status, took, answer)}".strip()
        elif event_type == "TOOL_CALL":
            entry.note = f"{entry.note} No answer was recorded.".strip()
        if sequence in pairing.call_of:
            entry.note = (
                f"{entry.note} This answers the call at event {pairing.call_of[sequence]}."
            ).strip()
        entries.append(entry)
    return entries


# --------------------------------------------------------------------------------------
# The transcript view
# --------------------------------------------------------------------------------------


@dataclass
class Transcript:
    session: Session
    entries: list[Entry]
    page: Page
    raw_allowed: bool
    order: str  # how the entries are ordered, in a sentence
    agent_id: str
    project_name: str


def reader_ordered(session: Session):
    """The session's events in transcript order, as a queryset."""
    events = Event.objects.filter(session=session)
    if not is_otlp(session):
        return events.order_by("sequence_number")
    rank = Case(
        When(event_type="SESSION_START", then=Value(0)),
        When(event_type="CHAIN_SEAL", then=Value(2)),
        default=Value(1),
        output_field=IntegerField(),
    )
    return events.annotate(reader_rank=rank).order_by(
        "reader_rank", "timestamp_wall", "sequence_number"
    )


def session_pairing(*, session: Session, scanner: PiiScanner) -> Pairing:
    """The session's tool calls paired with their answers (reads only those events)."""
    events = (
        Event.objects.filter(session=session, event_type__in=("TOOL_CALL", *ANSWERS))
        .order_by("sequence_number")
        .iterator(chunk_size=500)
    )
    return Pairing.from_events((event.envelope() for event in events), scanner)


def session_transcript(
    *,
    session: Session,
    page_number: Any,
    raw_allowed: bool,
    page_size: int = TRANSCRIPT_PAGE_SIZE,
) -> Transcript:
    """One page of the session's transcript as ``raw_allowed`` (or not) shows it."""
    scanner = scanner_for_project(project=session.project)
    page = Paginator(reader_ordered(session), page_size).get_page(page_number)
    stored_events = list(page.object_list)
    numbers = [event.sequence_number for event in stored_events]
    covered, found = findings_of_events(selectors.session_findings_latest(session=session), numbers)
    erased = {
        row.sequence_number: erasure_note(erased_at=row.erased_at, request_ref=row.request_ref)
        for row in Erasure.objects.filter(session=session, sequence_number__in=numbers)
    }
    entries = entries_build(
        (event.envelope() for event in stored_events),
        scanner=scanner,
        raw_allowed=raw_allowed,
        pairing=session_pairing(session=session, scanner=scanner),
        erased=erased,
        stored=lambda sequence: found.get(sequence, []) if sequence < covered else None,
    )

    def shown(value: Any) -> str:
        return text_shown(value, raw_allowed=raw_allowed, scanner=scanner)

    return Transcript(
        session=session,
        entries=entries,
        page=page,
        raw_allowed=raw_allowed,
        order=order_sentence(session),
        agent_id=shown(session.agent_id),
        project_name=shown(session.project.name),
    )
