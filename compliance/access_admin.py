"""The access ledger in the console: read-only for everyone, superusers included.

Compliance administrators (``compliance.browse_access_ledger``) browse every row, by user,
by session and by day, and download the list they filtered as CSV (a download that is itself
recorded: ``compliance.access.RECORDED``). A reviewer, who holds only the view permission,
sees their own rows and nothing of anyone else's.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from ingestion.admin import ListParamsChecked, list_params_check

from .access import ACCESS_CSV_HEADER, access_csv_rows
from .access_models import AccessRecord
from .csvout import csv_response

BROWSE_PERMISSION = "compliance.browse_access_ledger"


def access_browse_allowed(user: Any) -> bool:
    """Whether ``user`` may see everyone's rows (and export them)."""
    return user.has_perm(BROWSE_PERMISSION)


class SessionFilter(admin.SimpleListFilter):
    """One session's rows; the choices are the sessions looked at most recently."""

    title = "session"
    parameter_name = "session"
    RECENT = 10

    def lookups(self, request, model_admin):
        recent = (
            model_admin.get_queryset(request)
            .exclude(session_id=None)
            .order_by("-at")
            .values_list("session_id", flat=True)[: self.RECENT * 20]
        )
        shown = list(dict.fromkeys(recent))[: self.RECENT]
        chosen = self.value()
        if chosen and chosen not in map(str, shown):
            shown.insert(0, chosen)
        return [(str(pk), str(pk)[:8]) for pk in shown]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            session_id = uuid.UUID(self.value())
        except ValueError:
            raise IncorrectLookupParameters(f"{self.value()!r} is not a session id") from None
        return queryset.filter(session_id=session_id)


class AccessRecordAdmin(ListParamsChecked, admin.ModelAdmin):
    list_display = (
        "moment",
        "who",
        "action",
        "outcome_shown",
        "session_shown",
        "detail",
        "client_address",
        "status_code",
    )
    list_display_links = None
    list_filter = (("user", admin.RelatedOnlyFieldListFilter), SessionFilter, "action", "outcome")
    date_hierarchy = "at"
    ordering = ("-at", "-pk")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    change_list_template = "admin/compliance/accessrecord/change_list.html"
    readonly_fields = (
        "at",
        "username",
        "action",
        "outcome",
        "session_id",
        "detail",
        "view_name",
        "path",
        "method",
        "status_code",
        "client_address",
    )
    exclude = ("user",)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if access_browse_allowed(request.user):
            return queryset
        return queryset.filter(user=request.user)  # a reviewer's own rows

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_csv"
        return [
            path("csv/", self.admin_site.admin_view(self.csv_view), name=name),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"title": "Access ledger", **(extra_context or {})}
        if access_browse_allowed(request.user):
            query = request.GET.urlencode()
            extra["csv_url"] = reverse("admin:compliance_accessrecord_csv") + (
                f"?{query}" if query else ""
            )
        return super().changelist_view(request, extra)

    def csv_view(self, request: HttpRequest) -> HttpResponse:
        """The list as filtered on the page, every row of it, as CSV."""
        if not access_browse_allowed(request.user):
            raise PermissionDenied
        list_params_check(params=request.GET.lists(), date_field=self.date_hierarchy)
        records = self.get_changelist_instance(request).queryset
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return csv_response(
            f"agentops-access-ledger-{stamp}.csv", ACCESS_CSV_HEADER, access_csv_rows(records)
        )

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    # -- columns ----------------------------------------------------------------------------

    def _filtered(self, **params: Any) -> str:
        return reverse("admin:compliance_accessrecord_changelist") + "?" + urlencode(params)

    @admin.display(description="When", ordering="at")
    def moment(self, record):
        return timezone.localtime(record.at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="User", ordering="username")
    def who(self, record):
        if record.user_id is None:
            return "— not signed in"
        return format_html(
            '<a href="{}" title="Every row of this user">{}</a>',
            self._filtered(user__id__exact=record.user_id),
            record.username,
        )

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_shown(self, record):
        tone = {"allowed": "good", "refused": "bad", "failed": "partial"}[record.outcome]
        return format_html(
            '<span class="ao-badge ao-badge--{}">{}</span>', tone, record.get_outcome_display()
        )

    @admin.display(description="Session")
    def session_shown(self, record):
        if record.session_id is None:
            return "—"
        return format_html(
            '<a href="{}" class="ao-mono" title="Every row of session {}">{}</a>',
            self._filtered(session=record.session_id),
            record.session_id,
            str(record.session_id)[:8],
        )


admin.site.register(AccessRecord, AccessRecordAdmin)
