"""Request and response shapes of the API.

Event batches are not validated with a serializer per event (that is slow and duplicates the
chain rules); ``ingestion.validation`` checks a batch in one pass. The event serializers here
exist to document the shapes in the OpenAPI schema.
"""

from __future__ import annotations

import re
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import selectors
from ..models import EvidenceClass, Session, VerificationStatus, VerificationTrigger

_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


class StringField(serializers.CharField):
    """A CharField that accepts only JSON strings (DRF's turns a number 5 into "5")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class UUIDStringField(serializers.UUIDField):
    """Only the hyphenated text form that the schema promises.

    DRF's UUIDField also takes integers, braces, URNs and bare hex, none of which a client
    reading the schema would send on purpose.
    """

    def to_internal_value(self, data):
        if not isinstance(data, str) or not _UUID_TEXT.fullmatch(data):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


def _holds_nul(value: Any) -> bool:
    """True if any string or key of a JSON value holds NUL (walked without recursion)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class StrictSerializer(serializers.Serializer):
    """Refuses unknown fields instead of silently ignoring them."""

    def validate(self, attrs):
        unknown = (
            set(self.initial_data) - set(self.fields)
            if isinstance(self.initial_data, dict)
            else set()
        )
        if unknown:
            raise serializers.ValidationError({name: "unknown field" for name in sorted(unknown)})
        return attrs


class QuerySerializer(serializers.Serializer):
    """Query parameters; an empty one (``?limit=``) is refused rather than read as absent,
    naming the values allowed when there is a list of them."""

    @classmethod
    def from_request(cls, request) -> dict[str, Any]:
        """The request's query parameters, validated (VALIDATION_ERROR otherwise)."""
        query = cls(data=request.query_params)
        query.is_valid(raise_exception=True)
        return query.validated_data

    def to_internal_value(self, data):
        empty = sorted(name for name in self.fields if name in data and data.get(name) == "")
        if empty:
            raise serializers.ValidationError({name: self._empty_message(name) for name in empty})
        return super().to_internal_value(data)

    def _empty_message(self, name: str) -> str:
        choices = getattr(self.fields[name], "choices", None)
        if not choices:
            return "must not be empty"
        return f"must not be empty: one of {', '.join(map(str, choices))}"


class SessionListQuery(QuerySerializer):
    agent_id = serializers.CharField(required=False, max_length=200)
    sealed = serializers.BooleanField(required=False, allow_null=True, default=None)
    evidence_class = serializers.ChoiceField(required=False, choices=EvidenceClass.values)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=10**9, default=0)


class EventListQuery(QuerySerializer):
    """A page of a session's events, or of what was found in them: ``after`` the last
    sequence number seen, ``limit`` events."""

    after = serializers.IntegerField(required=False, min_value=-1, max_value=2**53 - 1, default=-1)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)


class SessionCreateSerializer(StrictSerializer):
    agent_id = StringField(max_length=200)
    metadata = serializers.DictField(required=False, default=dict)
    session_id = UUIDStringField(required=False)

    def validate_metadata(self, value):
        from agentops_sdk.chain import NonCanonicalValueError, canonicalize

        try:
            encoded = canonicalize(value)
        except NonCanonicalValueError as exc:
            raise serializers.ValidationError(f"{exc.reason} at {exc.path}") from None
        if len(encoded) > 16 * 1024:
            raise serializers.ValidationError("metadata is limited to 16 KiB")
        # PostgreSQL's jsonb cannot hold U+0000; refused here for every database alike.
        if _holds_nul(value):
            raise serializers.ValidationError("metadata cannot contain NUL (U+0000) characters")
        return value


class HeadSerializer(serializers.Serializer):
    sequence_number = serializers.IntegerField(allow_null=True)
    event_hash = serializers.CharField(allow_null=True)


class LatestVerificationSerializer(serializers.Serializer):
    """The session's latest verification, whatever ran it."""

    status = serializers.ChoiceField(choices=VerificationStatus.values)
    evidence_class = serializers.ChoiceField(
        choices=EvidenceClass.values, help_text="FAILED when the verification failed"
    )
    verified_at = serializers.DateTimeField()
    trigger = serializers.ChoiceField(
        choices=VerificationTrigger.values,
        help_text="what ran it: the seal, the console's Verify now, POST /api/v1/verify, "
        "manage.py verify_sessions, or an export",
    )


class SessionSerializer(serializers.ModelSerializer):
    """A session with the verdict a reader should act on.

    ``evidence_class`` is the class of the session's latest verification (null while the
    session is open): once a later verification fails it says FAILED, even though the
    sealed row still holds the class computed at seal time (``evidence_class_at_seal``).
    """

    session_id = serializers.UUIDField(source="id")
    project = serializers.CharField(source="project.name")
    sealed = serializers.BooleanField()
    complete = serializers.BooleanField(source="has_session_end")
    head = serializers.SerializerMethodField()
    evidence_class = serializers.ChoiceField(
        source="current_evidence_class",
        choices=EvidenceClass.values,
        allow_null=True,
        read_only=True,
        help_text="the class of the latest verification (FAILED when it failed); null while "
        "the session is open",
    )
    evidence_class_at_seal = serializers.ChoiceField(
        source="evidence_class",
        choices=EvidenceClass.values,
        allow_null=True,
        read_only=True,
        help_text="the class computed when the session was sealed; it never changes",
    )
    latest_verification = serializers.SerializerMethodField()
    findings_url = serializers.SerializerMethodField(
        help_text="the session's findings: PII found, tool audit, policy rule results"
    )

    class Meta:
        model = Session
        fields = [
            "session_id",
            "project",
            "agent_id",
            "metadata",
            "created_at",
            "last_event_at",
            "sealed",
            "sealed_at",
            "event_count",
            "head",
            "complete",
            "total_drops",
            "evidence_class",
            "evidence_class_at_seal",
            "latest_verification",
            "findings_url",
        ]

    def to_representation(self, instance):
        if not hasattr(instance, "current_evidence_class"):
            # A session handed over without the annotation (one just started): read it
            # once. Lists are annotated by their selector, one query per page.
            instance = (
                selectors.sessions_with_latest_verification(Session.objects.filter(pk=instance.pk))
                .select_related("project")
                .get()
            )
        return super().to_representation(instance)

    def get_head(self, session) -> dict:
        return {"sequence_number": session.head_sequence, "event_hash": session.head_hash}

    @extend_schema_field(LatestVerificationSerializer(allow_null=True))
    def get_latest_verification(self, session) -> dict | None:
        if session.latest_verification_status is None:
            return None
        return LatestVerificationSerializer(
            {
                name: getattr(session, f"latest_verification_{name}")
                for name in selectors.LATEST_VERIFICATION_FIELDS
            }
        ).data

    @extend_schema_field(OpenApiTypes.URI)
    def get_findings_url(self, session) -> str:
        path = reverse("session-findings", args=[session.pk])
        request = self.context.get("request")
        return path if request is None else request.build_absolute_uri(path)


class SessionPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)
    results = SessionSerializer(many=True)


class ProposedEventSerializer(serializers.Serializer):
    """A producer's proposal (spec §5). Hash fields sent by a producer are ignored."""

    event_id = serializers.UUIDField()
    session_id = serializers.UUIDField()
    sequence_number = serializers.IntegerField(min_value=0)
    timestamp_wall = serializers.CharField(help_text="RFC 3339 UTC ending in Z; stored verbatim")
    timestamp_monotonic = serializers.IntegerField(min_value=0)
    event_type = serializers.CharField()
    source_sdk_ver = serializers.CharField()
    schema_ver = serializers.CharField(help_text='"v0.6"')
    payload = serializers.DictField()
    payload_hash = serializers.CharField(required=False, help_text="optional; must match")


class EventBatchSerializer(serializers.Serializer):
    events = ProposedEventSerializer(many=True)


class EnvelopeSerializer(ProposedEventSerializer):
    """A stored event exactly as spec §2 defines it."""

    payload = serializers.DictField(allow_null=True)
    payload_hash = serializers.CharField()
    prev_event_hash = serializers.CharField(allow_null=True)
    event_hash = serializers.CharField()
    chain_authority = serializers.CharField()
    authority_id = serializers.CharField()


class AppendResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    head = HeadSerializer()


class EventPageSerializer(serializers.Serializer):
    events = EnvelopeSerializer(many=True)
    next_after = serializers.IntegerField(allow_null=True)


class ReportSerializer(serializers.Serializer):
    """The verification report of spec §7."""

    session_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["PASS", "FAIL"])
    evidence_class = serializers.CharField(allow_null=True)
    authority = serializers.CharField(allow_null=True)
    sealed = serializers.BooleanField()
    complete = serializers.BooleanField()
    total_drops = serializers.IntegerField()
    partial_reasons = serializers.ListField(child=serializers.CharField())
    violations = serializers.ListField(child=serializers.DictField())
    event_count = serializers.IntegerField()
    replay_fingerprint = serializers.CharField(allow_null=True)
    seal = serializers.DictField(allow_null=True)
    # null for a withheld payload on an event whose own sequence_number is not an integer
    # (an uploaded, malformed log): the report names what it found, not a repaired value.
    redacted_events = serializers.ListField(
        child=serializers.IntegerField(allow_null=True),
        help_text="sequence numbers of the events whose payload was withheld",
    )
    spec_version = serializers.CharField()


class SealResultSerializer(serializers.Serializer):
    seal = EnvelopeSerializer()
    verification = ReportSerializer()


class VerifyRequestSerializer(StrictSerializer):
    session_id = UUIDStringField()


class PublicKeySerializer(serializers.Serializer):
    key_id = serializers.CharField()
    public_key = serializers.CharField(help_text="base64 of the raw 32-byte Ed25519 key")
    algorithm = serializers.CharField()
    status = serializers.ChoiceField(choices=["current", "retired"])


class KeysSerializer(serializers.Serializer):
    ingestion_service_id = serializers.CharField()
    keys = PublicKeySerializer(many=True)


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    database = serializers.CharField()
    version = serializers.CharField(help_text="the service's release")


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()
