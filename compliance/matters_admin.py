"""The console's pages for matters and notes.

``MatterAdmin``: the list of matters, "Open a matter", and a matter's page (its sessions,
notes and history; tag, untag, note, export). ``SessionMattersMixin`` adds the "Matters and
notes" section to a session page, with its forms. Every view parses the request, calls one
service of ``compliance.matters`` and redirects with a message; a refusal is a message with
its code, never an error page.
"""

from __future__ import annotations

import tempfile
from datetime import UTC
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from ingestion.admin import ListParamsChecked
from ingestion.errors import IngestionError

from . import matter_console, matters, services
from .exports.context import Actor
from .matter_models import MATTER_DESCRIPTION_MAX, MATTER_NAME_MAX, Matter
from .reviewers import raw_payload_allowed


def _refused(request: HttpRequest, exc: IngestionError) -> None:
    messages.error(request, f"{exc.message} ({exc.code})")


class MatterForm(forms.Form):
    name = forms.CharField(max_length=MATTER_NAME_MAX, strip=False)
    description = forms.CharField(
        required=False,
        max_length=MATTER_DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What the matter is about (optional). A matter is never renamed.",
    )


@admin.register(Matter)
class MatterAdmin(ListParamsChecked, admin.ModelAdmin):
    list_display = ("name", "sessions_now", "opened_by", "opened")
    list_display_links = ("name",)
    search_fields = ("name",)
    ordering = ("-created_at", "-pk")
    show_full_result_count = False

    def get_queryset(self, request):
        current = (
            matters.current_tags()
            .filter(matter=OuterRef("pk"))
            .order_by()
            .values("matter")
            .annotate(n=Count("id"))
            .values("n")
        )
        return super().get_queryset(request).annotate(sessions_count=Coalesce(Subquery(current), 0))

    @admin.display(description="Sessions", ordering="sessions_count")
    def sessions_now(self, matter: Matter) -> int:
        return matter.sessions_count  # type: ignore[attr-defined]

    @admin.display(description="Opened by", ordering="created_by_name")
    def opened_by(self, matter: Matter) -> str:
        return matter.created_by_name

    @admin.display(description="Opened (UTC)", ordering="created_at")
    def opened(self, matter: Matter) -> str:
        return matter.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Matters", **(extra_context or {})})

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _url_name(self, page: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{page}"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<str:object_id>/note/", wrap(self.note_view), name=self._url_name("note")),
            path("<str:object_id>/tag/", wrap(self.tag_view), name=self._url_name("tag")),
            path("<str:object_id>/untag/", wrap(self.untag_view), name=self._url_name("untag")),
            path("<str:object_id>/export/", wrap(self.export_view), name=self._url_name("export")),
            *super().get_urls(),
        ]

    def _matter(self, request: HttpRequest, object_id: str) -> Matter:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            return matters.matter_get(pk=unquote(object_id))
        except IngestionError:
            raise Http404("no such matter") from None

    def _page_url(self, matter: Matter, anchor: str = "") -> str:
        url = reverse(f"admin:{self._url_name('change')}", args=[matter.pk])
        return f"{url}#{anchor}" if anchor else url

    # -- opening a matter -----------------------------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = MatterForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                matter = matters.matter_create(
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    user=request.user,
                )
            except IngestionError as exc:
                field = "description" if exc.code == "MATTER_DESCRIPTION_INVALID" else "name"
                form.add_error(field, f"{exc.message} ({exc.code})")
            else:
                messages.success(request, f"Matter “{matter.name}” opened.")
                return redirect(self._page_url(matter))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Open a matter",
            "form": form,
        }
        return TemplateResponse(request, "compliance/admin/matter_add.html", context)

    # -- the matter page ------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A matter is never edited: its page only shows, and its forms post elsewhere.
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        matter = self._matter(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Matter: {matter.name}",
            "original": matter,
            "page": matter_console.matter_page(matter=matter, user=request.user),
            "note_url": reverse(f"admin:{self._url_name('note')}", args=[matter.pk]),
            "tag_url": reverse(f"admin:{self._url_name('tag')}", args=[matter.pk]),
            "untag_url": reverse(f"admin:{self._url_name('untag')}", args=[matter.pk]),
            "export_url": reverse(f"admin:{self._url_name('export')}", args=[matter.pk]),
            "masked_export": not raw_payload_allowed(request.user),
        }
        return TemplateResponse(request, "compliance/admin/matter_page.html", context)

    @method_decorator(require_POST)
    def note_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        matter = self._matter(request, object_id)
        if not matter_console.Allowed.for_user(request.user).note:
            raise PermissionDenied
        try:
            matters.note_add(user=request.user, text=request.POST.get("text"), matter=matter)
        except IngestionError as exc:
            _refused(request, exc)
        else:
            messages.success(request, "Note added.")
        return redirect(self._page_url(matter, "notes"))

    @method_decorator(require_POST)
    def tag_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        matter = self._matter(request, object_id)
        if not matter_console.Allowed.for_user(request.user).tag:
            raise PermissionDenied
        try:
            session = matters.session_lookup(request.POST.get("session"))
            matters.matter_session_tag(matter=matter, session=session, user=request.user)
        except IngestionError as exc:
            _refused(request, exc)
        else:
            messages.success(request, f"Session {str(session.pk)[:8]} added to the matter.")
        return redirect(self._page_url(matter, "sessions"))

    @method_decorator(require_POST)
    def untag_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        matter = self._matter(request, object_id)
        if not matter_console.Allowed.for_user(request.user).tag:
            raise PermissionDenied
        try:
            session = matters.session_lookup(request.POST.get("session"))
            matters.matter_session_untag(
                matter=matter,
                session=session,
                user=request.user,
                reason=request.POST.get("reason", ""),
            )
        except IngestionError as exc:
            _refused(request, exc)
        else:
            messages.success(request, f"Session {str(session.pk)[:8]} taken out of the matter.")
        return redirect(self._page_url(matter, "sessions"))

    @method_decorator(require_POST)
    def export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        matter = self._matter(request, object_id)
        if not matter_console.Allowed.for_user(request.user).export:
            raise PermissionDenied
        # Handed to the response, which closes it once sent.
        target = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
        try:
            made = matters.matter_export_write(
                matter=matter,
                actor=Actor.for_user(request.user),
                target=target,
                redact=not raw_payload_allowed(request.user),
                bounded=True,
            )
        except (IngestionError, services.RedactionImpossible) as exc:
            target.close()
            if isinstance(exc, IngestionError):
                _refused(request, exc)
            else:
                messages.error(request, str(exc))
            return redirect(self._page_url(matter))
        except BaseException:
            target.close()
            raise
        target.seek(0)
        response = FileResponse(
            target, as_attachment=True, filename=made.file_name, content_type="application/zip"
        )
        response["X-AgentOps-Matter-Sessions"] = str(made.manifest["summary"]["sessions"])
        return response


class SessionMattersMixin:
    """The "Matters and notes" section of the session page and its three forms; mixed into
    the session admin before ``SessionPagesMixin``."""

    def _matters_url_name(self, page: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{page}"  # type: ignore[attr-defined]

    def get_urls(self):
        wrap = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path(
                "<str:object_id>/matters/tag/",
                wrap(self.session_tag_view),
                name=self._matters_url_name("matter_tag"),
            ),
            path(
                "<str:object_id>/matters/untag/",
                wrap(self.session_untag_view),
                name=self._matters_url_name("matter_untag"),
            ),
            path(
                "<str:object_id>/notes/",
                wrap(self.session_note_view),
                name=self._matters_url_name("note"),
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        if request.method in ("GET", "HEAD"):
            session = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
            if session is not None:
                extra["matters_panel"] = matter_console.session_panel(
                    session=session, user=request.user
                )
                extra["matters_urls"] = {
                    page: reverse(f"admin:{self._matters_url_name(page)}", args=[session.pk])
                    for page in ("matter_tag", "matter_untag", "note")
                }
        return super().change_view(request, object_id, form_url, extra)  # type: ignore[misc]

    def _back(self, session: Any) -> HttpResponse:
        url = reverse(f"admin:{self._matters_url_name('change')}", args=[session.pk])
        return redirect(f"{url}#matters")

    @method_decorator(require_POST)
    def session_tag_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session = self._session(request, object_id)  # type: ignore[attr-defined]
        if not matter_console.Allowed.for_user(request.user).tag:
            raise PermissionDenied
        try:
            matter = matters.matter_get(name=request.POST.get("matter"))
            matters.matter_session_tag(matter=matter, session=session, user=request.user)
        except IngestionError as exc:
            _refused(request, exc)
        else:
            messages.success(request, f"Session added to the matter “{matter.name}”.")
        return self._back(session)

    @method_decorator(require_POST)
    def session_untag_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session = self._session(request, object_id)  # type: ignore[attr-defined]
        if not matter_console.Allowed.for_user(request.user).tag:
            raise PermissionDenied
        try:
            matter = matters.matter_get(pk=request.POST.get("matter_id"))
            matters.matter_session_untag(
                matter=matter,
                session=session,
                user=request.user,
                reason=request.POST.get("reason", ""),
            )
        except IngestionError as exc:
            _refused(request, exc)
        else:
            messages.success(request, f"Session taken out of the matter “{matter.name}”.")
        return self._back(session)

    @method_decorator(require_POST)
    def session_note_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session = self._session(request, object_id)  # type: ignore[attr-defined]
        if not matter_console.Allowed.for_user(request.user).note:
            raise PermissionDenied
        try:
            matters.note_add(user=request.user, text=request.POST.get("text"), session=session)
        except IngestionError as exc:
            _refused(request, exc)
        else:
            messages.success(request, "Note added.")
        return self._back(session)


__all__ = ["MatterAdmin", "SessionMattersMixin"]
