"""The console's admin site: Django's admin, opened on a landing page for reviewers
(``compliance.landing``) instead of a list of apps, with the console's own navigation."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse


class ComplianceAdminSite(admin.AdminSite):
    site_header = "AgentOps Replay — Compliance console"
    site_title = "AgentOps Replay — Compliance console"
    index_title = "Evidence of what AI agents did"
    # The service has no public site besides the API; the link would lead to a JSON 404.
    site_url = None
    # The pages are wide tables; a second menu beside them only pushes columns out of view.
    enable_nav_sidebar = False
    index_template = "admin/compliance/landing.html"

    def each_context(self, request):
        from compliance import landing

        context = super().each_context(request)
        if getattr(request, "user", None) is not None and request.user.is_active:
            context["console_sections"] = landing.navigation(
                user=request.user, registry=self._registry
            )
        return context

    def get_app_list(self, request, app_label=None):
        from compliance import landing

        return landing.app_list_for(
            user=request.user, app_list=super().get_app_list(request, app_label)
        )

    def index(self, request, extra_context=None):
        from compliance import console, landing

        context = {
            **self.each_context(request),
            "title": "What needs your attention",
            "subtitle": None,
            **landing.landing_context(
                user=request.user,
                registry=self._registry,
                reader=console.reader_for(request.user),
            ),
            # Superusers also see the models of the running of the service.
            "engineering": self.get_app_list(request) if request.user.is_superuser else [],
            **(extra_context or {}),
        }
        request.current_app = self.name
        return TemplateResponse(request, self.index_template, context)
