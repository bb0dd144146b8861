"""Sessions: starting one, and the row lock every write of a session takes."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils.module_loading import import_string

from .. import rows
from ..errors import IngestionError, session_not_found
from ..models import Project, Session


def session_start(
    *,
    project: Project,
    agent_id: str,
    metadata: dict[str, Any] | None = None,
    session_id: uuid.UUID | None = None,
) -> tuple[Session, bool]:
    """Create a session, or return the project's existing one with that id (``created`` False).

    Starting is idempotent so that a producer can retry it: an existing session is returned
    unchanged (the first start's agent_id and metadata stand). An id already used by another
    project raises SESSION_CONFLICT (409): the id cannot be created, and the answer reveals
    nothing about the other session.
    """
    fields = {"project": project, "agent_id": agent_id, "metadata": metadata or {}}
    if session_id is None:
        return Session.objects.create(**fields), True
    with transaction.atomic():
        session, created = Session.objects.get_or_create(id=session_id, defaults=fields)
    if session.project_id != project.pk:
        raise IngestionError(
            "SESSION_CONFLICT", "this session id is already in use", status=409, details={}
        )
    return session, created


def locked_session(pk: uuid.UUID, project: Project | None = None) -> Session:
    """The session row, re-read and locked until the transaction ends.

    Only the session row is locked, so that sessions of one project never wait for each other.
    Its project comes along for batch checks and seal hooks: the caller's instance when it
    names one (then SESSION_NOT_FOUND unless the session is that project's), else read in
    the same query.
    """
    if project is None:
        return Session.objects.select_related("project").select_for_update(of=("self",)).get(pk=pk)
    # Every appended batch runs this: one statement written once (``rows``), the same
    # SELECT ... FOR UPDATE as ``select_for_update().get(pk=pk, project=project)``.
    alias = connection.alias
    with connection.cursor() as cursor:
        cursor.execute(
            _project_session_locked_sql(alias),
            [rows.db_value(Session, "id", pk, alias), project.pk],
        )
        row = cursor.fetchone()
    if row is None:
        raise session_not_found()
    locked = rows.instance(Session, alias, row)
    locked.project = project
    return locked


@functools.cache
def _project_session_locked_sql(alias: str) -> str:
    lock = " FOR UPDATE" if connections[alias].features.has_select_for_update else ""
    # Only identifiers of the model, quoted by the backend, are formatted in (also below).
    return (
        f"SELECT {rows.columns(Session, alias)} FROM {rows.table(Session, alias)}"  # noqa: S608
        f" WHERE {rows.column(Session, 'pk', alias)} = %s"
        f" AND {rows.column(Session, 'project', alias)} = %s{lock}"
    )


# What appending a batch changes in the session's row.
HEAD_FIELDS = (
    "head_sequence",
    "head_hash",
    "event_count",
    "total_drops",
    "has_session_end",
    "last_event_at",
)


@functools.cache
def _head_update_sql(alias: str) -> str:
    assignments = ", ".join(f"{rows.column(Session, name, alias)} = %s" for name in HEAD_FIELDS)
    table, pk = rows.table(Session, alias), rows.column(Session, "pk", alias)
    return f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608


def session_head_save(session: Session) -> None:
    """Write the session's ``HEAD_FIELDS`` (``save(update_fields=HEAD_FIELDS)``, as one
    statement written once: every appended batch runs it)."""
    alias = connection.alias
    params = [rows.db_value(Session, name, getattr(session, name), alias) for name in HEAD_FIELDS]
    params.append(rows.db_value(Session, "id", session.pk, alias))
    with connection.cursor() as cursor:
        cursor.execute(_head_update_sql(alias), params)


def copy_state(source: Session, target: Session) -> None:
    """Bring the caller's instance up to date with the row the service wrote."""
    if source is not target:
        for field in Session._meta.concrete_fields:
            setattr(target, field.attname, getattr(source, field.attname))


def configured_callables(setting: str) -> list[Callable[..., Any]]:
    return [import_string(path) for path in getattr(settings, setting, ())]
