"""The ingestion API (``/api/v1``). Views parse, call one service, and render.

Every view answers errors in one shape (see ``exceptions.py``); a session of another project
is answered exactly like a session that does not exist.
"""

from __future__ import annotations

from agentops_sdk.verify import LogFormatError, session_from_bytes
from django.db import connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from agentops import __version__

from .. import keys, selectors, services
from ..models import Session, VerificationTrigger
from ..validation import proposals_validate
from . import serializers as s
from .exceptions import ERROR_CODES, error_body
from .parsers import EvidenceJSONParser, RawBodyParser, StrictJSONParser, reading_error


def errors(*codes: str, public: bool = False) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error codes, grouped by HTTP status.

    Every view can answer NOT_ACCEPTABLE (an Accept header or ``?format=`` it cannot render);
    an authenticated one also the codes of authentication, throttling and the database.
    """
    common = ("NOT_ACCEPTABLE",)
    if not public:
        common += ("UNAUTHENTICATED", "RATE_LIMITED", "SERVICE_UNAVAILABLE")
    by_status: dict[int, list[str]] = {}
    for code in (*common, *codes):
        by_status.setdefault(ERROR_CODES[code][0], []).append(code)
    return {
        http: OpenApiResponse(
            s.ErrorSerializer,
            description="; ".join(f"`{c}`: {ERROR_CODES[c][1]}" for c in sorted(set(names))),
        )
        for http, names in by_status.items()
    }


def _session_for(request, session_id: str) -> Session:
    """The caller's session, or SESSION_NOT_FOUND (also for other projects' sessions)."""
    return selectors.session_get(project=request.auth.project, session_id=session_id)


def _context(request) -> dict:
    return {"request": request}


class SessionsView(APIView):
    parser_classes = [StrictJSONParser]

    @extend_schema(
        operation_id="sessions_list",
        parameters=[s.SessionListQuery],
        responses={200: s.SessionPageSerializer, **errors("VALIDATION_ERROR")},
        summary="List the project's sessions, newest first",
    )
    def get(self, request):
        query = s.SessionListQuery.from_request(request)
        sessions = selectors.sessions_for_project(
            project=request.auth.project,
            agent_id=query.get("agent_id"),
            sealed=query.get("sealed"),
            evidence_class=query.get("evidence_class"),
            created_after=query.get("created_after"),
            created_before=query.get("created_before"),
        )
        total = sessions.count()
        offset, limit = query["offset"], query["limit"]
        page = list(sessions[offset : offset + limit])
        next_offset = offset + limit if offset + limit < total else None
        return Response(
            {
                "count": total,
                "next_offset": next_offset,
                "results": s.SessionSerializer(page, many=True, context=_context(request)).data,
            }
        )

    @extend_schema(
        operation_id="sessions_start",
        request=s.SessionCreateSerializer,
        responses={
            201: s.SessionSerializer,
            200: OpenApiResponse(s.SessionSerializer, description="the session already existed"),
            **errors(
                "MALFORMED_JSON",
                "VALIDATION_ERROR",
                "SESSION_CONFLICT",
                "PAYLOAD_TOO_LARGE",
                "UNSUPPORTED_MEDIA_TYPE",
            ),
        },
        summary="Start a session (idempotent for a given session_id)",
    )
    def post(self, request):
        body = s.SessionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        session, created = services.session_start(
            project=request.auth.project,
            agent_id=body.validated_data["agent_id"],
            metadata=body.validated_data.get("metadata") or {},
            session_id=body.validated_data.get("session_id"),
        )
        return Response(
            s.SessionSerializer(session, context=_context(request)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SessionDetailView(APIView):
    @extend_schema(
        operation_id="sessions_retrieve",
        responses={200: s.SessionSerializer, **errors("SESSION_NOT_FOUND")},
        summary="A session's metadata, counts, head, seal state and evidence class",
    )
    def get(self, request, session_id: str):
        session = selectors.session_get(
            project=request.auth.project, session_id=session_id, latest_verification=True
        )
        return Response(s.SessionSerializer(session, context=_context(request)).data)


class SessionEventsView(APIView):
    parser_classes = [StrictJSONParser]

    @extend_schema(
        operation_id="events_list",
        parameters=[s.EventListQuery],
        responses={200: s.EventPageSerializer, **errors("SESSION_NOT_FOUND", "VALIDATION_ERROR")},
        summary="Stored envelopes in sequence order (cursor: after=last sequence seen)",
    )
    def get(self, request, session_id: str):
        session = _session_for(request, session_id)
        query = s.EventListQuery.from_request(request)
        events = selectors.session_envelopes_page(
            session=session, after=query["after"], limit=query["limit"]
        )
        next_after = (
            events[-1]["sequence_number"]
            if len(events) == query["limit"]
            and events[-1]["sequence_number"] < (session.head_sequence or 0)
            else None
        )
        return Response({"events": events, "next_after": next_after})

    @extend_schema(
        operation_id="events_append",
        request=s.EventBatchSerializer,
        responses={
            200: s.AppendResultSerializer,
            **errors(
                "MALFORMED_JSON",
                "VALIDATION_ERROR",
                "PAYLOAD_HASH_MISMATCH",
                "AUTHORITY_VIOLATION",
                "SESSION_NOT_FOUND",
                "SESSION_SEALED",
                "SEQUENCE_GAP",
                "SEQUENCE_CONFLICT",
                "ORDERING_VIOLATION",
                "POLICY_VIOLATION",
                "PAYLOAD_TOO_LARGE",
                "UNSUPPORTED_MEDIA_TYPE",
                "NON_CANONICAL_VALUE",
            ),
        },
        summary="Append a batch of proposed events (all or nothing; replays count as duplicates)",
    )
    def post(self, request, session_id: str):
        # The session is found as the service locks it, after the batch has been checked.
        session_uuid = selectors.session_uuid(session_id)
        proposals = proposals_validate(request.data, session_id=str(session_uuid))
        result = services.events_append(
            session=session_uuid,
            proposals=proposals,
            project=request.auth.project,
            api_key=request.auth,
        )
        return Response(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "head": {"sequence_number": result.head_sequence, "event_hash": result.head_hash},
            }
        )


class SessionSealView(APIView):
    @extend_schema(
        operation_id="sessions_seal",
        request=None,
        responses={200: s.SealResultSerializer, **errors("SESSION_NOT_FOUND", "EMPTY_SESSION")},
        summary="Verify the stored chain and append the signed CHAIN_SEAL (idempotent)",
    )
    def post(self, request, session_id: str):
        session = _session_for(request, session_id)
        result = services.session_seal(
            session=session, actor=services.Caller.for_api_key(request.auth)
        )
        return Response({"seal": result.seal, "verification": result.verification})


class VerifyView(APIView):
    parser_classes = [EvidenceJSONParser, RawBodyParser]

    @extend_schema(
        operation_id="verify",
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/x-ndjson": OpenApiTypes.BINARY,
        },
        responses={
            200: s.ReportSerializer,
            **errors(
                "MALFORMED_JSON",
                "VALIDATION_ERROR",
                "SESSION_NOT_FOUND",
                "PAYLOAD_TOO_LARGE",
                "UNSUPPORTED_MEDIA_TYPE",
            ),
        },
        examples=[
            OpenApiExample(
                "stored session",
                value={"session_id": "6513270e-269e-4d37-b2a7-4de452e6b438"},
                request_only=True,
            )
        ],
        summary="Verify a stored session, an uploaded JSONL session or a compliance JSON export",
        description=(
            '`{"session_id": ...}` re-verifies the stored chain from the database and appends '
            "the result to the session's history of verifications (its `latest_verification` "
            "and `evidence_class` then show it). A compliance "
            "JSON export (application/json) or a JSONL session (application/x-ndjson) is verified "
            "as uploaded, read exactly as `agentops-verify` reads a file (UTF-8 without a byte "
            "order mark, LF or CRLF line ends, no duplicate keys, no NaN or Infinity): text it "
            "refuses is MALFORMED_JSON with `details.reason` and `details.line`. The service's "
            "own current and retired keys are trusted."
        ),
    )
    def post(self, request):
        data = request.data
        if request.content_type.partition(";")[0].strip() == RawBodyParser.media_type:
            # Read as agentops-verify reads a file: the same format detection and reader. An
            # empty body reaches here as an empty dict.
            try:
                source = session_from_bytes(data if isinstance(data, bytes) else b"")
                if source.document is not None:
                    return Response(services.export_verify(document=source.document))
                return Response(services.events_verify(events=list(source.events)))
            except LogFormatError as exc:
                raise reading_error(exc) from None
        if isinstance(data, dict) and data.get("export_format") is not None:
            return Response(services.export_verify(document=data))
        body = s.VerifyRequestSerializer(data=data)
        body.is_valid(raise_exception=True)
        session = _session_for(request, str(body.validated_data["session_id"]))
        report = services.session_verify(
            session=session,
            trigger=VerificationTrigger.API,
            actor=services.Caller.for_api_key(request.auth),
        )
        return Response(report)


class KeysView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="keys_list",
        auth=[],
        responses={200: s.KeysSerializer, **errors("RATE_LIMITED", public=True)},
        summary="The service's current and retired public sealing keys (no authentication)",
    )
    def get(self, request):
        return Response({"ingestion_service_id": keys.service_id(), "keys": keys.public_keys()})


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        operation_id="health",
        auth=[],
        responses={200: s.HealthSerializer, **errors("SERVICE_UNAVAILABLE", public=True)},
        summary="Liveness and database reachability",
    )
    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception:  # any failure to reach the database means "not healthy"
            return Response(
                error_body("SERVICE_UNAVAILABLE", "the database is unavailable"),
                status=503,
                headers={"Retry-After": "2"},
            )
        return Response({"status": "ok", "database": connection.vendor, "version": __version__})
