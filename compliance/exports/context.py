"""What one export is made from: the chain as it stood, its verification, its findings.

An ``ExportContext`` is built by ``compliance.services.export_context`` in a single pass over
the stored events. The events themselves are not kept in memory: their canonical bytes go to
a temporary spool file, from which each format copies them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Self

from ingestion.models import ApiKey, Session
from ingestion.services import Caller
from policy.models import Findings

from .. import statements
from ..models import ExportChannel
from .redaction import Redaction
from .timeline import Timeline

_SPOOL_BLOCK = 1 << 20


def rfc3339(moment: datetime | None) -> str | None:
    """A server time as RFC 3339 UTC with a literal Z, as the seal writes its own time."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Actor(Caller):
    """Who asked for an export, and through which channel (the ledger records both)."""

    channel: str = ExportChannel.API.value

    @classmethod
    def for_api_key(cls, api_key: ApiKey, **extra: Any) -> Self:
        return super().for_api_key(api_key, channel=ExportChannel.API.value, **extra)

    @classmethod
    def for_user(cls, user: Any, *, channel: str = ExportChannel.ADMIN.value) -> Self:
        return super().for_user(user, channel=channel)

    @classmethod
    def for_command(cls, command: str, *, operator: str) -> Self:
        return super().for_command(command, operator=operator, channel=ExportChannel.COMMAND.value)


@dataclass
class ChainStats:
    """What a pass over the chain learns besides its verification."""

    counts: Counter[str] = field(default_factory=Counter)
    first_wall: str | None = None
    last_wall: str | None = None
    start: Mapping[str, Any] | None = None  # SESSION_START payload
    end: Mapping[str, Any] | None = None  # SESSION_END payload
    seal: Mapping[str, Any] | None = None  # the CHAIN_SEAL envelope
    authority_ids: set[str] = field(default_factory=set)
    errors: int = 0
    fatal_errors: int = 0
    last_sequence: int | None = None
    last_hash: str | None = None

    def add(self, event: Mapping[str, Any]) -> None:
        event_type = event.get("event_type")
        payload = event.get("payload")
        self.counts[str(event_type)] += 1
        self.last_sequence = event.get("sequence_number")
        self.last_hash = event.get("event_hash")
        if event_type == "CHAIN_SEAL":
            self.seal = event
            return  # the service's own event: not part of the agent's time span
        wall = event.get("timestamp_wall")
        if isinstance(wall, str):
            self.first_wall = self.first_wall or wall
            self.last_wall = wall
        authority = event.get("authority_id")
        if isinstance(authority, str):
            self.authority_ids.add(authority)
        if not isinstance(payload, Mapping):
            return
        if event_type == "SESSION_START":
            self.start = payload
        elif event_type == "SESSION_END":
            self.end = payload
        elif event_type == "ERROR":
            self.errors += 1
            self.fatal_errors += payload.get("fatal") is True


@dataclass
class ExportContext:
    session: Session
    exported_at: datetime
    report: dict[str, Any]  # spec §7, of exactly the events below
    stats: ChainStats
    findings: Findings | None
    findings_problem: str | None  # why there are no findings
    ingestion: dict[str, Any]  # selectors.session_ingestion_facts
    timeline: Timeline | None  # one row per event, when a PDF will be made
    spool: IO[bytes]  # canonical events separated by b"\n" (no newline after the last)
    # Sequence numbers of events whose stored payload RFC 8785 cannot represent (possible
    # only if it was altered behind the service's back): exported with "payload": null.
    payloads_not_exported: tuple[int, ...] = ()
    # A masked export (for a reader without compliance.view_raw_payload): what it withheld.
    redaction: Redaction | None = None
    # The session's agent id and metadata as this export shows them (masked when redacted).
    agent_id: str = ""
    metadata: Any = None

    @property
    def sealed(self) -> bool:
        return self.stats.seal is not None

    @property
    def redacted(self) -> bool:
        return self.redaction is not None

    @property
    def no_events(self) -> bool:
        """A session that was started and never received an event (not a failure)."""
        return statements.session_without_events(
            head_sequence=self.session.head_sequence, events_read=self.event_total
        )

    @property
    def event_total(self) -> int:
        """Envelopes in the export, the seal included."""
        return sum(self.stats.counts.values())

    def event_chunks(self, separator: bytes) -> Iterator[bytes]:
        """The canonical events, joined by ``separator``, in blocks of about a megabyte.

        Canonical JSON never holds a raw newline (it is escaped inside strings), so every
        b"\\n" in the spool is a separator and can be replaced blindly.
        """
        self.spool.seek(0)
        while block := self.spool.read(_SPOOL_BLOCK):
            yield block if separator == b"\n" else block.replace(b"\n", separator)
