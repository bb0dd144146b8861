"""Matters (cases): opening one, tagging sessions with it, reviewers' notes, exporting it.

Every write appends a row (``compliance.matter_models``): a matter is never renamed, a tag is
taken back by an untag row, a note is never edited. Refusals are ``MatterError`` with a
stable code, for the console's messages and the command's errors:

=========================  ======  ======================================================
code                       status  raised when
=========================  ======  ======================================================
MATTER_NAME_INVALID        400     the name is empty, too long, or has control characters
MATTER_DESCRIPTION_INVALID 400     the description is too long
MATTER_EXISTS              409     a matter of that name exists (whatever the case)
MATTER_NOT_FOUND           404     no matter of that name or id
SESSION_NOT_FOUND          404     no such session (``ingestion.errors.session_not_found``)
MATTER_ALREADY_TAGGED      409     the session is in the matter already
MATTER_NOT_TAGGED          409     untagging a session that is not in the matter
MATTER_REASON_INVALID      400     an untag reason too long
NOTE_INVALID               400     a note empty, too long, or on neither/both subjects
MATTER_EMPTY               409     exporting a matter that holds no session
MATTER_EXPORT_TOO_LARGE    413     a console export above the bound (use the command)
=========================  ======  ======================================================

A matter's export is the zip of several sessions the console already makes
(``compliance.exports.archive``): each session's compliance JSON made by the one export
service and entered in the export ledger, and the RFC 8785 ``manifest.json`` of
``compliance.services.export_manifest_write`` with the matter added to it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.text import slugify

from ingestion.errors import IngestionError, session_not_found
from ingestion.models import Session

from .exports import archive
from .exports.context import Actor, rfc3339
from .matter_models import (
    MATTER_DESCRIPTION_MAX,
    MATTER_NAME_MAX,
    NOTE_TEXT_MAX,
    REASON_MAX,
    Matter,
    MatterSession,
    MatterTagAction,
    Note,
)
from .models import ExportFormat

#: What a matter's zip holds of each session: the compliance JSON, which verifies offline.
MATTER_EXPORT_FORMATS = (ExportFormat.JSON.value,)
#: A console export is made while the request waits: at most this many sessions, and no more
#: events in all than one inline JSON export may hold (AGENTOPS_EXPORT_INLINE_MAX_EVENTS).
#: Larger matters: ``manage.py export_matter``, which has no bound.
MATTER_EXPORT_MAX_SESSIONS = 100

# Control characters (newlines, tabs included) have no place in a name shown on one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class MatterError(IngestionError):
    """A refusal of this module: a stable ``code``, a ``message`` for people."""


def _refuse(code: str, message: str, status: int = 400, **details: Any) -> MatterError:
    return MatterError(code, message, status=status, details=details)


def _username(user: Any) -> str:
    return str(user.get_username())[:150]


# --------------------------------------------------------------------------------------
# Matters
# --------------------------------------------------------------------------------------


def matter_name_clean(name: Any) -> str:
    """The name as stored: surrounding spaces removed, inner runs of spaces made one."""
    if not isinstance(name, str):
        raise _refuse("MATTER_NAME_INVALID", "a matter needs a name")
    if _CONTROL.search(name):
        raise _refuse("MATTER_NAME_INVALID", "a matter name is one line of text")
    cleaned = re.sub(r" {2,}", " ", name.strip())
    if not cleaned:
        raise _refuse("MATTER_NAME_INVALID", "a matter needs a name")
    if len(cleaned) > MATTER_NAME_MAX:
        raise _refuse(
            "MATTER_NAME_INVALID", f"a matter name has at most {MATTER_NAME_MAX} characters"
        )
    return cleaned


def matter_create(*, name: Any, user: Any, description: Any = "") -> Matter:
    """Open a matter. Names are unique whatever their case ("Acme v. Beta" and
    "ACME V. BETA" are one matter); the database's unique index settles a race."""
    cleaned = matter_name_clean(name)
    description = "" if description is None else str(description).strip()
    if len(description) > MATTER_DESCRIPTION_MAX:
        raise _refuse(
            "MATTER_DESCRIPTION_INVALID",
            f"a description has at most {MATTER_DESCRIPTION_MAX} characters",
        )
    exists = _refuse("MATTER_EXISTS", f"a matter named {cleaned!r} exists already", 409)
    if Matter.objects.filter(name__iexact=cleaned).exists():
        raise exists
    try:
        with transaction.atomic():
            return Matter.objects.create(
                name=cleaned,
                description=description,
                created_by=user,
                created_by_name=_username(user),
            )
    except IntegrityError:
        # Another request opened it between the check and the insert (or the database's
        # lower() and Python's disagree on a non-ASCII letter): the index decides.
        raise exists from None


def matter_get(*, name: Any = None, pk: Any = None) -> Matter:
    """A matter by its name (any case) or its id; ``MATTER_NOT_FOUND`` otherwise."""
    query = Matter.objects.select_related("created_by")
    try:
        if pk is not None:
            return query.get(pk=int(pk))
        return query.get(name__iexact=matter_name_clean(name))
    except (Matter.DoesNotExist, ValueError, TypeError, MatterError):
        raise _refuse("MATTER_NOT_FOUND", "matter not found", 404) from None


def _latest_of_pair() -> Subquery:
    return Subquery(
        MatterSession.objects.filter(matter=OuterRef("matter"), session=OuterRef("session"))
        .order_by("-id")
        .values("id")[:1]
    )


def current_tags() -> QuerySet[MatterSession]:
    """The tag rows still in force: the latest row of their (matter, session) pair is them."""
    return MatterSession.objects.filter(id=_latest_of_pair(), action=MatterTagAction.TAG)


def matter_sessions(*, matter: Matter) -> QuerySet[MatterSession]:
    """The matter's sessions now, as their tag rows (session, who tagged it, when)."""
    return (
        current_tags()
        .filter(matter=matter)
        .select_related("session", "session__project")
        .order_by("session__created_at", "session_id")
    )


def session_matters(*, session: Session) -> QuerySet[MatterSession]:
    """The matters a session is in now, as their tag rows."""
    return (
        current_tags()
        .filter(session=session)
        .select_related("matter")
        .order_by("matter__name", "matter_id")
    )


def matter_history(*, matter: Matter) -> QuerySet[MatterSession]:
    """Every tag and untag of the matter, oldest first."""
    return matter.tag_events.select_related("session").order_by("id")


def _session_locked(session: Session | Any) -> Session:
    """The session row, locked until the end of the transaction: two reviewers tagging the
    same session at once are put one after the other, so the second sees the first's row.
    (The session row, not the matter's: the service's database role may lock a row only
    where it may update one, and matters are never updated.)"""
    session_id = session.pk if isinstance(session, Session) else session
    try:
        return Session.objects.select_for_update().get(pk=session_id)
    except (Session.DoesNotExist, ValueError, TypeError, ValidationError):
        raise session_not_found() from None


def _tagged(matter: Matter, session: Session) -> bool:
    latest = (
        MatterSession.objects.filter(matter=matter, session=session)
        .order_by("-id")
        .values_list("action", flat=True)
        .first()
    )
    return latest == MatterTagAction.TAG


def matter_session_tag(*, matter: Matter, session: Session | Any, user: Any) -> MatterSession:
    """Put a session in a matter; ``MATTER_ALREADY_TAGGED`` if it is in it now."""
    with transaction.atomic():
        locked = _session_locked(session)
        if _tagged(matter, locked):
            raise _refuse(
                "MATTER_ALREADY_TAGGED",
                f"the session is already in the matter {matter.name!r}",
                409,
            )
        return MatterSession.objects.create(
            matter=matter,
            session=locked,
            action=MatterTagAction.TAG,
            actor=user,
            actor_name=_username(user),
        )


def matter_session_untag(
    *, matter: Matter, session: Session | Any, user: Any, reason: Any = ""
) -> MatterSession:
    """Take a session out of a matter: a row of its own, so the tag stays on record."""
    reason = "" if reason is None else str(reason).strip()
    if len(reason) > REASON_MAX:
        raise _refuse("MATTER_REASON_INVALID", f"a reason has at most {REASON_MAX} characters")
    with transaction.atomic():
        locked = _session_locked(session)
        if not _tagged(matter, locked):
            raise _refuse(
                "MATTER_NOT_TAGGED", f"the session is not in the matter {matter.name!r}", 409
            )
        return MatterSession.objects.create(
            matter=matter,
            session=locked,
            action=MatterTagAction.UNTAG,
            actor=user,
            actor_name=_username(user),
            reason=reason,
        )


# --------------------------------------------------------------------------------------
# Notes
# --------------------------------------------------------------------------------------


def note_add(
    *, user: Any, text: Any, matter: Matter | None = None, session: Session | None = None
) -> Note:
    """A reviewer's note on a matter or on a session, attributed and kept as written."""
    if (matter is None) == (session is None):
        raise _refuse("NOTE_INVALID", "a note is on a matter or on a session")
    if not isinstance(text, str) or not text.strip():
        raise _refuse("NOTE_INVALID", "a note needs some text")
    text = text.strip().replace("\r\n", "\n")
    if "\x00" in text:
        raise _refuse("NOTE_INVALID", "a note cannot hold a NUL character")
    if len(text) > NOTE_TEXT_MAX:
        raise _refuse("NOTE_INVALID", f"a note has at most {NOTE_TEXT_MAX} characters")
    return Note.objects.create(
        matter=matter, session=session, author=user, author_name=_username(user), text=text
    )


def notes_of(*, matter: Matter | None = None, session: Session | None = None) -> QuerySet[Note]:
    """The notes on a matter or on a session, oldest first."""
    if matter is not None:
        return Note.objects.filter(matter=matter).order_by("created_at", "pk")
    return Note.objects.filter(session=session).order_by("created_at", "pk")


# --------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatterExport:
    manifest: dict[str, Any]
    file_name: str


def matter_export_file_name(matter: Matter) -> str:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    slug = slugify(matter.name)[:60] or f"matter-{matter.pk}"
    return f"agentops-matter-{slug}-{stamp}.zip"


def matter_export_check(*, matter: Matter, bounded: bool) -> list[Session]:
    """The sessions a matter's export will hold, refused when there is none or, for a
    console export (``bounded``), when there are more than it makes while a request waits."""
    tags = list(matter_sessions(matter=matter))
    if not tags:
        raise _refuse("MATTER_EMPTY", "the matter holds no session to export", 409)
    if bounded:
        limit_events = settings.AGENTOPS_EXPORT_INLINE_MAX_EVENTS
        events = Session.objects.filter(pk__in=[t.session_id for t in tags]).aggregate(
            total=Sum("event_count")
        )["total"]
        if len(tags) > MATTER_EXPORT_MAX_SESSIONS or (events or 0) > limit_events:
            raise _refuse(
                "MATTER_EXPORT_TOO_LARGE",
                f"the matter holds {len(tags)} session(s) and {events or 0} event(s); the "
                f"console exports at most {MATTER_EXPORT_MAX_SESSIONS} sessions and "
                f"{limit_events} events at once: use manage.py export_matter",
                413,
                sessions=len(tags),
                events=events or 0,
            )
    return [tag.session for tag in tags]


def _matter_manifest_part(matter: Matter, sessions: Iterable[Session]) -> dict[str, Any]:
    """What the manifest says of the matter: its name, who opened it, how each session
    came into it, and the notes written on it and on its sessions."""
    ids = [session.pk for session in sessions]
    tags = {tag.session_id: tag for tag in matter_sessions(matter=matter)}
    notes = Note.objects.filter(matter=matter) | Note.objects.filter(session_id__in=ids)
    return {
        "matter": {
            "id": matter.pk,
            "name": matter.name,
            "description": matter.description,
            "opened_by": matter.created_by_name,
            "opened_at": rfc3339(matter.created_at),
            "sessions": [
                {
                    "session_id": str(session_id),
                    "tagged_by": tags[session_id].actor_name,
                    "tagged_at": rfc3339(tags[session_id].at),
                }
                for session_id in sorted(ids, key=str)
                if session_id in tags
            ],
            "notes": [
                {
                    "on": "matter" if note.matter_id else "session",
                    "session_id": None if note.matter_id else str(note.session_id),
                    "author": note.author_name,
                    "written_at": rfc3339(note.created_at),
                    "text": note.text,
                }
                for note in notes.order_by("created_at", "pk")
            ],
        }
    }


def matter_export_write(
    *, matter: Matter, actor: Actor, target: IO[bytes], redact: bool = False, bounded: bool
) -> MatterExport:
    """Write the matter's zip to ``target``: each session's compliance JSON (entered in the
    export ledger under ``actor``, masked when ``redact``) and ``manifest.json``, which lists
    each file's SHA-256 and names the matter, its sessions and notes, who exported, when.

    ``bounded``: a console export, refused above the bound (``MATTER_EXPORT_TOO_LARGE``).
    Raises ``services.RedactionImpossible`` when a masked copy cannot be made.
    """
    sessions = matter_export_check(matter=matter, bounded=bounded)
    manifest = archive.sessions_zip_write(
        sessions=sessions,
        actor=actor,
        target=target,
        redact=redact,
        formats=MATTER_EXPORT_FORMATS,
        manifest_extra=_matter_manifest_part(matter, sessions),
    )
    return MatterExport(manifest=manifest, file_name=matter_export_file_name(matter))


def session_lookup(value: Any) -> Session:
    """A session by its full id, for a form: ``SESSION_NOT_FOUND`` for anything else."""
    try:
        session_id = uuid.UUID(str(value).strip())
    except (ValueError, TypeError, AttributeError):
        raise session_not_found() from None
    session = Session.objects.filter(pk=session_id).select_related("project").first()
    if session is None:
        raise session_not_found()
    return session
