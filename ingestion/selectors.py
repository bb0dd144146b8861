"""Reads of sessions and their stored events."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Case, F, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from . import rows
from .errors import session_not_found
from .models import (
    ENVELOPE_COLUMNS,
    ApiKey,
    Event,
    Project,
    Session,
    Verification,
    envelopes_from_rows,
)

_STREAM_CHUNK = 2000


def session_uuid(session_id: uuid.UUID | str) -> uuid.UUID:
    """The id a client named, or SESSION_NOT_FOUND when it cannot be a session id at all."""
    if isinstance(session_id, uuid.UUID):
        return session_id
    try:
        return uuid.UUID(session_id)
    except ValueError:
        raise session_not_found() from None


@functools.cache
def _api_key_sql(alias: str) -> str:
    # Only identifiers of the models, quoted by the backend, are formatted in; the prefix is
    # a parameter.
    return (
        f"SELECT {rows.columns(ApiKey, alias, table='k')},"  # noqa: S608
        f" {rows.columns(Project, alias, table='p')}"
        f" FROM {rows.table(ApiKey, alias)} k JOIN {rows.table(Project, alias)} p"
        f" ON p.{rows.column(Project, 'pk', alias)} = k.{rows.column(ApiKey, 'project', alias)}"
        f" WHERE k.{rows.column(ApiKey, 'prefix', alias)} = %s"
    )


def api_key_by_prefix(prefix: str) -> ApiKey | None:
    """The API key with this prefix (the prefix is unique), its project loaded with it; every
    request that carries a key asks this, hence one statement written once (``rows``)."""
    alias = connection.alias
    with connection.cursor() as cursor:
        cursor.execute(_api_key_sql(alias), [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    api_key = rows.instance(ApiKey, alias, row)
    api_key.project = rows.instance(Project, alias, row, rows.width(ApiKey, alias))
    return api_key


def session_get(
    *, project: Project, session_id: uuid.UUID | str, latest_verification: bool = False
) -> Session:
    """The project's session, or SESSION_NOT_FOUND (also for another project's session);
    with ``latest_verification``, annotated as ``sessions_with_latest_verification`` does."""
    sessions = Session.objects.filter(pk=session_uuid(session_id), project=project)
    if latest_verification:
        sessions = sessions_with_latest_verification(sessions)
    found = sessions.first()
    if found is None:
        raise session_not_found()
    return found


# The verdict a reader is shown is the latest verification's, not the one frozen on the
# sealed session's row: a change to the stored events found after the seal must show. An
# open session has no evidence class yet, whatever a check of its events so far said.
LATEST_VERIFICATION_FIELDS = ("status", "evidence_class", "verified_at", "trigger")


def sessions_with_latest_verification(sessions: QuerySet[Session]) -> QuerySet[Session]:
    """The sessions annotated with their latest verification, as columns of the same query
    (one index lookup per row on (session, -verified_at, -id), no query per row):
    ``latest_verification_<field>`` for each of LATEST_VERIFICATION_FIELDS (None when never
    verified), and ``current_evidence_class``: None while the session is open, otherwise the
    latest verification's class (FAILED when it failed)."""
    latest = Verification.objects.filter(session=OuterRef("pk")).order_by("-verified_at", "-pk")
    columns = {
        f"latest_verification_{name}": Subquery(latest.values(name)[:1])
        for name in LATEST_VERIFICATION_FIELDS
    }
    return sessions.annotate(
        **columns,
        current_evidence_class=Case(
            When(sealed_at__isnull=True, then=Value(None)),
            # The seal writes the first row; the session's own column only answers for a
            # row the history lacks.
            default=Coalesce(Subquery(latest.values("evidence_class")[:1]), F("evidence_class")),
        ),
    )


def session_latest_verification(*, session: Session) -> Verification | None:
    return Verification.objects.filter(session=session).order_by("-verified_at", "-pk").first()


def session_current_evidence_class(*, session: Session, latest: Verification | None) -> str | None:
    """``current_evidence_class`` (above) of one session already read with its latest
    verification: the same rule, without a query."""
    if not session.sealed:
        return None
    return session.evidence_class if latest is None else latest.evidence_class


def sessions_for_project(
    *,
    project: Project | None,
    agent_id: str | None = None,
    sealed: bool | None = None,
    evidence_class: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    session_ids: Sequence[uuid.UUID] | None = None,
    newest_first: bool = True,
) -> QuerySet[Session]:
    """The sessions matching every filter given (``project=None``: all projects), with their
    project, annotated with their latest verification: the one filter of session lists, the
    API's and ``manage.py export_sessions``'.

    ``evidence_class`` filters on the class a reader is shown (``current_evidence_class``),
    not on the one frozen at seal time: a session whose chain fails a later verification is
    listed as FAILED. ``created_after`` is inclusive, ``created_before`` exclusive. Newest
    first, or oldest first (a stable order for bulk runs).
    """
    sessions = sessions_with_latest_verification(Session.objects.select_related("project"))
    if project is not None:
        sessions = sessions.filter(project=project)
    if agent_id is not None:
        sessions = sessions.filter(agent_id=agent_id)
    if sealed is not None:
        sessions = sessions.filter(sealed_at__isnull=not sealed)
    if evidence_class is not None:
        sessions = sessions.filter(current_evidence_class=evidence_class)
    if created_after is not None:
        sessions = sessions.filter(created_at__gte=created_after)
    if created_before is not None:
        sessions = sessions.filter(created_at__lt=created_before)
    if session_ids is not None:
        sessions = sessions.filter(pk__in=list(session_ids))
    if newest_first:
        return sessions.order_by("-created_at", "-pk")
    return sessions.order_by("created_at", "pk")


# A walk over the index on (project, agent_id, -created_at): each step finds the next
# (project, agent id) pair after the one before by one descent of the index, however many
# sessions each agent has: the next agent of the same project, or else the first of the next
# project. One statement for every project, on both databases (WITH RECURSIVE; no LATERAL,
# which SQLite lacks, and no row-value comparison, which SQLite does not seek in an index).
_AGENT_PAIRS = """
WITH RECURSIVE pairs(project_id, agent_id) AS (
    SELECT project_id, agent_id FROM (
        SELECT project_id, agent_id FROM ingestion_session ORDER BY project_id, agent_id LIMIT 1
    ) AS first_pair
    UNION ALL
    SELECT s.project_id, s.agent_id FROM pairs JOIN ingestion_session AS s ON s.id = COALESCE(
        (SELECT id FROM ingestion_session
         WHERE project_id = pairs.project_id AND agent_id > pairs.agent_id
         ORDER BY agent_id LIMIT 1),
        (SELECT id FROM ingestion_session WHERE project_id > pairs.project_id
         ORDER BY project_id, agent_id LIMIT 1)
    )
)
SELECT agent_id, project_id FROM pairs
"""


def agent_ids_by_project() -> list[tuple[str, Any]]:
    """Every (agent id, project id) pair that has a session, ordered by project, then agent.

    ``SELECT DISTINCT`` reads every session (36 ms at 200,000 sessions, and growing with
    them); this reads the index once per pair instead."""
    with connection.cursor() as cursor:
        cursor.execute(_AGENT_PAIRS)
        return [tuple(row) for row in cursor.fetchall()]


def _events(session: Session) -> QuerySet[Event]:
    return Event.objects.filter(session=session).order_by("sequence_number")


def session_chain_through(
    *, session: Session, last_sequence: int | None = None
) -> Iterator[tuple[dict[str, Any], str | None]]:
    """(envelope, stored canonical payload text) of each stored event up to ``last_sequence``
    (every stored event with None), in sequence order, streamed from the database.

    One query; rows are fetched in chunks, so a long session is never held in memory at
    once. Bounding the read by the head seen when an export began keeps one export to one
    chain, even while a producer is still appending to an unsealed session.
    """
    events = _events(session)
    if last_sequence is not None:
        events = events.filter(sequence_number__lte=last_sequence)
    rows = events.values_list(*ENVELOPE_COLUMNS).iterator(chunk_size=_STREAM_CHUNK)
    return envelopes_from_rows(rows, session_id=str(session.pk))


def session_envelopes(
    *, session: Session, last_sequence: int | None = None
) -> Iterator[dict[str, Any]]:
    """The stored envelopes of ``session_chain_through``, without the payload texts."""
    for envelope, _ in session_chain_through(session=session, last_sequence=last_sequence):
        yield envelope


def session_envelopes_page(*, session: Session, after: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` envelopes whose sequence number is greater than ``after``."""
    rows = _events(session).filter(sequence_number__gt=after).values_list(*ENVELOPE_COLUMNS)
    return [e for e, _ in envelopes_from_rows(rows[:limit], session_id=str(session.pk))]


def session_seal_envelope(*, session: Session) -> dict[str, Any] | None:
    """The CHAIN_SEAL of a sealed session (always its last event), or None."""
    if not session.sealed:
        return None
    return Event.objects.get(session=session, sequence_number=session.head_sequence).envelope()
