"""The compliance console: Django admin pages for evidence, read-only for everyone.

Sessions, events, policy findings and export ledger rows are evidence. No one, superusers
included, adds, changes or deletes them here: the permissions below say no, so the admin
shows no such buttons and refuses such requests (403); the database triggers refuse them
anyway. Reviewers (group "Compliance reviewers", migration 0003) may view everything;
payload values holding personal data are masked unless they also hold
``compliance.view_raw_payload``.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from compliance.formatting import moment_text, session_duration_text, wall_text
from ingestion.admin import ListParamsChecked
from ingestion.erasure_models import Erasure
from ingestion.models import Event, EvidenceClass, Session
from ingestion.selectors import sessions_with_latest_verification
from policy.masking import Reader
from policy.models import Findings

from . import access_admin, changelist, console, labels, landing  # noqa: F401  (registers)
from .admin_views import SessionPagesMixin
from .erasure_admin import ErasureAdmin, ErasurePagesMixin
from .find_admin import FIND_FILTERS, FindPagesMixin
from .matters_admin import SessionMattersMixin
from .models import ExportRecord
from .reading_admin import ErasureInWords, ExportRecordInWords, FindingsInWords
from .transcript_admin import TranscriptPagesMixin

admin.site.site_header = "AgentOps Replay — Compliance console"
admin.site.site_title = "AgentOps Replay — Compliance console"
admin.site.index_title = "Evidence of what AI agents did"
# The service has no public site besides the API; the link would lead to a JSON 404.
admin.site.site_url = None
# The pages are wide tables; a second menu beside them only pushes columns out of view.
admin.site.enable_nav_sidebar = False


# Who is reading the page being made: its cells are computed while it renders, from methods
# that get the row alone. Set by EvidenceAdmin around each of its views.
_reader: ContextVar[Reader | None] = ContextVar("console_reader", default=None)


def _project_of(obj: Any):
    if isinstance(obj, Session):
        return obj.project
    session = getattr(obj, "session", None)
    return session.project if session is not None else None


def _reader_now() -> Reader:
    """The reader of the page being made; one who sees everything masked when unknown."""
    return _reader.get() or Reader(raw_allowed=False)


def _shown(value: Any, obj: Any = None) -> str:
    """``value`` as ``text_shown`` shows it to the reader of the page being made, with
    the scanner of ``obj``'s project."""
    return _reader_now().text(value, project=None if obj is None else _project_of(obj))


@dataclass(frozen=True)
class _Named:
    """An object as a page names it: its key for links, its masked text for words."""

    pk: Any
    text: str

    def __str__(self) -> str:
        return self.text


class EvidenceAdmin(ListParamsChecked, admin.ModelAdmin):
    """Evidence is looked at, never edited: not by reviewers, not by superusers.

    Every text a producer or a policy chose is shown through ``_shown``: masked for readers
    without ``compliance.view_raw_payload``, as on the session page.
    """

    # Evidence tables grow large. Counting all rows again next to the filtered count, or
    # beside every filter choice, costs a scan each for numbers nobody needs.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    # Model fields shown on a read-only page by a method that masks them instead.
    fields_shown: dict[str, str] = {}

    def _as_reader(self, request, view, *args, **kwargs):
        token = _reader.set(console.reader_for(request.user))
        try:
            response = view(request, *args, **kwargs)
            # Rendered now, while the reader is known.
            if callable(getattr(response, "render", None)) and not response.is_rendered:
                response.render()
            return response
        finally:
            _reader.reset(token)

    def changelist_view(self, request, extra_context=None):
        # The list repeats its query string in the search box, in every filter link and in
        # every row's link; a search term or a filter value can be personal data. A reader
        # who sees it masked is sent to the same list with the query string masked.
        reader = console.reader_for(request.user)
        asked = [(key, value) for key, values in request.GET.lists() for value in values]
        shown = [(reader.text(key), reader.text(value)) for key, value in asked]
        if shown != asked:
            return redirect(f"{request.path}?{urlencode(shown)}")
        return self._as_reader(request, self.changelist_response, extra_context)

    def changelist_response(self, request, extra_context=None):
        """The changelist, not yet rendered: subclasses add to its context here."""
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._as_reader(
            request, self._changeform_response, object_id, form_url, extra_context
        )

    def _changeform_response(self, request, object_id, form_url, extra_context):
        response = super().changeform_view(request, object_id, form_url, extra_context)
        context = getattr(response, "context_data", None)
        if context and context.get("original") is not None:
            # The object's own name (breadcrumbs, subtitle, <title>) holds an agent id.
            obj = context["original"]
            named = _Named(obj.pk, _shown(str(obj), obj))
            context.update(original=named, subtitle=str(named))
        return response

    def history_view(self, request, object_id, extra_context=None):
        return self._as_reader(request, self._history_response, object_id, extra_context)

    def _history_response(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        context = getattr(response, "context_data", None)
        if context and context.get("object") is not None:
            obj = context["object"]
            named = _Named(obj.pk, _shown(str(obj), obj))
            context.update(object=named, title=f"Change history: {named}")
        return response

    def action_checkbox(self, obj):
        # Its label names the row by its own name, which can hold an agent id.
        return super().action_checkbox(_Named(obj.pk, _shown(str(obj), obj)))

    def get_fields(self, request, obj=None):
        fields = [self.fields_shown.get(name, name) for name in super().get_fields(request, obj)]
        return list(dict.fromkeys(fields))

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), *self.fields_shown.values())

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _moment(value) -> str:
    return moment_text(value)


def _badge(tone: str, symbol: str, text: str, title: str = ""):
    return format_html(
        '<span class="ao-badge ao-badge--{}" title="{}"><span aria-hidden="true">{}</span> {}'
        "</span>",
        tone,
        title or text,
        symbol,
        text,
    )


def _short(session_id) -> str:
    return str(session_id)[:8]


def _session_link(session_id):
    """A session named by its id alone (its own name holds the agent id)."""
    url = reverse("admin:ingestion_session_change", args=[session_id])
    return format_html('<a href="{}" class="ao-mono">{}</a>', url, session_id)


# --------------------------------------------------------------------------------------
# Session list filters
# --------------------------------------------------------------------------------------


class EvidenceClassFilter(admin.SimpleListFilter):
    title = "evidence"
    parameter_name = "evidence_class"
    NOT_SEALED = "none"

    def lookups(self, request, model_admin):
        classes = [
            EvidenceClass.AUTHORITATIVE,
            EvidenceClass.PARTIAL_AUTHORITATIVE,
            EvidenceClass.NON_AUTHORITATIVE,
            EvidenceClass.FAILED,
        ]
        return [(value.value, labels.evidence_label(value).headline) for value in classes] + [
            (self.NOT_SEALED, labels.evidence_label(None).headline)
        ]

    def queryset(self, request, queryset):
        value = self.value()
        # The class a reader is shown: the latest verification's (SessionAdmin annotates it),
        # so a session found failing after its seal is listed as failed, not as sealed.
        if value == self.NOT_SEALED:
            return queryset.filter(current_evidence_class__isnull=True)
        if value in EvidenceClass.values:
            return queryset.filter(current_evidence_class=value)
        return queryset


class SealedFilter(admin.SimpleListFilter):
    title = "sealed"
    parameter_name = "sealed"

    def lookups(self, request, model_admin):
        long = f"Open, nothing recorded for {landing.unsealed_hours()} h"
        return [("yes", "Sealed"), ("no", "Still open"), ("long", long)]

    def queryset(self, request, queryset):
        if self.value() == "long":
            return landing.sessions_unsealed_long(queryset)
        if self.value() in ("yes", "no"):
            return queryset.filter(sealed_at__isnull=self.value() == "no")
        return queryset


class AgentFilter(admin.SimpleListFilter):
    """The agents, named as the reader sees them: a choice is an agent id as shown, masked
    or not, and selects every session whose agent id is shown so."""

    title = "agent"
    parameter_name = "agent_id"

    def lookups(self, request, model_admin):
        self.agents = changelist.agents_shown(reader=_reader_now())
        return [(text, text) for text in self.agents]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(changelist.agents_condition(self.agents.get(value, ())))


class _LatestFindingsFilter(admin.SimpleListFilter):
    """Filters on a count of the session's latest policy findings (annotated, see below)."""

    annotation = ""
    labels: tuple[str, str, str] = ("", "", "")

    def lookups(self, request, model_admin):
        return list(zip(("found", "none", "unevaluated"), self.labels, strict=True))

    def queryset(self, request, queryset):
        value = self.value()
        if value == "found":
            return queryset.filter(**{f"{self.annotation}__gt": 0})
        if value == "none":
            return queryset.filter(**{self.annotation: 0})
        if value == "unevaluated":
            return queryset.filter(**{f"{self.annotation}__isnull": True})
        return queryset


class PiiExposureFilter(_LatestFindingsFilter):
    title = "personal data"
    parameter_name = "pii"
    annotation = "latest_pii_count"
    labels = ("Personal data found", "None found", "Not evaluated yet")


class PolicyViolationsFilter(_LatestFindingsFilter):
    title = "policy violations"
    parameter_name = "violations"
    annotation = "latest_rules_failed"
    labels = ("Rules broken", "No rule broken", "Not evaluated yet")


# --------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------


@admin.register(Session)
class SessionAdmin(
    FindPagesMixin,
    SessionMattersMixin,
    TranscriptPagesMixin,
    ErasurePagesMixin,
    SessionPagesMixin,
    EvidenceAdmin,
):
    # Fits a 1280 px screen beside the filters (test_browser_read): the project is shown
    # under the agent, and "Not sealed" is an evidence class of its own.
    list_display = (
        "short_id",
        "agent",
        "started",
        "duration",
        "events",
        "evidence",
        "personal_data",
        "policy_violations",
    )
    list_display_links = ("short_id",)
    list_filter = (
        EvidenceClassFilter,
        SealedFilter,
        "project",
        AgentFilter,
        PiiExposureFilter,
        PolicyViolationsFilter,
        *FIND_FILTERS,
    )
    list_select_related = ("project",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-pk")
    # Searching is done by get_search_results; a field here only shows the search box.
    search_fields = ("agent_id",)
    search_help_text = "Session id (or its first characters), agent id, or an event id."
    actions = ["export_zip"]

    def get_queryset(self, request):
        # The latest evaluation's counts, as columns of the same query: no query per row,
        # and filterable. The (session, -evaluated_at) index answers each subquery.
        latest = Findings.objects.filter(session=OuterRef("pk")).order_by("-evaluated_at", "-pk")
        # The latest verification likewise (ingestion.selectors), for the evidence column.
        return sessions_with_latest_verification(super().get_queryset(request)).annotate(
            latest_pii_count=Subquery(latest.values("pii_count")[:1]),
            latest_rules_failed=Subquery(latest.values("rules_failed")[:1]),
        )

    def changelist_response(self, request, extra_context=None):
        extra_context = {"title": "Sessions", **(extra_context or {})}
        response = super().changelist_response(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            # Used by templates/admin/ingestion/session/change_list.html.
            context["date_drilldown"] = changelist.date_hierarchy(context["cl"])
        return response

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return changelist.sessions_matching(queryset, term, reader=_reader_now()), False

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return changelist.EstimatingPaginator(queryset, per_page, orphans, allow_empty_first_page)

    @admin.display(description="Session")
    def short_id(self, session):
        return format_html(
            '<span class="ao-mono" title="{}">{}</span>', session.pk, _short(session.pk)
        )

    @admin.display(description="Agent and project", ordering="agent_id")
    def agent(self, session):
        return format_html(
            '{}<span class="ao-quiet ao-under">{}</span>',
            _shown(session.agent_id, session),
            _shown(session.project.name, session),
        )

    @admin.display(description="Started", ordering="created_at")
    def started(self, session):
        return moment_text(session.created_at)

    @admin.display(description=labels.DURATION_LABEL)
    def duration(self, session):
        return format_html(
            '<span title="{}">{}</span>', labels.DURATION_MEANING, session_duration_text(session)
        )

    @admin.display(description="Events", ordering="event_count")
    def events(self, session):
        return session.event_count

    @admin.display(description="Evidence")
    def evidence(self, session):
        label = labels.evidence_label(session.current_evidence_class)
        title = label.headline
        if session.current_evidence_class is not None:
            title += "; " + labels.verification_when(
                session.latest_verification_verified_at, session.latest_verification_trigger
            )
        if session.sealed_at is not None:
            title += f"; sealed {_moment(session.sealed_at)}"
        return _badge(label.tone, label.symbol, label.short, title)

    @admin.display(description="Sealed")
    def sealed(self, session):
        if session.sealed_at is None:
            return _badge("open", "○", "Open", "Not sealed yet: events may still arrive")
        return _badge("plain", "●", "Sealed", f"Sealed {_moment(session.sealed_at)}")

    @admin.display(description="Personal data")
    def personal_data(self, session):
        count = session.latest_pii_count
        if count is None:
            return _badge("open", "…", "Not evaluated")
        if count == 0:
            return _badge("plain", "—", "None found")
        return _badge("partial", "!", f"{count} found", f"{count} values hold personal data")

    @admin.display(description="Policy")
    def policy_violations(self, session):
        count = session.latest_rules_failed
        if count is None:
            return _badge("open", "…", "Not evaluated")
        if count == 0:
            return _badge("good", "✓", "No violation")
        return _badge("bad", "✕", f"{count} broken", f"{count} policy rules broken")

    @admin.action(description="Export selected sessions as a zip (JSON + PDF, with manifest)")
    def export_zip(self, request, queryset):
        return self.sessions_zip_response(request, queryset)


# --------------------------------------------------------------------------------------
# Events, findings, the export ledger
# --------------------------------------------------------------------------------------


@admin.register(Event)
class EventAdmin(EvidenceAdmin):
    """Events are read on their session's page; this list finds an event by its id."""

    list_display = ("event", "session_link", "sequence_number", "event_type", "producer_time")
    list_display_links = None
    search_fields = ("=event_id",)
    search_help_text = "The event's id, exactly."
    ordering = ("-pk",)

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return changelist.EstimatingPaginator(queryset, per_page, orphans, allow_empty_first_page)

    @admin.display(description="Event id", ordering="event_id")
    def event(self, event):
        return _shown(event.event_id)

    @admin.display(description="Producer's clock")
    def producer_time(self, event):
        return wall_text(_shown(event.timestamp_wall))

    @admin.display(description="Session")
    def session_link(self, event):
        url = reverse("admin:ingestion_event_change", args=[event.pk])
        return format_html('<a href="{}" class="ao-mono">{}</a>', url, _short(event.session_id))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        event = self.get_object(request, object_id)
        if event is None or not self.has_view_permission(request, event):
            return super().change_view(request, object_id, form_url, extra_context)
        page = console.timeline_page_of(event.sequence_number)
        url = reverse("admin:ingestion_session_change", args=[event.session_id])
        return redirect(f"{url}?page={page}#event-{event.sequence_number}")


@admin.register(Findings)
class FindingsAdmin(FindingsInWords, EvidenceAdmin):
    list_display = (
        "session_short",
        "policy_name",
        "evaluated_at",
        "passed",
        "pii_count",
        "rules_failed",
    )
    list_filter = ("passed", "policy_name")
    ordering = ("-evaluated_at", "-pk")
    # The long lists (every PII finding, every tool call) are read on the session page.
    fields = (
        "session",
        "policy_name",
        "policy_sha256",
        "evaluated_at",
        "passed",
        "event_count",
        "pii_count",
        "rules_failed",
        "summary",
        "rule_results",
    )

    fields_shown = {"session": "session_ref", "rule_results": "rules"}

    def get_queryset(self, request):
        return super().get_queryset(request).defer("pii_findings", "tool_audit")

    @admin.display(description="Session", ordering="session")
    def session_short(self, findings):
        return format_html('<span class="ao-mono">{}</span>', _short(findings.session_id))

    @admin.display(description="Session")
    def session_ref(self, findings):
        return _session_link(findings.session_id)

    @admin.display(description="Rule results")
    def rules(self, findings):
        text = json.dumps(findings.rule_results, indent=2, ensure_ascii=False)
        return format_html('<pre class="ao-payload">{}</pre>', _shown(text, findings))


@admin.register(ExportRecord)
class ExportRecordAdmin(ExportRecordInWords, EvidenceAdmin):
    list_display = (
        "recorded_at",
        "session_short",
        "format",
        "actor_shown",
        "channel",
        "verification_status",
        "evidence_class",
        "sha256_short",
    )
    list_filter = ("format", "channel", "verification_status", "delivered")
    date_hierarchy = "recorded_at"
    ordering = ("-recorded_at", "-pk")
    search_fields = ("=sha256", "actor")
    search_help_text = "A file's full SHA-256, or part of the actor's name."
    fields_shown = {"session": "session_ref", "actor": "actor_shown"}
    list_select_related = ("session__project",)

    @admin.display(description="Session", ordering="session")
    def session_short(self, record):
        return format_html('<span class="ao-mono">{}</span>', _short(record.session_id))

    @admin.display(description="Session")
    def session_ref(self, record):
        return _session_link(record.session_id)

    @admin.display(description="Actor", ordering="actor")
    def actor_shown(self, record):
        return _shown(record.actor, record)

    @admin.display(description="SHA-256")
    def sha256_short(self, record):
        return format_html(
            '<span class="ao-mono" title="{}">{}…</span>', record.sha256, record.sha256[:12]
        )


admin.site.register(Erasure, type("ErasureAdmin", (ErasureInWords, ErasureAdmin), {}))


# The export queue's own admin (django_tasks_db) is not part of the console: jobs are shown
# on their session's pages.
def _queue_admin_remove() -> None:
    from django_tasks_db.models import DBTaskResult

    if admin.site.is_registered(DBTaskResult):
        admin.site.unregister(DBTaskResult)


_queue_admin_remove()
