"""Admin for projects and their API keys.

Sessions and events are evidence; their read-only console belongs to the compliance app.
"""

from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin

from .models import ApiKey, Project


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ("prefix", "name", "created", "expiry_date", "revoked")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # keys are created on their own page, which shows the key once


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    readonly_fields = ("created_at",)
    inlines = [ApiKeyInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a project's sessions are evidence


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    list_display = (*APIKeyModelAdmin.list_display, "project")
    list_filter = ("project", "revoked", "created")
    list_select_related = ("project",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: stored events keep pointing at the key that sent them
