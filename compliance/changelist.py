"""The admin's session and event lists: search, the agent filter, pagination of very large
tables, the date drill-down.

The lists show agent ids as ``policy.masking.Reader`` shows them, so a search or a filter
never reveals what a list hides.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst

from ingestion import selectors
from ingestion.models import Event, Project, Session
from policy.masking import Reader

_HEX = re.compile(r"[0-9a-f]{1,32}")


def agents_shown(*, reader: Reader) -> dict[str, list[tuple]]:
    """Each agent id of any session as ``reader`` sees it, in order, with the (agent id,
    project id) pairs shown so: several agent ids can mask alike."""
    pairs = selectors.agent_ids_by_project()
    projects = Project.objects.in_bulk({project_id for _, project_id in pairs})
    shown: dict[str, list[tuple]] = {}
    for agent_id, project_id in pairs:
        text = reader.text(agent_id, project=projects.get(project_id))
        shown.setdefault(text, []).append((agent_id, project_id))
    return dict(sorted(shown.items()))


def agents_condition(pairs: Iterable[tuple]) -> Q:
    """Sessions of any of the (agent id, project id) ``pairs``; none when there are none."""
    by_project: dict[Any, set[str]] = {}
    for agent_id, project_id in pairs:
        by_project.setdefault(project_id, set()).add(agent_id)
    condition = Q(pk__in=[])
    for project_id, agent_ids in by_project.items():  # one term per project, not per agent
        condition |= Q(project_id=project_id, agent_id__in=sorted(agent_ids))
    return condition


def sessions_matching(
    sessions: QuerySet[Session], term: str, *, reader: Reader | None = None
) -> QuerySet[Session]:
    """Sessions whose id starts with ``term``, whose agent id contains it, or that hold an
    event with that id.

    An id prefix becomes a range of ids (``b229`` is every id from b2290000-... to
    b229ffff-...), which the primary key index answers on any database. A ``reader`` who
    sees agent ids masked searches them as masked: a search must not reveal what the
    list hides, one guessed character at a time.
    """
    if reader is None or reader.raw_allowed:
        condition = Q(agent_id__icontains=term)
    else:
        wanted = term.casefold()
        condition = agents_condition(
            pair
            for text, pairs in agents_shown(reader=reader).items()
            if wanted in text.casefold()
            for pair in pairs
        )
    compact = term.lower().replace("-", "")
    if _HEX.fullmatch(compact):
        condition |= Q(
            pk__gte=uuid.UUID(compact.ljust(32, "0")), pk__lte=uuid.UUID(compact.ljust(32, "f"))
        )
    try:
        event_id = str(uuid.UUID(term))
    except ValueError:
        pass
    else:
        holding = Event.objects.filter(event_id__in={term, event_id}).values("session_id")
        condition |= Q(pk__in=holding)
    return sessions.filter(condition)


class EstimatingPaginator(Paginator):
    """A paginator that, on PostgreSQL, reads the planner's row estimate for an unfiltered
    list of a large table instead of counting it (a count reads every row: 11 ms at 200,000
    sessions, growing with them, where the rest of the page does not).

    Below ``ESTIMATE_FROM`` rows, or with any filter, it counts exactly. ``estimated`` says
    which, so the list can say "about" (``admin/ingestion/pagination.html``). An estimate
    that is too high only shows page links past the end; the admin answers those like any
    page number out of range.
    """

    ESTIMATE_FROM = 100_000
    estimated = False

    @cached_property
    def count(self) -> int:
        estimate = _row_estimate(self.object_list)
        if estimate is not None and estimate >= self.ESTIMATE_FROM:
            self.estimated = True
            return estimate
        return super().count

    def _get_page(self, object_list: Any, number: int, paginator: Paginator) -> Page:
        # Deep pages: the database walks every row before the offset, so walk only the
        # primary keys, then read the page's rows (with their computed columns) by key.
        if isinstance(object_list, QuerySet):
            keys = list(object_list.values_list("pk", flat=True))
            rows = self.object_list.filter(pk__in=keys).order_by().in_bulk()
            object_list = [rows[key] for key in keys if key in rows]
        return super()._get_page(object_list, number, paginator)


def _row_estimate(queryset: Any) -> int | None:
    if not isinstance(queryset, QuerySet) or queryset.query.where:
        return None
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [queryset.model._meta.db_table],
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


def date_hierarchy(cl: Any) -> dict[str, Any]:
    """The changelist's date drill-down (years, months, days), from two index lookups.

    Django's own lists only the steps that hold rows, truncating the date of every row in
    view to find them: half a second for 100,000 sessions on SQLite, more than the rest of
    the page. Here every step from the earliest to the latest row in view is listed; one
    that holds no row simply leads to an empty list. Same shape as Django's template tag,
    for ``admin/date_hierarchy.html``.
    """
    field = cl.date_hierarchy
    year, month, day = (cl.params.get(f"{field}__{part}") for part in ("year", "month", "day"))

    def link(filters: dict[str, Any]) -> str:
        return cl.get_query_string(filters, [f"{field}__"])

    if year and month and day:
        chosen = date(int(year), int(month), int(day))
        return {
            "show": True,
            "back": {
                "link": link({f"{field}__year": year, f"{field}__month": month}),
                "title": capfirst(formats.date_format(chosen, "YEAR_MONTH_FORMAT")),
            },
            "choices": [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}],
        }
    moments = cl.queryset.values_list(field, flat=True)
    first = moments.order_by(field).first()
    last = moments.order_by(f"-{field}").first()
    if first is None or last is None:
        return {"show": False}
    first, last = timezone.localtime(first).date(), timezone.localtime(last).date()
    if not year and first.year == last.year:
        year = first.year  # one year in view: start with its months, as Django does
        if first.month == last.month:
            month = first.month
    if year and month:
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return {
            "show": True,
            "back": {"link": link({f"{field}__year": year}), "title": str(year)},
            "choices": [
                {
                    "link": link(
                        {f"{field}__year": year, f"{field}__month": month, f"{field}__day": d.day}
                    ),
                    "title": capfirst(formats.date_format(d, "MONTH_DAY_FORMAT")),
                }
                for d in days
            ],
        }
    if year:
        return {
            "show": True,
            "back": {"link": link({}), "title": "All dates"},
            "choices": [
                {
                    "link": link({f"{field}__year": year, f"{field}__month": m}),
                    "title": capfirst(
                        formats.date_format(date(int(year), m, 1), "YEAR_MONTH_FORMAT")
                    ),
                }
                for m in range(first.month, last.month + 1)
            ],
        }
    return {
        "show": True,
        "back": None,
        "choices": [
            {"link": link({f"{field}__year": str(y)}), "title": str(y)}
            for y in range(first.year, last.year + 1)
        ],
    }
