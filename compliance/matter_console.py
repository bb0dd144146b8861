"""What the console shows of matters: the panel of a session page and a matter's own page.

Reads only; the writes are ``compliance.matters``'. Agent ids are shown as the reader may see
them (masked without ``compliance.view_raw_payload``), as everywhere in the console; matter
names and notes are the reviewers' own words and are shown as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingestion.models import Session

from . import matters
from .console import reader_for
from .matter_models import Matter, MatterSession, Note

VIEW_MATTER = "compliance.view_matter"
ADD_MATTER = "compliance.add_matter"
TAG = "compliance.add_mattersession"
ADD_NOTE = "compliance.add_note"
VIEW_NOTE = "compliance.view_note"
VIEW_SESSION = "ingestion.view_session"

#: Shown beside every list of notes and beside the note form.
NOTES_APPEND_ONLY = (
    "Notes are kept as written: a note cannot be edited or deleted, by anyone. "
    "Write a new note to correct or add to an earlier one."
)
UNTAG_KEPT = (
    "Taking a session out of a matter is recorded too: the history below keeps every tag "
    "and untag, with who did it and when."
)


@dataclass(frozen=True)
class Allowed:
    """What a user may do with matters, from their permissions."""

    view: bool
    open_matter: bool
    tag: bool
    read_notes: bool
    note: bool
    export: bool

    @classmethod
    def for_user(cls, user: Any) -> Allowed:
        view = user.has_perm(VIEW_MATTER)
        return cls(
            view=view,
            open_matter=view and user.has_perm(ADD_MATTER),
            tag=view and user.has_perm(TAG) and user.has_perm(VIEW_SESSION),
            read_notes=user.has_perm(VIEW_NOTE),
            note=user.has_perm(VIEW_NOTE) and user.has_perm(ADD_NOTE),
            export=view and user.has_perm(VIEW_SESSION),
        )


@dataclass
class SessionMattersPanel:
    """The "Matters and notes" section of a session page."""

    tags: list[MatterSession]
    notes: list[Note]
    allowed: Allowed
    matter_names: list[str] = field(default_factory=list)  # offered by the tag form
    notes_rule: str = NOTES_APPEND_ONLY


def session_panel(*, session: Session, user: Any) -> SessionMattersPanel:
    allowed = Allowed.for_user(user)
    tags = list(matters.session_matters(session=session)) if allowed.view else []
    notes = list(matters.notes_of(session=session)) if allowed.read_notes else []
    names: list[str] = []
    if allowed.tag:
        inside = {tag.matter_id for tag in tags}
        names = [
            name
            for pk, name in Matter.objects.order_by("name").values_list("pk", "name")[:500]
            if pk not in inside
        ]
    return SessionMattersPanel(tags=tags, notes=notes, allowed=allowed, matter_names=names)


@dataclass(frozen=True)
class MatterSessionRow:
    tag: MatterSession
    session: Session
    agent_id: str  # as the reader may see it


@dataclass
class MatterPage:
    matter: Matter
    rows: list[MatterSessionRow]
    notes: list[Note]
    history: list[MatterSession]
    allowed: Allowed
    events_total: int
    notes_rule: str = NOTES_APPEND_ONLY
    untag_rule: str = UNTAG_KEPT
    export_limit: int = matters.MATTER_EXPORT_MAX_SESSIONS


def matter_page(*, matter: Matter, user: Any) -> MatterPage:
    reader = reader_for(user)
    allowed = Allowed.for_user(user)
    rows = [
        MatterSessionRow(
            tag=tag,
            session=tag.session,
            agent_id=reader.text(tag.session.agent_id, project=tag.session.project),
        )
        for tag in matters.matter_sessions(matter=matter)
    ]
    return MatterPage(
        matter=matter,
        rows=rows,
        notes=list(matters.notes_of(matter=matter)) if allowed.read_notes else [],
        history=list(matters.matter_history(matter=matter)),
        allowed=allowed,
        events_total=sum(row.session.event_count for row in rows),
    )
