"""The session page of the compliance console and its actions.

Every view here reads; none changes evidence. Verifying re-reads the stored chain, and each
download or PDF view goes through ``compliance.services.export_render`` with the signed-in
user as the actor, so the export ledger records who received which bytes.
"""

from __future__ import annotations

import tempfile
from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from ingestion import services as ingestion_services
from ingestion.errors import IngestionError
from ingestion.models import Session, VerificationTrigger

from . import console, jobs, labels, services, statements
from .exports import archive
from .exports.context import Actor
from .models import ExportFormat, ExportJob
from .reviewers import raw_payload_allowed

MASKED_DOWNLOADS_NOTE = (
    "Your downloads are masked copies: you do not have the permission to view raw payloads, "
    "so the payload of every event holding personal data is withheld (its hash kept, so the "
    "file still verifies) and the session's agent id and metadata are masked. Each file says "
    "it is redacted, and the ledger records it as such."
)


class SessionPagesMixin:
    """Custom pages of the session admin: the read-only session page, Verify now, the PDF
    viewer and the downloads. Mixed into a ``ModelAdmin`` of ``ingestion.Session``."""

    def _url_name(self, page: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{page}"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<str:object_id>/verify/",
                wrap(self.verify_view),
                name=self._url_name("verify"),
            ),
            path("<str:object_id>/pdf/", wrap(self.pdf_page_view), name=self._url_name("pdf")),
            path(
                "<str:object_id>/pdf/file/",
                wrap(self.pdf_file_view),
                name=self._url_name("pdf_file"),
            ),
            path(
                "<str:object_id>/download/<str:fmt>/",
                wrap(self.download_view),
                name=self._url_name("download"),
            ),
            path(
                "<str:object_id>/export-job/<str:job_id>/",
                wrap(self.export_job_view),
                name=self._url_name("export_job"),
            ),
            path(
                "<str:object_id>/export-job/<str:job_id>/file/",
                wrap(self.export_job_file_view),
                name=self._url_name("export_job_file"),
            ),
            *super().get_urls(),
        ]

    def _session(self, request: HttpRequest, object_id: str) -> Session:
        session = self.get_object(request, unquote(object_id))
        if session is None:
            raise Http404("no such session")
        if not self.has_view_permission(request, session):
            raise PermissionDenied
        return session

    def _page_url(self, session: Session, page: str = "change") -> str:
        return reverse(f"admin:{self._url_name(page)}", args=[session.pk])

    # -- the session page -----------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Evidence is never edited: the page only shows, whoever asks.
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        session = self._session(request, object_id)
        page = console.session_page(
            session=session,
            page_number=request.GET.get("page"),
            raw_allowed=raw_payload_allowed(request.user),
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Session {str(session.pk)[:8]}",
            "subtitle": None,
            "original": session,
            "page": page,
            "label_for": labels.evidence_label,
            "verify_url": self._page_url(session, "verify"),
            "pdf_url": self._page_url(session, "pdf"),
            "download_url": lambda fmt: self._download_url(session, fmt),
            "downloads": self._downloads(session, masked=not raw_payload_allowed(request.user)),
            "download_note": None if raw_payload_allowed(request.user) else MASKED_DOWNLOADS_NOTE,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "compliance/admin/session_page.html", context)

    def _download_url(self, session: Session, fmt: str) -> str:
        return reverse(f"admin:{self._url_name('download')}", args=[session.pk, fmt])

    def _downloads(self, session: Session, *, masked: bool = False) -> list[tuple[str, str]]:
        suffix = " (masked)" if masked else ""
        labels = {
            ExportFormat.PDF: f"Download PDF{suffix}",
            ExportFormat.JSON: f"Download JSON{suffix}",
            ExportFormat.JSONL: f"Download JSONL{suffix}",
        }
        return [(self._download_url(session, fmt), label) for fmt, label in labels.items()]

    # -- actions ------------------------------------------------------------------------

    @method_decorator(require_POST)
    def verify_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session = self._session(request, object_id)
        if session.head_sequence is None:
            messages.info(request, statements.NO_EVENTS)
        else:
            report = ingestion_services.session_verify(
                session=session,
                trigger=VerificationTrigger.CONSOLE,
                actor=Actor.for_user(request.user),
            )
            verdict = labels.verdict_describe(report)
            level = messages.SUCCESS if report.get("status") == "PASS" else messages.ERROR
            messages.add_message(request, level, f"Verified just now: {verdict.message()}")
        return redirect(self._page_url(session))

    @method_decorator(require_GET)
    def pdf_page_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session = self._session(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"PDF report of session {str(session.pk)[:8]}",
            "original": session,
            "session_url": self._page_url(session),
            "pdf_file_url": self._page_url(session, "pdf_file"),
            "download_pdf_url": self._download_url(session, ExportFormat.PDF),
        }
        return TemplateResponse(request, "compliance/admin/session_pdf.html", context)

    # The admin page frames this PDF: same-origin framing only, never from another site.
    # A GET, because a frame can only GET; it is still an export, recorded in the ledger.
    @method_decorator(xframe_options_sameorigin)
    @method_decorator(require_GET)
    def pdf_file_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session = self._session(request, object_id)
        try:
            return self._export_response(request, session, ExportFormat.PDF, as_attachment=False)
        except services.RedactionImpossible as exc:
            # Inside a frame: the reason is the page, not a message after a redirect.
            return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")

    @method_decorator(require_POST)
    def download_view(self, request: HttpRequest, object_id: str, fmt: str) -> HttpResponse:
        session = self._session(request, object_id)
        if fmt not in ExportFormat.values:
            raise Http404("no such format")
        if jobs.export_needs_job(session=session, fmt=fmt):
            # Made by the export worker: the job's page shows its progress, then the file.
            try:
                job = jobs.export_job_create(
                    session=session,
                    fmt=fmt,
                    actor=Actor.for_user(request.user),
                    redact=not raw_payload_allowed(request.user),
                )
            except IngestionError as exc:
                messages.error(request, exc.message)
                return redirect(self._page_url(session))
            return redirect(self._job_url(session, job.pk))
        try:
            return self._export_response(request, session, fmt, as_attachment=True)
        except services.RedactionImpossible as exc:
            messages.error(request, str(exc))
            return redirect(self._page_url(session))

    # -- export jobs ----------------------------------------------------------------------

    def _job_url(self, session: Session, job_id: Any, page: str = "export_job") -> str:
        return reverse(f"admin:{self._url_name(page)}", args=[session.pk, job_id])

    def _job(self, request: HttpRequest, session: Session, job_id: str) -> ExportJob:
        """A job of this session that the user may see: a masked one, unless the user may
        see raw payloads."""
        try:
            job = jobs.export_job_get(project=session.project, job_id=job_id)
        except IngestionError as exc:
            raise Http404("no such export job") from exc
        if job.session_id != session.pk or (
            not job.redact and not raw_payload_allowed(request.user)
        ):
            raise Http404("no such export job")
        return job

    @method_decorator(require_GET)
    def export_job_view(self, request: HttpRequest, object_id: str, job_id: str) -> HttpResponse:
        session = self._session(request, object_id)
        jobs.export_jobs_recover()
        job = self._job(request, session, job_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Export of session {str(session.pk)[:8]}",
            "original": session,
            "session_url": self._page_url(session),
            "job": job,
            "status": jobs.export_job_status(job),
            "file_url": self._job_url(session, job.pk, "export_job_file"),
        }
        return TemplateResponse(request, "compliance/admin/export_job.html", context)

    @method_decorator(require_POST)
    def export_job_file_view(
        self, request: HttpRequest, object_id: str, job_id: str
    ) -> HttpResponse:
        session = self._session(request, object_id)
        job = self._job(request, session, job_id)
        try:
            fetched = jobs.export_job_fetch(job=job, actor=Actor.for_user(request.user))
        except IngestionError as exc:
            messages.error(request, exc.message)
            return redirect(self._job_url(session, job.pk))
        response = FileResponse(
            fetched.file,
            as_attachment=True,
            filename=fetched.file_name,
            content_type=fetched.content_type,
        )
        response["X-AgentOps-Export-Id"] = str(fetched.record.pk)
        response["X-AgentOps-Export-SHA256"] = fetched.record.sha256
        response["X-AgentOps-Redacted"] = "true" if fetched.record.redacted else "false"
        return response

    def _export_response(
        self, request: HttpRequest, session: Session, fmt: str, *, as_attachment: bool
    ) -> FileResponse:
        """The export as the user may see it: masked without the raw-payload permission."""
        rendered = services.export_render(
            session=session,
            fmt=fmt,
            actor=Actor.for_user(request.user),
            redact=not raw_payload_allowed(request.user),
        )
        response = FileResponse(
            rendered.file,
            as_attachment=as_attachment,
            filename=rendered.file_name,
            content_type=rendered.content_type,
        )
        response["X-AgentOps-Export-Id"] = str(rendered.record.pk)
        response["X-AgentOps-Export-SHA256"] = rendered.record.sha256
        response["X-AgentOps-Redacted"] = "true" if rendered.record.redacted else "false"
        return response

    # -- the bulk action ------------------------------------------------------------------

    def sessions_zip_response(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        count = queryset.count()
        if count > archive.ZIP_MAX_SESSIONS:
            self.message_user(
                request,
                f"Select at most {archive.ZIP_MAX_SESSIONS} sessions for one zip "
                f"({count} selected). For larger sets use manage.py export_sessions.",
                messages.ERROR,
            )
            return None
        # Handed to the response, which closes it once sent.
        target = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
        try:
            archive.sessions_zip_write(
                sessions=queryset.select_related("project").order_by("created_at", "pk"),
                actor=Actor.for_user(request.user),
                target=target,
                redact=not raw_payload_allowed(request.user),
            )
        except services.RedactionImpossible as exc:
            target.close()
            self.message_user(request, str(exc), messages.ERROR)
            return None
        except BaseException:
            target.close()
            raise
        target.seek(0)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return FileResponse(
            target,
            as_attachment=True,
            filename=f"agentops-sessions-{stamp}.zip",
            content_type="application/zip",
        )
