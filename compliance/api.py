"""``GET /api/v1/sessions/{id}/export``: a session as compliance JSON, JSONL or PDF;
``GET /api/v1/sessions/{id}/findings``: what the policy found in it, page by page.

Authenticated like the rest of the API; a session of another project is answered exactly
like one that does not exist. Every export is recorded in the export ledger before its first
byte is sent: the bytes are rendered to a temporary file, hashed, recorded, then streamed.
"""

from __future__ import annotations

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from ingestion.api.serializers import EventListQuery, QuerySerializer
from ingestion.api.views import errors
from ingestion.selectors import session_get

from . import jobs, services
from .exports.context import Actor
from .models import ExportFormat


class ExportQuery(QuerySerializer):
    format = serializers.ChoiceField(
        choices=ExportFormat.values,
        default=ExportFormat.JSON,
        help_text="json: compliance JSON export (RFC 8785, spec §8); jsonl: the stored chain, "
        "one event per line, seal last; pdf: the report for people.",
    )


class ErrorsAsJson(BaseContentNegotiation):
    """``format`` names the export here, not a DRF renderer, and a successful answer is a
    file, not a rendered body; errors are always the API's JSON error shape."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


def _header(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        response=[200],
        description=description,
    )


EXPORT_DESCRIPTION = """\
Renders the session at request time: the stored chain is read and verified again with the
service's keys, and the policy findings attached. The answer is an attachment named
`agentops-<session>-<yyyymmdd>[-unsealed].<json|jsonl|pdf>`; every export is recorded in the
append-only export ledger (who, when, SHA-256 and size of the bytes, verification status and
evidence class at that moment) before it is sent.

An unsealed session can be exported; each format says so. The compliance JSON has
`session.sealed: false` and an `UNSEALED` notice, the PDF an `UNSEALED SESSION` banner. A JSONL
file may hold nothing but the events, so there the file name ends in `-unsealed`, the
`X-AgentOps-Sealed` header is `false`, and any verifier reports `UNSEALED_SESSION` (no
CHAIN_SEAL line).

The compliance JSON is signed whole by the service (`export_signature`: Ed25519 with the
sealing key, key id included), so `agentops-verify` detects a change to any part of it, not
only to its events.

A PDF names the SHA-256 of a compliance JSON export made at the same moment, recorded in the
ledger, and carries those exact bytes as a file attachment (`pdfdetach -saveall`, or any PDF
reader's attachments), so the PDF and the JSON it cites always travel together."""


class ExportJobProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="units of the current stage done")
    total = serializers.IntegerField(help_text="units of the current stage; 0 when unknown")
    fraction = serializers.FloatField(allow_null=True)


class ExportJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField(help_text="this job: `GET` it for its state and progress")
    download_url = serializers.CharField(
        allow_null=True, help_text="the finished file (each fetch is entered in the ledger)"
    )
    session_id = serializers.UUIDField()
    format = serializers.ChoiceField(choices=ExportFormat.values)
    redacted = serializers.BooleanField()
    state = serializers.ChoiceField(choices=["queued", "running", "done", "failed"])
    stage = serializers.CharField()
    progress = ExportJobProgressSerializer()
    attempt = serializers.IntegerField(help_text="1, or more when a worker died and it re-ran")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    file_name = serializers.CharField(allow_null=True)
    sha256 = serializers.CharField(allow_null=True)
    size_bytes = serializers.IntegerField(allow_null=True)


class SessionExportView(APIView):
    content_negotiation_class = ErrorsAsJson

    @extend_schema(
        operation_id="sessions_export",
        parameters=[
            ExportQuery,
            _header("X-AgentOps-Export-Id", "the export's entry in the export ledger"),
            _header("X-AgentOps-Export-SHA256", "SHA-256 of the returned bytes"),
            _header("X-AgentOps-Sealed", "`true` or `false`"),
            _header("X-AgentOps-Verification", "`PASS` or `FAIL`, verified at export time"),
            _header("X-AgentOps-Evidence-Class", "the evidence class, or `none` on FAIL"),
            _header(
                "X-AgentOps-Cites-JSON-SHA256",
                "PDF only: SHA-256 of the compliance JSON export the PDF names and carries",
            ),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="compliance JSON export (spec §8)"
            ),
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.BINARY, description="JSONL: one §2 event per line, seal last"
            ),
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="PDF report"
            ),
            202: OpenApiResponse(
                ExportJobSerializer,
                description="a PDF, or a JSON/JSONL export of a long session: queued as an "
                "export job; poll the `Location` (`GET /api/v1/exports/{job}`)",
            ),
            **errors("SESSION_NOT_FOUND", "VALIDATION_ERROR", "EXPORT_JOBS_LIMIT"),
        },
        summary="Export a session as compliance JSON, JSONL or PDF (recorded in the ledger)",
        description=EXPORT_DESCRIPTION,
    )
    def get(self, request, session_id: str):
        session = session_get(project=request.auth.project, session_id=session_id)
        query = ExportQuery.from_request(request)
        actor = Actor.for_api_key(request.auth)
        if jobs.export_needs_job(session=session, fmt=query["format"]):
            return job_accepted(
                request, jobs.export_job_create(session=session, fmt=query["format"], actor=actor)
            )
        rendered = services.export_render(session=session, fmt=query["format"], actor=actor)
        return export_response(rendered)


def export_response(rendered: services.RenderedExport | jobs.FetchedExport) -> FileResponse:
    """An export's bytes as an attachment, with its ledger entry in the headers."""
    record = rendered.record
    response = FileResponse(
        rendered.file,
        as_attachment=True,
        filename=rendered.file_name,
        content_type=rendered.content_type,
    )
    response["X-AgentOps-Export-Id"] = str(record.pk)
    response["X-AgentOps-Export-SHA256"] = record.sha256
    response["X-AgentOps-Sealed"] = "true" if record.sealed else "false"
    response["X-AgentOps-Verification"] = record.verification_status
    response["X-AgentOps-Evidence-Class"] = record.evidence_class or "none"
    if record.json_export is not None:
        response["X-AgentOps-Cites-JSON-SHA256"] = record.json_export.sha256
    return response


def _job_body(request, job) -> dict:
    body = jobs.export_job_status(job)
    url = reverse("export-job", args=[job.pk])
    body["url"] = request.build_absolute_uri(url)
    body["download_url"] = (
        request.build_absolute_uri(reverse("export-job-download", args=[job.pk]))
        if job.state == "done"
        else None
    )
    return body


def job_accepted(request, job) -> Response:
    body = _job_body(request, job)
    return Response(body, status=202, headers={"Location": body["url"]})


def _job_get(request, job_id: str):
    return jobs.export_job_get(project=request.auth.project, job_id=job_id)


class ExportJobView(APIView):
    @extend_schema(
        operation_id="exports_job",
        responses={200: ExportJobSerializer, **errors("EXPORT_JOB_NOT_FOUND")},
        summary="An export job: its state and progress, then the link to its file",
        description="A job of another project is answered like one that does not exist. "
        "`state` goes `queued`, `running` (with `stage` and `progress`), then `done` (with "
        "`download_url`, the SHA-256 and size) or `failed` (with `error`). A job whose worker "
        "died is run again (`attempt` grows); its file is written whole or not at all.",
    )
    def get(self, request, job_id: str):
        jobs.export_jobs_recover()
        return Response(_job_body(request, _job_get(request, job_id)))


class ExportJobDownloadView(APIView):
    content_negotiation_class = ErrorsAsJson

    @extend_schema(
        operation_id="exports_job_download",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="the export, as `GET .../export` answers it"
            ),
            **errors("EXPORT_JOB_NOT_FOUND", "EXPORT_NOT_READY", "EXPORT_FAILED", "EXPORT_EXPIRED"),
        },
        summary="The finished file of an export job (entered in the export ledger)",
        description="The same headers as `GET /api/v1/sessions/{id}/export`. Every fetch is a "
        "new entry in the export ledger under the API key that fetched it.",
    )
    def get(self, request, job_id: str):
        job = _job_get(request, job_id)
        return export_response(
            jobs.export_job_fetch(job=job, actor=Actor.for_api_key(request.auth))
        )


class PolicyNameSerializer(serializers.Serializer):
    name = serializers.CharField()
    sha256 = serializers.CharField(help_text="SHA-256 of the policy file's text")


class PiiFindingSerializer(serializers.Serializer):
    sequence_number = serializers.IntegerField(allow_null=True)
    event_id = serializers.CharField(allow_null=True)
    path = serializers.CharField(help_text="where in the payload, as a JSON path")
    kind = serializers.CharField()
    preview = serializers.CharField(help_text="the value masked; the value itself is never kept")


class ToolAuditPageSerializer(serializers.Serializer):
    calls = serializers.ListField(
        child=serializers.DictField(), help_text="the tool calls of the page's events"
    )
    totals = serializers.ListField(
        child=serializers.DictField(), help_text="per tool, over the whole session"
    )
    unmatched_results = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="the page's TOOL_RESULT events that answer no call",
    )


class FindingsPageSerializer(serializers.Serializer):
    session_id = serializers.UUIDField()
    available = serializers.BooleanField(
        help_text="false when the session's policy cannot be used or its stored events "
        "cannot be evaluated (see reason); every other field is then empty"
    )
    reason = serializers.CharField(allow_null=True)
    event_count = serializers.IntegerField(allow_null=True, help_text="the events evaluated")
    policy = PolicyNameSerializer(allow_null=True)
    evaluated_at = serializers.DateTimeField(allow_null=True)
    passed = serializers.BooleanField(allow_null=True, help_text="every rule passed")
    summary = serializers.DictField(allow_null=True)
    rule_results = serializers.ListField(child=serializers.DictField())
    pii_findings = PiiFindingSerializer(many=True)
    tool_audit = ToolAuditPageSerializer()
    next_after = serializers.IntegerField(
        allow_null=True, help_text="the last sequence number this page covers; null on the last"
    )


FINDINGS_DESCRIPTION = """\
The findings an export made now would carry: the latest stored evaluation of the session
under its project's policy if it covers the session's events, otherwise an evaluation made now
(and stored, like any other). PII findings hold masked previews only, as exports do.

Paginated like the events: `after` is the last sequence number seen, `limit` the number of
events a page covers. Each page holds the PII findings and tool calls of its events; the
policy, rule results, summary and tool totals are those of the whole session, on every page."""


class SessionFindingsView(APIView):
    @extend_schema(
        operation_id="sessions_findings",
        parameters=[EventListQuery],
        responses={
            200: FindingsPageSerializer,
            **errors("SESSION_NOT_FOUND", "VALIDATION_ERROR"),
        },
        summary="What the policy found in a session: PII, tool audit, rule results",
        description=FINDINGS_DESCRIPTION,
    )
    def get(self, request, session_id: str):
        session = session_get(project=request.auth.project, session_id=session_id)
        query = EventListQuery.from_request(request)
        page = services.session_findings_page(
            session=session, after=query["after"], limit=query["limit"]
        )
        return Response(page)
