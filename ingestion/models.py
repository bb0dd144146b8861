"""Projects, API keys, sessions, their append-only events and the history of verifications.

Events and sealed sessions are evidence: database triggers (migration 0002) refuse to change
or delete them; API keys are revoked, never deleted, and no id ever changes (0004); every
verification of a stored session is kept, never changed nor deleted (0006). The
``save()``/``delete()`` overrides below only make mistakes fail early in Python; the triggers
are the guarantee.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from agentops_sdk import chain
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from .errors import AppendOnlyError


class Project(models.Model):
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class ApiKey(AbstractAPIKey):
    """A project's API key; the library stores it hashed and revokes it with ``revoked``."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="api_keys")

    #: All an existing key may change: the service role may update these columns only, and
    #: the triggers of migration 0005 refuse un-revoking and any change to the key's identity.
    MUTABLE_FIELDS = ("name", "expiry_date", "revoked")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read from __dict__ so that a key loaded without its project costs no extra query.
        self._initial_project_id = self.__dict__.get("project_id")

    def clean(self) -> None:
        super().clean()
        self._project_check()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding:
            # The library sets the primary key itself: without this, Django would first try
            # an UPDATE of every column, which the service role may not run.
            kwargs.setdefault("force_insert", True)
        else:
            self._project_check()
            if kwargs.get("update_fields") is None:
                kwargs["update_fields"] = self.MUTABLE_FIELDS
        super().save(*args, **kwargs)
        self._initial_project_id = self.project_id

    def _project_check(self) -> None:
        initial = self._initial_project_id
        if not self._state.adding and initial is not None and self.project_id != initial:
            raise ValidationError(
                {"project": "an API key stays with its project: create a new key"}
            )

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("API keys are revoked, never deleted: events keep naming them")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class EvidenceClass(models.TextChoices):
    AUTHORITATIVE = "AUTHORITATIVE_EVIDENCE"
    PARTIAL_AUTHORITATIVE = "PARTIAL_AUTHORITATIVE_EVIDENCE"
    NON_AUTHORITATIVE = "NON_AUTHORITATIVE_EVIDENCE"
    # Not a spec class: the report of a failed verification has evidence_class null. Cached
    # under its own name so that failed sessions can be listed apart from unsealed ones.
    FAILED = "FAILED"


class Session(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="sessions")
    agent_id = models.CharField(max_length=200)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_event_at = models.DateTimeField(null=True, blank=True)
    sealed_at = models.DateTimeField(null=True, blank=True)
    # The chain head as the service recorded it; the next event must be head_sequence + 1.
    head_sequence = models.BigIntegerField(null=True, blank=True)
    # NULL, not "", in the string fields below: null is a value of the spec (no head yet, no
    # previous event, payload withheld, not yet classified), distinct from any string.
    head_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # Producer events, as the seal and the report count them: the CHAIN_SEAL is not one.
    event_count = models.BigIntegerField(default=0)
    total_drops = models.BigIntegerField(default=0)
    has_session_end = models.BooleanField(default=False)
    evidence_class = models.CharField(  # noqa: DJ001
        max_length=40, choices=EvidenceClass.choices, null=True, blank=True
    )
    verification = models.JSONField(null=True, blank=True)  # the report computed at seal time

    class Meta:
        indexes = [
            models.Index(fields=["-created_at"], name="session_created_idx"),
            models.Index(fields=["project", "-created_at"], name="session_project_idx"),
            models.Index(fields=["project", "agent_id", "-created_at"], name="session_agent_idx"),
            models.Index(
                fields=["project", "evidence_class", "-created_at"], name="session_evidence_idx"
            ),
            # For the stale-session sweep, which only ever looks at open sessions.
            models.Index(
                fields=["last_event_at"],
                name="session_open_idx",
                condition=models.Q(sealed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.id}"

    @property
    def sealed(self) -> bool:
        return self.sealed_at is not None

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("sessions are evidence and are never deleted")


class Event(models.Model):
    """One stored §2 envelope. Field values are kept exactly as they were hashed."""

    # Both references are checked by the database once per inserted statement, not by a
    # foreign key per row, on PostgreSQL (migration 0004); SQLite keeps its foreign keys.
    # No index of its own: the unique (session, sequence_number) index serves every lookup.
    session = models.ForeignKey(
        Session,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    sequence_number = models.BigIntegerField()
    event_id = models.CharField(max_length=36)
    timestamp_wall = models.CharField(max_length=64)  # byte for byte as the producer sent it
    timestamp_monotonic = models.BigIntegerField()
    event_type = models.CharField(max_length=32)
    source_sdk_ver = models.CharField(max_length=200)
    schema_ver = models.CharField(max_length=16)
    # RFC 8785 text of the payload; NULL when the payload is withheld. Not a JSONField: jsonb
    # rewrites numbers (1e300 becomes an integer literal), the canonical text stays exact.
    payload_jcs = models.TextField(null=True, blank=True)  # noqa: DJ001
    payload_hash = models.CharField(max_length=64)
    prev_event_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    event_hash = models.CharField(max_length=64)
    chain_authority = models.CharField(max_length=8)
    authority_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(default=timezone.now)
    # No index: events are never looked up by key (a session's keys are read through it).
    api_key = models.ForeignKey(
        ApiKey,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "sequence_number"], name="event_session_sequence_uniq"
            ),
            models.UniqueConstraint(fields=["session", "event_id"], name="event_session_id_uniq"),
        ]
        # Searching by event id alone (the console) cannot use the unique index above.
        indexes = [models.Index(fields=["event_id"], name="event_event_id_idx")]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.sequence_number} {self.event_type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("stored events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("stored events cannot be deleted")

    @classmethod
    def from_envelope(
        cls,
        envelope: dict[str, Any],
        *,
        session: Session,
        payload_jcs: str | None,
        received_at: Any,
        api_key: ApiKey | None = None,
    ) -> Event:
        """An unsaved row for a §2 envelope whose payload is already canonical text."""
        return cls(
            session=session,
            sequence_number=envelope["sequence_number"],
            event_id=envelope["event_id"],
            timestamp_wall=envelope["timestamp_wall"],
            timestamp_monotonic=envelope["timestamp_monotonic"],
            event_type=envelope["event_type"],
            source_sdk_ver=envelope["source_sdk_ver"],
            schema_ver=envelope["schema_ver"],
            payload_jcs=payload_jcs,
            payload_hash=envelope["payload_hash"],
            prev_event_hash=envelope["prev_event_hash"],
            event_hash=envelope["event_hash"],
            chain_authority=envelope["chain_authority"],
            authority_id=envelope["authority_id"],
            received_at=received_at,
            api_key=api_key,
        )

    def envelope(self) -> dict[str, Any]:
        """The event exactly as spec §2 defines it, fields in export order."""
        row = tuple(getattr(self, column) for column in ENVELOPE_COLUMNS)
        return next(envelopes_from_rows((row,), session_id=str(self.session_id)))[0]


#: The stored columns of a §2 envelope, in the order ``envelopes_from_rows`` reads a row:
#: the envelope's fields but the session id (the same on every row), the payload as its
#: stored canonical text.
ENVELOPE_COLUMNS = tuple(
    "payload_jcs" if name == "payload" else name
    for name in chain.ENVELOPE_FIELDS
    if name != "session_id"
)


def envelopes_from_rows(
    rows: Iterable[Sequence[Any]], *, session_id: str
) -> Iterator[tuple[dict[str, Any], str | None]]:
    """(§2 envelope in export order, stored canonical payload text) of each stored row of
    ``ENVELOPE_COLUMNS`` of one session: the one place a stored event becomes an envelope.

    Plain rows rather than model instances: building instances costs a third of an export's
    time on a long session. A payload text that is not JSON (only tampering behind the
    triggers leaves one) is handed over as that text: verification then reports the event
    instead of crashing, and a page shows it.
    """
    loads = json.loads
    for (
        event_id,
        sequence_number,
        timestamp_wall,
        timestamp_monotonic,
        event_type,
        source_sdk_ver,
        schema_ver,
        payload_jcs,
        payload_hash,
        prev_event_hash,
        event_hash,
        chain_authority,
        authority_id,
    ) in rows:
        payload: Any = None
        if payload_jcs is not None:
            try:
                payload = loads(payload_jcs)
            except ValueError:
                payload = payload_jcs
        yield (
            {
                "event_id": event_id,
                "session_id": session_id,
                "sequence_number": sequence_number,
                "timestamp_wall": timestamp_wall,
                "timestamp_monotonic": timestamp_monotonic,
                "event_type": event_type,
                "source_sdk_ver": source_sdk_ver,
                "schema_ver": schema_ver,
                "payload": payload,
                "payload_hash": payload_hash,
                "prev_event_hash": prev_event_hash,
                "event_hash": event_hash,
                "chain_authority": chain_authority,
                "authority_id": authority_id,
            },
            payload_jcs,
        )


class VerificationTrigger(models.TextChoices):
    """What ran a verification of a stored session."""

    SEAL = "seal", "Seal"
    CONSOLE = "console", "Verify now (console)"
    API = "api", "POST /api/v1/verify"
    COMMAND = "command", "manage.py verify_sessions"
    EXPORT = "export", "Export"


class VerificationStatus(models.TextChoices):
    PASS = "PASS"
    FAIL = "FAIL"


class Verification(models.Model):
    """One verification of a session's stored chain, as it came out at that moment.

    The seal writes the first row; every later re-verification appends another, so a change
    made to the stored events after the seal shows up in the latest row while the seal's
    own verdict stays on record. Rows are never changed or deleted (migration 0006).
    """

    # No index of its own: the (session, -verified_at, -id) index serves every lookup.
    session = models.ForeignKey(
        Session, on_delete=models.PROTECT, related_name="verifications", db_index=False
    )
    verified_at = models.DateTimeField(default=timezone.now)
    trigger = models.CharField(max_length=16, choices=VerificationTrigger.choices)
    # Who asked, recorded as the export ledger records its actor: readable on its own, and
    # the user or API key as foreign keys when there is one.
    actor = models.CharField(max_length=300)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="agentops_verifications",
    )
    api_key = models.ForeignKey(
        ApiKey,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="verifications",
    )
    status = models.CharField(max_length=4, choices=VerificationStatus.choices)
    # The report's class, or FAILED (the report of a failure has none), as Session caches it.
    evidence_class = models.CharField(max_length=40, choices=EvidenceClass.choices)
    report = models.JSONField()  # the full §7 report
    # What the verification covered: the producer events the report counts, and the last
    # stored envelope it read (the seal, for a sealed chain).
    event_count = models.BigIntegerField()
    last_sequence_number = models.BigIntegerField(null=True, blank=True)
    last_event_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        indexes = [
            models.Index(fields=["session", "-verified_at", "-id"], name="verification_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} {self.status} {self.trigger} {self.verified_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("verifications cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("verifications cannot be deleted")


# The erasure ledger, the transparency log and the OTLP span index live in modules of their
# own; imported here so that Django registers their models.
from .erasure_models import Erasure  # noqa: E402, F401
from .otlp.models import SpanReceipt  # noqa: E402, F401
from .transparency.models import LogLeaf, LogNode, TreeHead  # noqa: E402, F401
