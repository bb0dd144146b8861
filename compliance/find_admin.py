"""The session list's find tools (``compliance.find``) in the console: filters of the side
bar, the person search, saved filters and the list as CSV.

URL names (all under /admin/ingestion/session/find/, for signed-in readers of sessions):

- ``admin:ingestion_session_find_person`` POST: reads the person typed, redirects to the list
  of their sessions (``?person=<token>``);
- ``admin:ingestion_session_find_save`` POST: saves the list's query string under a name;
- ``admin:ingestion_session_find_forget`` POST: deletes one of the reader's saved filters;
- ``admin:ingestion_session_find_csv`` GET: the list, every page, with the same query string,
  as CSV.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from ingestion.admin import list_params_check

from . import console, find
from .csvout import csv_response

# --------------------------------------------------------------------------------------
# Filters of the side bar
# --------------------------------------------------------------------------------------


class _FormFilter(admin.ListFilter):
    """A filter the reviewer types into: a small GET form that keeps the list's other
    parameters. A value it cannot use leaves the list empty and says why (a message), so
    nothing unfiltered is ever shown as if it were filtered."""

    template = "admin/compliance/form_filter.html"
    #: (parameter, label, input type, placeholder)
    inputs: tuple[tuple[str, str, str, str], ...] = ()

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.expected_parameters():
            if name in params:
                value = params.pop(name)
                self.used_parameters[name] = value[-1] if isinstance(value, list) else value
        self.error: find.FindError | None = None

    def expected_parameters(self) -> list[str]:
        return [name for name, *_ in self.inputs]

    def has_output(self) -> bool:
        return True

    def value(self, name: str) -> str:
        return self.used_parameters.get(name, "")

    def choices(self, changelist):
        own = set(self.expected_parameters()) | {"p"}
        yield {
            "inputs": [
                {
                    "name": name,
                    "label": label,
                    "type": kind,
                    "placeholder": hint,
                    "value": self.value(name),
                }
                for name, label, kind, hint in self.inputs
            ],
            "kept": [
                (key, value)
                for key, values in changelist.filter_params.items()
                if key not in own
                for value in values
            ],
            "active": any(self.value(name) for name in own),
            "clear": changelist.get_query_string(remove=list(own)),
            # As every filter's choice has it: the list without this filter.
            "query_string": changelist.get_query_string(remove=list(own)),
            "selected": False,
        }

    def queryset(self, request, queryset):
        if not any(self.value(name) for name in self.expected_parameters()):
            return queryset
        try:
            return self.narrowed(queryset)
        except find.FindError as exc:
            self.error = exc
            messages.error(request, exc.message)
            return queryset.none()

    def narrowed(self, queryset):
        raise NotImplementedError


class DateRangeFilter(_FormFilter):
    title = "date started"
    inputs = (
        (find.DATE_FROM, "From", "date", "YYYY-MM-DD"),
        (find.DATE_TO, "To", "date", "YYYY-MM-DD"),
    )

    def narrowed(self, queryset):
        lower, upper = find.date_range(
            start=self.value(find.DATE_FROM), end=self.value(find.DATE_TO)
        )
        return find.sessions_in_range(queryset, lower=lower, upper=upper)


class ToolFilter(_FormFilter):
    title = "tool called"
    inputs = ((find.TOOL, "Tool name", "text", "exact name, e.g. lookup_order"),)

    def narrowed(self, queryset):
        tool = find.name_read(self.value(find.TOOL), label="tool")
        return find.sessions_using_tool(queryset, tool=tool) if tool else queryset


class RuleFilter(_FormFilter):
    title = "policy rule broken"
    inputs = ((find.RULE, "Rule name", "text", "exact name, e.g. no-card-numbers"),)

    def narrowed(self, queryset):
        rule = find.name_read(self.value(find.RULE), label="rule")
        return find.sessions_breaking_rule(queryset, rule=rule) if rule else queryset


class PersonFilter(_FormFilter):
    """The sessions of a person searched for (``?person=<token>``): shown only while one is
    asked for; the search itself is the form above the list."""

    title = "person"
    template = "admin/compliance/person_filter.html"
    inputs = ((find.PERSON, "", "hidden", ""),)

    def has_output(self) -> bool:
        return bool(self.value(find.PERSON))

    def choices(self, changelist):
        for choice in super().choices(changelist):
            person = getattr(self, "person", None)
            yield {**choice, "described": person.described if person else ""}

    def narrowed(self, queryset):
        self.person = find.person_recall(store=self.request.session, token=self.value(find.PERSON))
        return find.sessions_of_person(queryset, person=self.person)


FIND_FILTERS = (DateRangeFilter, ToolFilter, RuleFilter, PersonFilter)


# --------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------


class FindPagesMixin:
    """Mixed into the session admin: the person search, saved filters and the CSV."""

    def _find_url(self, what: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_find_{what}"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("find/person/", wrap(self.find_person_view), name=self._find_url("person")),
            path("find/save/", wrap(self.find_save_view), name=self._find_url("save")),
            path("find/forget/", wrap(self.find_forget_view), name=self._find_url("forget")),
            path("find/csv/", wrap(self.find_csv_view), name=self._find_url("csv")),
            *super().get_urls(),
        ]

    def changelist_response(self, request, extra_context=None):
        response = super().changelist_response(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            query = [(k, v) for k, v in find.list_params(request.GET) if k != "p"]
            context["find"] = {
                "person_url": reverse(f"admin:{self._find_url('person')}"),
                "save_url": reverse(f"admin:{self._find_url('save')}"),
                "forget_url": reverse(f"admin:{self._find_url('forget')}"),
                "csv_url": reverse(f"admin:{self._find_url('csv')}")
                + (f"?{urlencode(query)}" if query else ""),
                "query": urlencode(query),
                "saved": find.saved_filters_of(user=request.user),
                "list_url": reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"
                ),
            }
        return response

    def _list_redirect(self, pairs) -> HttpResponse:
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        return redirect(f"{url}?{urlencode(pairs)}" if pairs else url)

    def _find_allowed(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    @staticmethod
    def _posted_query(request: HttpRequest) -> list[tuple[str, str]]:
        """The list's query string the form was posted from (a hidden field)."""
        text = request.POST.get("query", "")[:4000]
        return [(k, v) for k, v in parse_qsl(text, keep_blank_values=False) if k != "p"]

    @staticmethod
    def _posted_query_checked(request: HttpRequest) -> list[tuple[str, str]] | None:
        pairs = FindPagesMixin._posted_query(request)
        if any("\x00" in k or "\x00" in v for k, v in pairs):
            return None
        return pairs

    def find_person_view(self, request: HttpRequest) -> HttpResponse:
        return require_POST(self._find_person)(request)

    def _find_person(self, request: HttpRequest) -> HttpResponse:
        self._find_allowed(request)
        pairs = self._posted_query_checked(request)
        if pairs is None:
            return HttpResponseBadRequest("a NUL character in the query string")
        pairs = [(k, v) for k, v in pairs if k != find.PERSON]
        try:
            token = find.person_remember(
                store=request.session, subject=request.POST.get("subject", "")
            )
        except find.FindError as exc:
            messages.error(request, exc.message)
            return self._list_redirect(pairs)
        return self._list_redirect([*pairs, (find.PERSON, token)])

    def find_save_view(self, request: HttpRequest) -> HttpResponse:
        return require_POST(self._find_save)(request)

    def _find_save(self, request: HttpRequest) -> HttpResponse:
        self._find_allowed(request)
        pairs = self._posted_query_checked(request)
        if pairs is None:
            return HttpResponseBadRequest("a NUL character in the query string")
        try:
            saved, dropped = find.saved_filter_create(
                user=request.user, name=request.POST.get("name", ""), pairs=pairs
            )
        except find.FindError as exc:
            messages.error(request, exc.message)
            return self._list_redirect(pairs)
        if dropped:
            messages.warning(
                request,
                "Saved without the person searched for or any search term holding personal "
                "data: a saved filter never keeps them.",
            )
        messages.success(request, f"Saved as “{saved.name}”.")
        return self._list_redirect(parse_qsl(saved.query))

    def find_forget_view(self, request: HttpRequest) -> HttpResponse:
        return require_POST(self._find_forget)(request)

    def _find_forget(self, request: HttpRequest) -> HttpResponse:
        self._find_allowed(request)
        if find.saved_filter_delete(user=request.user, saved_filter_id=request.POST.get("id")):
            messages.success(request, "The saved filter was deleted.")
        else:
            messages.error(request, "There is no such saved filter of yours.")
        return self._list_redirect(self._posted_query_checked(request) or [])

    def find_csv_view(self, request: HttpRequest) -> HttpResponse:
        return require_GET(self._find_csv)(request)

    def _find_csv(self, request: HttpRequest) -> HttpResponse:
        self._find_allowed(request)
        # As the list does: a query string no database may be handed is refused (400) and a
        # reader who sees it masked is sent to the masked one.
        list_params_check(params=request.GET.lists(), date_field=self.date_hierarchy)
        reader = console.reader_for(request.user)
        asked = find.list_params(request.GET)
        shown = [(reader.text(key), reader.text(value)) for key, value in asked]
        if shown != asked:
            return redirect(f"{request.path}?{urlencode(shown)}")
        changelist = self.get_changelist_instance(request)
        refused = [spec.error for spec in changelist.filter_specs if getattr(spec, "error", None)]
        if refused:
            # The list would be empty and say why; a file must not look like an answer.
            list(messages.get_messages(request))  # said here, not on the next page
            return HttpResponseBadRequest(
                f"{refused[0].code}: {refused[0].message}", content_type="text/plain; charset=utf-8"
            )
        sessions = changelist.get_queryset(request)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        return csv_response(
            f"sessions-{stamp}.csv",
            find.CSV_HEADER,
            find.sessions_csv_rows(sessions, reader=reader),
        )
