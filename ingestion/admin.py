"""Admin for projects and their API keys, and the query-string checks every console list uses.

Sessions and events are evidence; their read-only console belongs to the compliance app.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.contrib import admin
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.template.response import TemplateResponse
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from .models import ApiKey, Project

# --------------------------------------------------------------------------------------
# List parameters
# --------------------------------------------------------------------------------------

# A date drill-down link of year Y reaches into year Y + 1; datetime stops at 9999.
_YEARS = range(1, 9999)


def _date_part(values: list[str] | None, upper: int) -> int | None:
    if values is None:
        return None
    value = values[-1]  # Django's ChangeList reads the last one too
    if not (value.isascii() and value.isdigit() and len(value) <= 4 and 1 <= int(value) <= upper):
        raise DisallowedModelAdminLookup(f"not a date part: {value[:20]!r}")
    return int(value)


def list_params_check(*, params: Iterable[tuple[str, list[str]]], date_field: str | None) -> None:
    """Raise ``DisallowedModelAdminLookup`` (answered 400) for a changelist query string that
    no database may be handed: a NUL character (PostgreSQL refuses it in any text) or a date
    drill-down outside the calendar ``datetime`` and the databases share."""
    params = dict(params)
    for key, values in params.items():
        if "\x00" in key or any("\x00" in value for value in values):
            raise DisallowedModelAdminLookup("a NUL character in the query string")
    if not date_field:
        return
    year = _date_part(params.get(f"{date_field}__year"), _YEARS[-1])
    month = _date_part(params.get(f"{date_field}__month"), 12)
    day = _date_part(params.get(f"{date_field}__day"), 31)
    if year is None and (month or day):
        raise DisallowedModelAdminLookup("a month or day without its year")
    if year is not None and year not in _YEARS:
        raise DisallowedModelAdminLookup(f"year {year} is out of range")
    if day is not None:
        try:
            date(year, month or 1, day)
        except ValueError as exc:
            raise DisallowedModelAdminLookup(str(exc)) from None


class CheckedChangeList(ChangeList):
    """A changelist that takes only the parameters its filters declare.

    Django's own turns any other ``field__lookup=value`` into a query (``agent_id__regex=(``
    fails inside the database, well after its checks), and answers a value a filter cannot
    use with a redirect to a "database error" page. Both are the caller's mistake: 400.
    """

    def __init__(self, request, *args, **kwargs):
        try:
            super().__init__(request, *args, **kwargs)
        except IncorrectLookupParameters as exc:
            raise DisallowedModelAdminLookup(f"unusable list parameters: {exc}") from None

    def get_filters(self, request):
        specs, has_filters, remaining, duplicates, active = super().get_filters(request)
        unknown = set(remaining)
        if self.date_hierarchy and f"{self.date_hierarchy}__year" in self.filter_params:
            # The range Django made of the drill-down's year, month and day.
            unknown -= {f"{self.date_hierarchy}__gte", f"{self.date_hierarchy}__lt"}
        if unknown:
            raise DisallowedModelAdminLookup(
                "not a filter of this list: " + ", ".join(sorted(unknown))[:200]
            )
        return specs, has_filters, remaining, duplicates, active


class ListParamsChecked:
    """Mixed into every ModelAdmin of the site: its changelist answers 400, never a server
    error, to a query string it cannot honour (``tests/security/test_admin_fuzz.py``)."""

    def changelist_view(self, request, extra_context=None):
        list_params_check(params=request.GET.lists(), date_field=self.date_hierarchy)
        return super().changelist_view(request, extra_context)

    def get_changelist(self, request, **kwargs):
        return CheckedChangeList


# --------------------------------------------------------------------------------------
# Projects and API keys
# --------------------------------------------------------------------------------------


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
class ProjectAdmin(ListParamsChecked, admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    readonly_fields = ("created_at",)
    inlines = [ApiKeyInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a project's sessions are evidence


@admin.register(ApiKey)
class ApiKeyAdmin(ListParamsChecked, APIKeyModelAdmin):
    list_display = (*APIKeyModelAdmin.list_display, "project")
    list_filter = ("project", "revoked", "created")
    list_select_related = ("project",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: stored events keep pointing at the key that sent them


# Users and groups: shown, never changed here. The service's database role may write only
# auth_user.last_login (db_grant_service_role), so users, groups and passwords are managed by
# the owner's commands (create_reviewer, createsuperuser, changepassword); a form that saved
# them would fail in the database.


class _ReadOnly:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _shown_read_only(model, model_admin_class) -> None:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    bases = (ListParamsChecked, _ReadOnly, model_admin_class)
    admin.site.register(model, type(model_admin_class.__name__, bases, {}))


_shown_read_only(get_user_model(), auth_admin.UserAdmin)
_shown_read_only(Group, auth_admin.GroupAdmin)
# The library's own key model is not the project's (ApiKey above) and holds no rows.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


def password_change_managed(request):
    """The console's "Change password" page: says who changes passwords, and how.

    Django's own form would write auth_user.password, which the service's role may not.
    """
    context = {
        **admin.site.each_context(request),
        "title": "Change password",
        "username": request.user.get_username(),
    }
    return TemplateResponse(request, "admin/password_change_managed.html", context)
