"""Reads of sessions and their stored events."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from .errors import session_not_found
from .models import Event, Project, Session

_STREAM_CHUNK = 1000


def session_uuid(session_id: uuid.UUID | str) -> uuid.UUID:
    """The id a client named, or SESSION_NOT_FOUND when it cannot be a session id at all."""
    if isinstance(session_id, uuid.UUID):
        return session_id
    try:
        return uuid.UUID(session_id)
    except ValueError:
        raise session_not_found() from None


def session_get(*, project: Project, session_id: uuid.UUID | str) -> Session:
    """The project's session, or SESSION_NOT_FOUND (also for another project's session)."""
    found = Session.objects.filter(pk=session_uuid(session_id), project=project).first()
    if found is None:
        raise session_not_found()
    return found


def sessions_for_project(
    *,
    project: Project | None,
    agent_id: str | None = None,
    sealed: bool | None = None,
    evidence_class: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Session]:
    """Sessions newest first, filtered by whatever is given (``project=None``: all projects)."""
    sessions = Session.objects.all()
    if project is not None:
        sessions = sessions.filter(project=project)
    if agent_id is not None:
        sessions = sessions.filter(agent_id=agent_id)
    if sealed is not None:
        sessions = sessions.filter(sealed_at__isnull=not sealed)
    if evidence_class is not None:
        sessions = sessions.filter(evidence_class=evidence_class)
    if created_after is not None:
        sessions = sessions.filter(created_at__gte=created_after)
    if created_before is not None:
        sessions = sessions.filter(created_at__lt=created_before)
    return sessions.order_by("-created_at", "-pk")


def _events(session: Session) -> QuerySet[Event]:
    return Event.objects.filter(session=session).order_by("sequence_number")


def session_envelopes(*, session: Session) -> Iterator[dict[str, Any]]:
    """Every stored envelope of the session in sequence order, streamed from the database.

    One query; rows are fetched in chunks, so a long session is never held in memory at once.
    """
    for event in _events(session).iterator(chunk_size=_STREAM_CHUNK):
        yield event.envelope()


def session_envelopes_page(*, session: Session, after: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` envelopes whose sequence number is greater than ``after``."""
    return [e.envelope() for e in _events(session).filter(sequence_number__gt=after)[:limit]]


def session_seal_envelope(*, session: Session) -> dict[str, Any] | None:
    """The CHAIN_SEAL of a sealed session (always its last event), or None."""
    if not session.sealed:
        return None
    return Event.objects.get(session=session, sequence_number=session.head_sequence).envelope()
