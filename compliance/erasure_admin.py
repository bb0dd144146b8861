"""The console's side of erasure: "Erase personal data…" on the session page (dry run, then a
confirmation that requires a request reference), and the erasure ledger, read-only.

Only holders of ``ingestion.erase_personal_data`` (the "Data protection officers" group) may
erase; a superuser without it may not (``reviewers.erase_allowed``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from ingestion.admin import ListParamsChecked
from ingestion.errors import IngestionError
from ingestion.models import Session

from . import erasure
from .exports.context import Actor
from .reviewers import erase_allowed


class ErasureForm(forms.Form):
    subject = forms.CharField(
        required=False,
        help_text="An e-mail address, phone number, SSN, card number or IBAN: its events in "
        "this session. Leave empty and name events below instead.",
    )
    events = forms.CharField(
        required=False, help_text="Sequence numbers separated by commas, e.g. 3,7"
    )
    request_ref = forms.CharField(label="Request reference", max_length=200, required=False)
    reason = forms.CharField(
        label="Legal basis / reason", max_length=500, initial="GDPR Art. 17 request"
    )

    def clean_events(self) -> list[int] | None:
        text = self.cleaned_data["events"].strip()
        if not text:
            return None
        try:
            numbers = [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError("sequence numbers separated by commas") from None
        if any(n < 0 for n in numbers):
            raise forms.ValidationError("sequence numbers are not negative")
        return numbers

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("subject") and not data.get("events"):
            raise forms.ValidationError("Name a subject or the events to erase.")
        return data


class ErasurePagesMixin:
    """The erase page of the session admin; mixed in before ``SessionPagesMixin``."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}_erase"
        return [
            path("<str:object_id>/erase/", wrap(self.erase_view), name=name),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        if erase_allowed(request.user):
            extra["erase_url"] = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_erase", args=[object_id]
            )
        return super().change_view(request, object_id, form_url, extra)

    def erase_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not erase_allowed(request.user):
            raise PermissionDenied
        session: Session = self._session(request, object_id)
        form = ErasureForm(request.POST if request.method == "POST" else request.GET or None)
        plan = None
        if form.is_bound and form.is_valid():
            try:
                plan = erasure.erasure_plan(
                    project=session.project,
                    subject=form.cleaned_data["subject"] or None,
                    session=session,
                    sequence_numbers=form.cleaned_data["events"],
                )
            except IngestionError as exc:
                form.add_error(None, exc.message)
        if request.method == "POST" and plan is not None:
            if not form.cleaned_data["request_ref"].strip():
                form.add_error("request_ref", "An erasure needs the request's reference.")
            else:
                return self._erase(request, session, plan, form)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Erase personal data from session {str(session.pk)[:8]}",
            "original": session,
            "form": form,
            "plan": plan,
            "session_url": self._page_url(session),
        }
        return TemplateResponse(request, "compliance/admin/erase_page.html", context)

    def _erase(self, request, session, plan, form) -> HttpResponse:
        try:
            report = erasure.erasure_execute(
                plan=plan,
                request_ref=form.cleaned_data["request_ref"],
                reason=form.cleaned_data["reason"],
                caller=Actor.for_user(request.user),
            )
        except IngestionError as exc:
            messages.error(request, exc.message)
            return redirect(self._page_url(session))
        erased = sum(e["erased_now"] for s in report["sessions"] for e in s["events"])
        messages.success(
            request,
            f"Erased the payloads of {erased} event(s) under request "
            f"{form.cleaned_data['request_ref']}; the chain and its seal still verify. "
            f"{len(report['exports_already_handed_out'])} earlier export(s) held them.",
        )
        return redirect(self._page_url(session))


class ErasureAdmin(ListParamsChecked, admin.ModelAdmin):
    """The erasure ledger, read-only for everyone."""

    list_display = ("erased_at", "request_ref", "session", "sequence_number", "actor", "reason")
    list_filter = ("erased_at",)
    search_fields = ("request_ref",)
    ordering = ("-erased_at", "-pk")
    list_select_related = ("session",)
    show_full_result_count = False
    readonly_fields = (
        "session",
        "sequence_number",
        "event_id",
        "payload_hash",
        "erased_at",
        "request_ref",
        "reason",
        "actor",
        "user",
    )
    exclude = ("transaction_id",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
