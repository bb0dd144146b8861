"""Recording who looks at evidence: the access ledger's registry and its middleware.

``RECORDED`` maps the URL name of every console page that shows or hands out evidence to
the action the ledger records for it. A new page adds itself with ONE line here::

    "admin:ingestion_session_newpage": AccessAction.VIEW_SESSION,

and ``AccessMiddleware`` (settings.MIDDLEWARE, after authentication) does the rest: once the
page has answered, it writes one ``AccessRecord`` (user, time, action, session, path, method,
status, client address). What counts as what:

- allowed: a 2xx or 3xx answer. A GET that only redirects to another recorded page (an
  event's link to its timeline page, a list re-asked with its terms masked) is not recorded
  itself: the page it leads to is.
- refused: a redirect to the sign-in page, 403, 404 (a missing object and one the user may
  not see look the same, on purpose) and any other 4xx. On console pages not in
  ``RECORDED``, a 403 is recorded too (action "other"), and so is a signed-in user sent to
  the sign-in page (not staff); a visitor not yet signed in opening a page other than these
  is only being asked to sign in.
- failed: a 5xx answer.

Refinements of the registry's action, from the request: the session page with ``?page=``
is a timeline page; a list marked SEARCH is recorded only when it was given search terms or
filters (its query string, masked), and its bulk export (POST with an action) is a download.

No personal data from the evidence enters the ledger, which can never be erased: search
terms are masked for a reader without the raw-payload permission (``console.reader_for``),
whoever searched, and the path is stored without its query string.

If the row cannot be written, a page that was allowed is NOT handed out: the answer becomes
503 (the rule "every view is recorded" holds, and a reader who retries gets it once the
database takes writes again). A refusal or a failure is answered as it was, and the lost
row is logged as an error: nothing was shown.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.contrib.admin.views.main import (
    ALL_VAR,
    ERROR_FLAG,
    IS_FACETS_VAR,
    IS_POPUP_VAR,
    ORDER_VAR,
    PAGE_VAR,
    TO_FIELD_VAR,
)
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from ingestion.api.throttling import client_address
from ingestion.models import Event
from policy.models import Findings

from . import console
from .access_models import DETAIL_MAX, PATH_MAX, AccessAction, AccessOutcome, AccessRecord

logger = logging.getLogger(__name__)

#: URL name -> what the ledger records. One line per page that shows or hands out evidence.
RECORDED: dict[str, AccessAction] = {
    "admin:ingestion_session_change": AccessAction.VIEW_SESSION,  # ?page=N: VIEW_TIMELINE
    "admin:ingestion_event_change": AccessAction.VIEW_TIMELINE,  # redirects to its page
    "admin:ingestion_session_verify": AccessAction.VIEW_VERIFICATION,
    "admin:ingestion_session_pdf": AccessAction.VIEW_PDF,
    "admin:ingestion_session_pdf_file": AccessAction.DOWNLOAD,  # shown inline in the PDF page
    "admin:ingestion_session_download": AccessAction.DOWNLOAD,
    "admin:ingestion_session_export_job": AccessAction.VIEW_EXPORT_JOB,
    "admin:ingestion_session_export_job_file": AccessAction.DOWNLOAD,
    "admin:ingestion_session_changelist": AccessAction.SEARCH,  # and its zip action
    "admin:ingestion_event_changelist": AccessAction.SEARCH,
    "admin:policy_findings_changelist": AccessAction.VIEW_FINDING,
    "admin:policy_findings_change": AccessAction.VIEW_FINDING,
    "admin:compliance_exportrecord_changelist": AccessAction.SEARCH,
    "admin:compliance_accessrecord_csv": AccessAction.EXPORT_CSV,
    "admin:ingestion_session_transcript": AccessAction.VIEW_TRANSCRIPT,
    "admin:compliance_matter_change": AccessAction.VIEW_MATTER,
    "admin:compliance_matter_export": AccessAction.DOWNLOAD,  # the matter's zip
    # A person search is POSTed; the list it leads to (?person=<token>) is the search recorded.
    "admin:ingestion_session_find_person": AccessAction.SEARCH,
    "admin:ingestion_session_find_csv": AccessAction.EXPORT_CSV,
}

#: Query parameters of an admin list that page or sort it: not search terms.
LIST_LAYOUT_PARAMS = {
    ALL_VAR,
    ERROR_FLAG,
    ORDER_VAR,
    PAGE_VAR,
    IS_POPUP_VAR,
    TO_FIELD_VAR,
    IS_FACETS_VAR,
}

UNRECORDED_MESSAGE = (
    "This page was not shown: the console could not record your access to it in the access "
    "ledger. Try again in a moment; if this persists, tell the operator.\n"
)


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _session_of(view_name: str, kwargs: dict[str, Any]) -> uuid.UUID | None:
    """The session a page is about, when its URL names one (one query for a finding or an
    event, none otherwise)."""
    object_id = kwargs.get("object_id")
    if object_id is None:
        return None
    if view_name.startswith("admin:ingestion_session_"):
        return _uuid_or_none(object_id)
    model = {"admin:policy_findings_change": Findings, "admin:ingestion_event_change": Event}
    if view_name in model and str(object_id).isdigit():
        found = model[view_name].objects.filter(pk=int(object_id)).values_list("session_id")
        row = found.first()
        return row[0] if row else None
    return None


def _stored(text: str, limit: int) -> str:
    """``text`` as a column takes it: cut to its length, without the NUL character that
    PostgreSQL refuses in any text (a hostile path or query must not cost the page)."""
    return text.replace("\x00", "\ufffd")[:limit]


def _terms(request: HttpRequest, mask: Callable[[str], str]) -> str:
    """A list's search terms and filters, masked, as ``name=value`` pairs."""
    pairs = [
        f"{mask(key)}={mask(value)}"
        for key, values in request.GET.lists()
        if key not in LIST_LAYOUT_PARAMS
        for value in values
    ]
    return "; ".join(pairs)


def _is_login_redirect(response: HttpResponse) -> bool:
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    return urlsplit(response.get("Location", "")).path == reverse("admin:login")


def _redirects_to_recorded(request: HttpRequest, response: HttpResponse) -> bool:
    location = response.get("Location", "")
    if not url_has_allowed_host_and_scheme(location, allowed_hosts={request.get_host()}):
        return False
    try:
        return resolve(urlsplit(location).path).view_name in RECORDED
    except Resolver404:
        return False


def _outcome(response: HttpResponse) -> AccessOutcome:
    status = response.status_code
    if status >= 500:
        return AccessOutcome.FAILED
    if status >= 400 or _is_login_redirect(response):
        return AccessOutcome.REFUSED
    return AccessOutcome.ALLOWED


def _download_detail(request: HttpRequest, response: HttpResponse, kwargs: dict) -> str:
    parts = [str(kwargs["fmt"]) if "fmt" in kwargs else ""]
    if "job_id" in kwargs:
        parts.append(f"export job {kwargs['job_id']}")
    if response.has_header("X-AgentOps-Export-Id"):
        parts.append(f"export record {response['X-AgentOps-Export-Id']}")
    if response.get("X-AgentOps-Redacted") == "true":
        parts.append("masked")
    return ", ".join(part for part in parts if part)


def access_describe(*, request: HttpRequest, response: HttpResponse) -> dict[str, Any] | None:
    """The ledger row a request makes, as fields; ``None`` when it is not recorded."""
    match = request.resolver_match
    if match is None:
        return None
    view_name = match.view_name
    outcome = _outcome(response)
    user = getattr(request, "user", None) or AnonymousUser()
    action = RECORDED.get(view_name)
    if action is None:
        refused_here = match.namespace == "admin" and (
            response.status_code == 403 or (user.is_authenticated and _is_login_redirect(response))
        )
        if not refused_here:
            return None
        action = AccessAction.OTHER
    elif (
        outcome == AccessOutcome.ALLOWED
        and request.method in ("GET", "HEAD")
        and 300 <= response.status_code < 400
        and _redirects_to_recorded(request, response)
    ):
        return None  # the page it leads to is recorded

    detail = ""
    if action == AccessAction.VIEW_SESSION and "page" in request.GET:
        action = AccessAction.VIEW_TIMELINE
    masked = console.reader_for(AnonymousUser())
    if action == AccessAction.VIEW_TIMELINE and "page" in request.GET:
        detail = f"page {masked.text(request.GET['page'])}"
    elif action == AccessAction.SEARCH:
        if request.method == "POST" and request.POST.get("action"):
            selected = request.POST.getlist("_selected_action")
            action = AccessAction.DOWNLOAD
            detail = f"{masked.text(request.POST['action'])} of {len(selected)}: " + ", ".join(
                masked.text(pk) for pk in selected
            )
        else:
            detail = _terms(request, masked.text)
            if not detail and outcome == AccessOutcome.ALLOWED:
                return None  # a list looked at, not searched
    elif action == AccessAction.DOWNLOAD:
        detail = _download_detail(request, response, match.kwargs)
    elif action == AccessAction.VIEW_FINDING and "object_id" in match.kwargs:
        detail = f"findings {masked.text(match.kwargs['object_id'])}"
    elif action == AccessAction.VIEW_EXPORT_JOB:
        detail = f"export job {masked.text(match.kwargs.get('job_id', ''))}"
    elif action == AccessAction.EXPORT_CSV:
        detail = _terms(request, masked.text)

    return {
        "user": user if user.is_authenticated else None,
        "username": _stored(user.get_username() if user.is_authenticated else "", 150),
        "action": action,
        "outcome": outcome,
        "session_id": _session_of(view_name, match.kwargs),
        "detail": _stored(detail, DETAIL_MAX),
        "view_name": _stored(view_name, 200),
        "path": _stored(request.path, PATH_MAX),
        "method": _stored(request.method or "", 10),
        "status_code": response.status_code,
        "client_address": _stored(client_address(request), 64),
    }


def access_record(*, request: HttpRequest, response: HttpResponse) -> AccessRecord | None:
    """Write the ledger row of a request that has been answered (``None``: not recorded).
    Raises whatever the database raises: the caller decides what the visitor gets then."""
    fields = access_describe(request=request, response=response)
    if fields is None:
        return None
    with transaction.atomic():  # a savepoint inside a caller's transaction
        return AccessRecord.objects.create(**fields)


# --- reading the ledger ------------------------------------------------------------------

ACCESS_CSV_HEADER = (
    "at",
    "user",
    "action",
    "outcome",
    "session",
    "detail",
    "method",
    "path",
    "status",
    "client address",
)


def access_csv_rows(records: QuerySet[AccessRecord]) -> Iterator[tuple[Any, ...]]:
    """Each record's cells in ``ACCESS_CSV_HEADER``'s order (for ``csvout``), streamed."""
    for record in records.iterator(chunk_size=2000):
        yield (
            record.at,
            record.username,
            record.get_action_display(),
            record.outcome,
            record.session_id,
            record.detail,
            record.method,
            record.path,
            record.status_code,
            record.client_address,
        )


def access_records_select(
    *,
    user: Any | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    session_id: uuid.UUID | None = None,
) -> QuerySet[AccessRecord]:
    """Rows of one user and/or session from ``since`` (included) to ``until`` (excluded),
    oldest first; the (user, at) and (session, at) indexes answer it."""
    records = AccessRecord.objects.all()
    if user is not None:
        records = records.filter(user=user)
    if session_id is not None:
        records = records.filter(session_id=session_id)
    if since is not None:
        records = records.filter(at__gte=since)
    if until is not None:
        records = records.filter(at__lt=until)
    return records.order_by("at", "pk")


# --- recording ---------------------------------------------------------------------------


class AccessMiddleware:
    """Writes the access ledger's row of each recorded page (see the module's text)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        try:
            access_record(request=request, response=response)
        except Exception:
            logger.exception(
                "access ledger: could not record %s %s (status %s)",
                request.method,
                request.path,
                response.status_code,
            )
            if _outcome(response) != AccessOutcome.ALLOWED:
                return response  # nothing was shown
            response.close()  # an open export file is released, not sent
            return HttpResponse(
                UNRECORDED_MESSAGE, status=503, content_type="text/plain; charset=utf-8"
            )
        return response
