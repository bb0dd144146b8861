"""The transcript page of the session admin: the session read as a conversation
(``compliance.transcript``), linked from the session page. It reads; it changes nothing."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET

from . import transcript
from .reviewers import raw_payload_allowed


class TranscriptPagesMixin:
    """Mixed into the session admin before ``SessionPagesMixin`` (whose ``_session`` and
    ``_page_url`` it uses)."""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_transcript"
        return [
            path(
                "<str:object_id>/transcript/",
                self.admin_site.admin_view(self.transcript_view),
                name=name,
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        extra["transcript_url"] = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_transcript", args=[object_id]
        )
        return super().change_view(request, object_id, form_url, extra)

    @method_decorator(require_GET)
    def transcript_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session = self._session(request, object_id)
        if not self.has_view_permission(request, session):
            raise PermissionDenied
        shown = transcript.session_transcript(
            session=session,
            page_number=request.GET.get("page"),
            raw_allowed=raw_payload_allowed(request.user),
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Transcript of session {str(session.pk)[:8]}",
            "original": session,
            "transcript": shown,
            "session_url": self._page_url(session),
        }
        return TemplateResponse(request, "compliance/admin/transcript_page.html", context)
