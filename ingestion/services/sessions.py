"""Sessions: starting one, and the row lock every write of a session takes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

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
    try:
        locked = Session.objects.select_for_update().get(pk=pk, project=project)
    except Session.DoesNotExist:
        raise session_not_found() from None
    locked.project = project
    return locked


def copy_state(source: Session, target: Session) -> None:
    """Bring the caller's instance up to date with the row the service wrote."""
    if source is not target:
        for field in Session._meta.concrete_fields:
            setattr(target, field.attname, getattr(source, field.attname))


def configured_callables(setting: str) -> list[Callable[..., Any]]:
    return [import_string(path) for path in getattr(settings, setting, ())]
