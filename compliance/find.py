"""Finding sessions in the console: a date range, a tool, a broken policy rule, a person;
saved filters; the list as CSV.

A person is searched for by an e-mail address or phone number that the reviewer types. The
value is read and fingerprinted exactly as erasure reads it (``policy.subjects`` and
``compliance.erasure.subject_rows``), and then dropped: the reviewer's signed-in session
keeps the keyed fingerprints under a random token, and the list is asked for
``?person=<token>``. So the value never reaches a URL, a server log, a saved filter or a
table; a token means nothing outside the session that made it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import NotSupportedError
from django.db.models import BooleanField, F, Func, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.http import urlencode

from compliance import labels
from compliance.erasure import subject_rows
from compliance.find_models import SavedFilter
from ingestion.models import Session
from policy.masking import Reader
from policy.models import Findings
from policy.pii import scanner_build, text_scan
from policy.subjects import subject_fingerprints

DATE_FROM = "created_from"
DATE_TO = "created_to"
TOOL = "tool"
RULE = "rule"
PERSON = "person"
#: Parameters of the list that a saved filter or an export never carries over.
NOT_KEPT = ("p", PERSON)

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: The person searches a signed-in session remembers (the oldest is forgotten first).
PEOPLE_REMEMBERED = 10
_PEOPLE_KEY = "agentops_find_people"
NAME_MAX = 100
#: What a person is searched for by here (erasure also reads SSNs, card numbers, IBANs).
PERSON_KINDS = ("email", "phone")


class FindError(ValueError):
    """A search or filter that cannot be answered; ``code`` is stable, ``message`` is for
    the reviewer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------


def day_read(text: str, *, label: str) -> date:
    """``YYYY-MM-DD`` as a date, or FIND_DATE_INVALID naming the field (``label``)."""
    text = text.strip()
    try:
        if not _DAY.fullmatch(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise FindError(
            "FIND_DATE_INVALID", f"“{label}” is not a date: write it as YYYY-MM-DD."
        ) from None
    if not 1900 <= day.year <= 9998:
        raise FindError("FIND_DATE_INVALID", f"“{label}” is outside the years 1900 to 9998.")
    return day


def date_range(*, start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """The moments [from, to) of the days ``start`` to ``end``, both included, in the
    console's time zone; either may be missing. FIND_DATE_ORDER when ``end`` comes first."""
    zone = timezone.get_current_timezone()
    first = day_read(start, label="From") if start else None
    last = day_read(end, label="To") if end else None
    if first and last and last < first:
        raise FindError("FIND_DATE_ORDER", "“To” is before “From”: no session can be in between.")
    lower = timezone.make_aware(datetime.combine(first, time.min), zone) if first else None
    upper = (
        timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min), zone)
        if last
        else None
    )
    return lower, upper


def sessions_in_range(
    sessions: QuerySet[Session], *, lower: datetime | None, upper: datetime | None
) -> QuerySet[Session]:
    if lower is not None:
        sessions = sessions.filter(created_at__gte=lower)
    if upper is not None:
        sessions = sessions.filter(created_at__lt=upper)
    return sessions


# --------------------------------------------------------------------------------------
# Tools and policy rules, read from the stored policy findings
# --------------------------------------------------------------------------------------


class _ArrayHolds(Func):
    """True when the JSON array at ``key`` of a JSON column (the column itself when
    ``key`` is None) holds an object with every (field, value) of ``fields``.

    Written for each of the two databases the service runs on, in SQL of their own JSON
    functions, so that no row is read into Python to be searched."""

    output_field = BooleanField()

    def __init__(
        self, column: str, *, key: str | None, fields: tuple[tuple[str, str | bool], ...]
    ) -> None:
        super().__init__(F(column))
        self.key = key
        self.fields = fields

    def as_sql(self, compiler, connection, **extra):
        raise NotSupportedError(f"searching JSON arrays is not written for {connection.vendor}")

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        source = f"json_each({column}, %s)" if self.key else f"json_each({column})"
        params = [*params, f"$.{self.key}"] if self.key else list(params)
        where = ["ao_item.type = 'object'"]
        for name, value in self.fields:
            if isinstance(value, bool):
                where.append(f"json_extract(ao_item.value, '$.{name}') = {int(value)}")
            else:
                where.append(f"json_extract(ao_item.value, '$.{name}') = %s")
                params.append(value)
        # Field names come from this module; every value is a parameter.
        sql = f"EXISTS (SELECT 1 FROM {source} AS ao_item WHERE {' AND '.join(where)})"  # noqa: S608
        return sql, params

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        array = f"({column} -> %s)" if self.key else f"({column})"
        params = [*params, self.key] if self.key else list(params)
        # Stored rows always hold an array there; anything else holds nothing to find.
        source = (
            f"jsonb_array_elements(CASE WHEN jsonb_typeof({array}) = 'array' "
            f"THEN {array} ELSE '[]'::jsonb END)"
        )
        params = params + params
        where = ["jsonb_typeof(ao_item) = 'object'"]
        for name, value in self.fields:
            where.append(f"ao_item ->> '{name}' = %s")
            params.append(("true" if value else "false") if isinstance(value, bool) else value)
        # Field names come from this module; every value is a parameter.
        sql = f"EXISTS (SELECT 1 FROM {source} AS ao_item WHERE {' AND '.join(where)})"  # noqa: S608
        return sql, params


def _latest_findings() -> Subquery:
    """The id of a findings row's session's latest evaluation."""
    latest = Findings.objects.filter(session=OuterRef("session")).order_by("-evaluated_at", "-pk")
    return Subquery(latest.values("pk")[:1])


def sessions_using_tool(sessions: QuerySet[Session], *, tool: str) -> QuerySet[Session]:
    """Sessions in which the agent called ``tool`` (exact name), as their latest policy
    evaluation's tool audit counts it."""
    holding = Findings.objects.filter(
        _ArrayHolds("tool_audit", key="totals", fields=(("tool_name", tool),)),
        pk=_latest_findings(),
    )
    return sessions.filter(pk__in=holding.values("session_id"))


def sessions_breaking_rule(sessions: QuerySet[Session], *, rule: str) -> QuerySet[Session]:
    """Sessions whose latest policy evaluation found ``rule`` (exact name) broken."""
    broken = Findings.objects.filter(
        _ArrayHolds("rule_results", key=None, fields=(("rule", rule), ("passed", False))),
        pk=_latest_findings(),
    )
    return sessions.filter(pk__in=broken.values("session_id"))


def name_read(text: str, *, label: str) -> str:
    """A tool or rule name as typed: trimmed, not over 200 characters."""
    text = text.strip()
    if len(text) > 200:
        raise FindError("FIND_NAME_TOO_LONG", f"The {label} name is longer than 200 characters.")
    return text


# --------------------------------------------------------------------------------------
# A person
# --------------------------------------------------------------------------------------


def person_remember(*, store: Any, subject: str) -> str:
    """Read ``subject`` (an e-mail address or phone number) as erasure does and keep its
    fingerprints in ``store`` (the reviewer's signed-in session) under a new token, which
    is returned. The value itself is kept nowhere. FIND_PERSON_UNREADABLE when it reads as
    nothing a person is found by."""
    subject = subject.strip()
    pairs = subject_fingerprints(value=subject) if 0 < len(subject) <= 300 else []
    pairs = [(kind, fingerprint) for kind, fingerprint in pairs if kind in PERSON_KINDS]
    if not pairs:
        raise FindError(
            "FIND_PERSON_UNREADABLE",
            "Type an e-mail address or a phone number (with its country code, such as "
            "+44 20 7946 0958).",
        )
    token = secrets.token_urlsafe(12)
    people = dict(store.get(_PEOPLE_KEY) or {})
    people[token] = {
        "kinds": sorted({kind for kind, _ in pairs}),
        "fingerprints": sorted({fingerprint for _, fingerprint in pairs}),
    }
    store[_PEOPLE_KEY] = dict(list(people.items())[-PEOPLE_REMEMBERED:])
    return token


@dataclass(frozen=True)
class Person:
    token: str
    kinds: tuple[str, ...]
    fingerprints: tuple[str, ...]

    @property
    def described(self) -> str:
        """What the person was read as: "the e-mail address you searched for"."""
        kinds = [labels.PII_KINDS.get(kind, kind).lower() for kind in self.kinds]
        return "the person you searched for (by " + " or ".join(kinds) + ")"


def person_recall(*, store: Any, token: str) -> Person:
    """The person search of ``token`` in this signed-in session, or FIND_PERSON_EXPIRED."""
    found = (store.get(_PEOPLE_KEY) or {}).get(token)
    if not found:
        raise FindError(
            "FIND_PERSON_EXPIRED",
            "This person search is no longer known (it belongs to another sign-in, or newer "
            "searches replaced it): search for the person again.",
        )
    return Person(token, tuple(found["kinds"]), tuple(found["fingerprints"]))


def sessions_of_person(sessions: QuerySet[Session], *, person: Person) -> QuerySet[Session]:
    """Sessions holding an event in which the person's value was found (their fingerprints,
    as erasure finds them)."""
    rows = subject_rows(fingerprints=person.fingerprints)
    return sessions.filter(pk__in=rows.values("session_id"))


# --------------------------------------------------------------------------------------
# Saved filters
# --------------------------------------------------------------------------------------


def query_keepable(pairs: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """(the pairs a saved filter may keep, the names of those it may not): never the page
    number or a person token, and never a value in which the personal-data detectors find
    anything (an e-mail address typed into the search box, say)."""
    scanner = scanner_build()
    kept: list[tuple[str, str]] = []
    dropped: list[str] = []
    for key, value in pairs:
        if key in NOT_KEPT:
            if key == PERSON:
                dropped.append(key)
            continue
        if text_scan(scanner=scanner, text=value, key=key) or text_scan(scanner=scanner, text=key):
            dropped.append(key)
            continue
        kept.append((key, value))
    return kept, dropped


def saved_filter_create(
    *, user: Any, name: str, pairs: Iterable[tuple[str, str]]
) -> tuple[SavedFilter, list[str]]:
    """Save the list's query string ``pairs`` as ``name`` for ``user`` (a filter of the
    same name is replaced); also the names of parameters left out (``query_keepable``)."""
    name = " ".join(name.split())
    if not name:
        raise FindError("FIND_NAME_MISSING", "Give the filter a name.")
    if len(name) > NAME_MAX:
        raise FindError("FIND_NAME_TOO_LONG", f"A name has at most {NAME_MAX} characters.")
    kept, dropped = query_keepable(pairs)
    query = urlencode(kept)
    if len(query) > SavedFilter._meta.get_field("query").max_length:
        raise FindError("FIND_QUERY_TOO_LONG", "This filter is too long to be saved.")
    saved, _ = SavedFilter.objects.update_or_create(
        user=user, name=name, defaults={"query": query, "created_at": timezone.now()}
    )
    return saved, dropped


def saved_filters_of(*, user: Any) -> list[SavedFilter]:
    return list(SavedFilter.objects.filter(user=user).order_by("name", "pk"))


def saved_filter_delete(*, user: Any, saved_filter_id: Any) -> bool:
    """Delete one of ``user``'s own saved filters; False when there is no such filter."""
    try:
        wanted = int(saved_filter_id)
    except (TypeError, ValueError):
        return False
    deleted, _ = SavedFilter.objects.filter(user=user, pk=wanted).delete()
    return bool(deleted)


# --------------------------------------------------------------------------------------
# The list as CSV
# --------------------------------------------------------------------------------------

CSV_HEADER = (
    "session_id",
    "project",
    "agent",
    "started",
    "last_event",
    "events",
    "evidence",
    "sealed_at",
    "personal_data_found",
    "policy_rules_broken",
)
_CSV_CHUNK = 2000


def sessions_csv_rows(
    sessions: QuerySet[Session], *, reader: Reader
) -> Iterator[tuple[object, ...]]:
    """One row per session of the list (annotated as the console's list is), agent ids as
    ``reader`` sees them, the evidence class in the console's words."""
    for session in sessions.select_related("project").iterator(chunk_size=_CSV_CHUNK):
        yield (
            session.pk,
            session.project.name,
            reader.text(session.agent_id, project=session.project),
            session.created_at,
            session.last_event_at,
            session.event_count,
            labels.evidence_label(getattr(session, "current_evidence_class", None)).headline,
            session.sealed_at,
            getattr(session, "latest_pii_count", None),
            getattr(session, "latest_rules_failed", None),
        )


def list_params(query: Any) -> list[tuple[str, str]]:
    """Every (key, value) of a query string (a ``QueryDict``), repeated keys included."""
    return [(key, value) for key, values in query.lists() for value in values]
