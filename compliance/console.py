"""What the compliance console shows, in words a reader without a technical background follows.

- ``evidence_label`` and ``verdict_describe`` turn evidence classes and §7 reports into plain
  sentences ("Verified — authoritative evidence", "Verification failed").
- ``payload_masked`` hides the payload values that hold personal data, located by the JSON
  paths of the stored PII findings, for readers without ``compliance.view_raw_payload``;
  ``text_shown`` masks any other text (agent ids, tool names, payload keys) for them.
- ``session_page`` gathers everything the session page shows in a bounded number of queries.
- ``sessions_zip_write`` exports several sessions into one zip with a manifest.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst

from ingestion.models import (
    Event,
    EvidenceClass,
    Project,
    Session,
    Verification,
    VerificationTrigger,
)
from ingestion.selectors import (
    session_current_evidence_class,
    session_latest_verification,
    session_seal_envelope,
)
from policy.models import Findings
from policy.pii import PiiScanner, payload_scan, scanner_build, text_mask
from policy.rules import PolicyError
from policy.services import policy_for_project

from . import selectors, services
from .exports.context import Actor
from .exports.timeline import event_summary
from .models import ExportFormat, ExportRecord
from .reviewers import raw_payload_allowed

# --------------------------------------------------------------------------------------
# Plain words
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceLabel:
    short: str  # for the session list
    headline: str  # for the session page and messages
    tone: str  # CSS modifier: good, partial, weak, bad, open
    symbol: str  # the badge never relies on colour alone


EVIDENCE_LABELS: dict[str | None, EvidenceLabel] = {
    EvidenceClass.AUTHORITATIVE: EvidenceLabel(
        "Authoritative", "Verified — authoritative evidence", "good", "✓"
    ),
    EvidenceClass.PARTIAL_AUTHORITATIVE: EvidenceLabel(
        "Partial", "Verified — partial evidence", "partial", "◐"
    ),
    EvidenceClass.NON_AUTHORITATIVE: EvidenceLabel(
        "Agent-recorded", "Verified — recorded by the agent alone, not authoritative", "weak", "○"
    ),
    EvidenceClass.FAILED: EvidenceLabel("Failed", "Verification failed", "bad", "✕"),
    None: EvidenceLabel("Not sealed", "Not sealed yet — not verified", "open", "…"),
}

PARTIAL_REASONS = {
    "UNSEALED_SESSION": "The service has not sealed this session yet; more events may arrive.",
    "SIGNATURE_NOT_CHECKED": "The seal's signature could not be checked: no key was at hand.",
    "KEY_NOT_TRUSTED": "The seal's signature is valid, but under a key that is not known to "
    "belong to the service.",
    "MISSING_SESSION_END": "The agent never recorded the end of the session (it may have "
    "stopped unexpectedly).",
    "LOG_DROP_PRESENT": "The agent reported that some events were lost before they reached "
    "the service.",
}

PROBLEMS = {
    "EMPTY_LOG": "The session holds no events.",
    "MISSING_FIELD": "An event lacks a required field.",
    "UNKNOWN_FIELD": "An event carries a field the format does not allow.",
    "SCHEMA_VERSION_MISMATCH": "An event uses a format version that is not supported.",
    "UNKNOWN_EVENT_TYPE": "An event has a type the format does not know.",
    "SESSION_MISMATCH": "An event belongs to another session.",
    "PAYLOAD_HASH_MISMATCH": "An event's content was changed after it was recorded.",
    "EVENT_HASH_MISMATCH": "An event's recorded details were changed after it was recorded.",
    "SEQUENCE_GAP": "Events are missing from the sequence.",
    "INVALID_GENESIS": "The session does not begin the way every session must.",
    "CHAIN_BROKEN": "An event does not link to the event before it.",
    "MIXED_AUTHORITY": "The events were fingerprinted by different parties.",
    "ORDERING_VIOLATION": "Events appear in an order the format does not allow.",
    "INVALID_SEAL": "The seal is incomplete.",
    "SEAL_DIGEST_MISMATCH": "The seal does not match the events it claims to close.",
    "SEAL_SIGNATURE_INVALID": "The seal's signature is not valid.",
    "POLICY_VIOLATION": "The session does not meet the verification policy.",
}

PII_KINDS = {
    "email": "E-mail address",
    "phone": "Phone number",
    "ssn": "Social security number",
    "card": "Payment card number",
    "iban": "Bank account number (IBAN)",
    "ipv4": "IP address",
    "ipv6": "IP address",
}

EVENT_TYPES = {
    "SESSION_START": "Session started",
    "SESSION_END": "Session ended",
    "MODEL_REQUEST": "Asked the model",
    "MODEL_RESPONSE": "Model answered",
    "TOOL_CALL": "Called a tool",
    "TOOL_RESULT": "Tool answered",
    "AGENT_STATE_SNAPSHOT": "State snapshot",
    "DECISION_TRACE": "Decision",
    "ERROR": "Error",
    "ANNOTATION": "Annotation",
    "LOG_DROP": "Events lost",
    "CHAIN_SEAL": "Sealed by the service",
}

TOOL_STATUSES = {
    "success": "Succeeded",
    "error": "Failed",
    "no_result": "No answer recorded",
    "withheld": "Outcome withheld",
}


# What ran a verification, finishing "checked <when> by ...".
VERIFICATION_TRIGGERS = {
    VerificationTrigger.SEAL: "the service, when it sealed the session",
    VerificationTrigger.CONSOLE: "“Verify now” in this console",
    VerificationTrigger.API: "a verification request through the API",
    VerificationTrigger.COMMAND: "manage.py verify_sessions",
    VerificationTrigger.EXPORT: "an export",
}


def evidence_label(evidence_class: str | None) -> EvidenceLabel:
    return EVIDENCE_LABELS.get(evidence_class, EVIDENCE_LABELS[EvidenceClass.FAILED])


def verification_when(verified_at: Any, trigger: str | None) -> str:
    """When a verification ran and what ran it: "checked 5 Dec 2026, 08:10 UTC by ..."."""
    moment = formats.date_format(timezone.localtime(verified_at), "j M Y, H:i")
    return f"checked {moment} {timezone.get_current_timezone_name()} by " + (
        VERIFICATION_TRIGGERS.get(trigger, str(trigger))
    )


@dataclass(frozen=True)
class Problem:
    text: str
    code: str
    detail: str
    sequence_number: int | None


@dataclass(frozen=True)
class Verdict:
    label: EvidenceLabel
    reasons: tuple[str, ...]
    problems: tuple[Problem, ...]
    event_count: int | None

    def message(self) -> str:
        """One paragraph for a message banner."""
        parts = [f"{self.label.headline}."]
        if self.event_count is not None:
            parts.append(f"{self.event_count} events checked.")
        parts += self.reasons
        shown = self.problems[:3]
        parts += [
            p.text
            if p.sequence_number is None
            else f"{p.text.rstrip('.')} (event {p.sequence_number})."
            for p in shown
        ]
        if len(self.problems) > len(shown):
            parts.append(f"{len(self.problems) - len(shown)} further problems.")
        return " ".join(parts)


def verdict_describe(report: Mapping[str, Any] | None) -> Verdict:
    """The §7 report in plain words; None (never verified: not sealed) says so."""
    if report is None:
        return Verdict(EVIDENCE_LABELS[None], (), (), None)
    passed = report.get("status") == "PASS"
    evidence_class = report.get("evidence_class") if passed else EvidenceClass.FAILED
    reasons = tuple(
        PARTIAL_REASONS.get(reason, reason) for reason in report.get("partial_reasons") or ()
    )
    problems = tuple(
        Problem(
            text=PROBLEMS.get(violation.get("type"), "A check failed."),
            code=str(violation.get("type")),
            detail=str(violation.get("message") or ""),
            sequence_number=violation.get("sequence_number"),
        )
        for violation in report.get("violations") or ()
    )
    return Verdict(evidence_label(evidence_class), reasons, problems, report.get("event_count"))


# --------------------------------------------------------------------------------------
# Masking: free text, payloads by the paths of stored findings, payload keys
# --------------------------------------------------------------------------------------


def text_shown(
    value: Any, *, raw_allowed: bool, scanner: PiiScanner | None = None, key: str | None = None
) -> str:
    """``value`` as the console shows it to a reader: as stored to one holding
    ``compliance.view_raw_payload``, with every piece of personal data the scanner finds
    masked to anyone else. Every text of the console that a producer, a policy or a caller
    chose goes through here: agent ids, tool names, payload keys, SDK versions, summaries.

    ``scanner`` is the session's project's (the built-in one when there is no session);
    ``key`` is the JSON key holding the text, context for bare phone and SSN numbers.
    """
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if raw_allowed or not text:
        return text
    return text_mask(scanner=scanner or scanner_build(), text=text, key=key)


def payload_keys_shown(payload: Any, *, raw_allowed: bool, scanner: PiiScanner) -> Any:
    """``payload`` with its object keys as ``text_shown`` shows them (a key can itself be an
    e-mail address). Keys that mask alike stay apart, numbered."""
    if raw_allowed:
        return payload
    if isinstance(payload, list):
        return [payload_keys_shown(item, raw_allowed=False, scanner=scanner) for item in payload]
    if not isinstance(payload, dict):
        return payload
    shown: dict[str, Any] = {}
    for key, value in payload.items():
        name = text_shown(key, raw_allowed=False, scanner=scanner)
        unique, n = name, 1
        while unique in shown:
            n += 1
            unique = f"{name} ({n})"
        shown[unique] = payload_keys_shown(value, raw_allowed=False, scanner=scanner)
    return shown


@dataclass
class Reader:
    """``text_shown`` bound to one reader, with the scanner of each project at hand."""

    raw_allowed: bool
    _scanners: dict[Any, PiiScanner] = field(default_factory=dict, repr=False)

    @classmethod
    def for_user(cls, user: Any) -> Reader:
        return cls(raw_allowed=raw_payload_allowed(user))

    def scanner(self, project: Project | None = None) -> PiiScanner:
        pk = None if project is None else project.pk
        if pk not in self._scanners:
            self._scanners[pk] = scanner_build() if project is None else project_scanner(project)
        return self._scanners[pk]

    def text(self, value: Any, *, project: Project | None = None, key: str | None = None) -> str:
        if self.raw_allowed:
            return text_shown(value, raw_allowed=True)
        return text_shown(value, raw_allowed=False, scanner=self.scanner(project), key=key)


# The steps of a path written by ``policy.pii.child_path``: .name, [index] or ['escaped'].
_STEP = re.compile(r"\.([^\W\d]\w*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]")
_UNESCAPE = re.compile(r"\\(.)")


def path_steps(path: str) -> list[str | int]:
    """The keys and indexes of a finding's path; ValueError if it is not one."""
    if not path.startswith("$"):
        raise ValueError(f"not a payload path: {path!r}")
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise ValueError(f"not a payload path: {path!r}")
        name, index, quoted = match.groups()
        if name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(_UNESCAPE.sub(r"\1", quoted))
        position = match.end()
    return steps


def _mask_at(payload: Any, path: str, previews: list[str], scanner: PiiScanner) -> Any:
    """``payload`` with the value at ``path`` masked (in place below the top level).

    The value is masked by the scanner, so the words around the personal data stay
    readable; if the scanner no longer recognises it (the policy changed since the findings
    were stored), the whole value gives way to the stored previews.
    """
    steps = path_steps(path)
    key = next((step for step in reversed(steps) if isinstance(step, str)), None)

    def masked(value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        hidden = text_mask(scanner=scanner, text=text, key=key)
        return hidden if hidden != text else " ".join(previews)

    if not steps:
        return masked(payload)
    container = payload
    for step in steps[:-1]:
        container = container[step]
    if isinstance(steps[-1], int) != isinstance(container, list):
        raise TypeError(f"{path!r} does not fit the payload")
    container[steps[-1]] = masked(container[steps[-1]])
    return payload


_HIDDEN = "(hidden: this payload holds personal data)"


def payload_masked(
    payload: Any,
    *,
    findings: Iterable[tuple[str, str]],
    scanner: PiiScanner,
    _rescan: bool = True,
) -> tuple[Any, int]:
    """(``payload`` with every value named by a finding masked, how many values were masked).

    ``findings`` are (path, masked preview) pairs. ``payload`` is changed in place: pass a
    copy you own. A path that cannot be followed (the payload is not the one scanned) makes
    the whole payload be scanned again and masked by what that finds, and if that finds
    nothing the payload is hidden whole: nothing stays visible because of a stale path.
    """
    by_path: dict[str, list[str]] = {}
    for path, preview in findings:
        by_path.setdefault(path, []).append(preview)
    if not by_path:
        return payload, 0
    snapshot = json.dumps(payload)
    try:
        for path, previews in by_path.items():
            payload = _mask_at(payload, path, previews, scanner)
        return payload, len(by_path)
    except (ValueError, LookupError, TypeError):
        if not _rescan:
            return _HIDDEN, len(by_path)
        original = json.loads(snapshot)
        scanned = [(f.path, f.preview) for f in payload_scan(scanner=scanner, payload=original)]
        if not scanned:
            return _HIDDEN, len(by_path)
        return payload_masked(original, findings=scanned, scanner=scanner, _rescan=False)


def scanner_for(session: Session) -> PiiScanner:
    """The PII scanner of the session's project; the built-in one if its policy is unusable."""
    return project_scanner(session.project)


def project_scanner(project: Project) -> PiiScanner:
    try:
        return policy_for_project(project=project).scanner
    except PolicyError:
        return scanner_build()


# --------------------------------------------------------------------------------------
# The session list: searching and counting
# --------------------------------------------------------------------------------------

_HEX = re.compile(r"[0-9a-f]{1,32}")


def agents_shown(*, sessions: QuerySet[Session], reader: Reader) -> dict[str, list[tuple]]:
    """Each agent id as ``reader`` sees it, in order, with the (agent id, project id) pairs
    shown so: several agent ids can mask alike."""
    pairs = list(sessions.order_by().values_list("agent_id", "project_id").distinct())
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
            for text, pairs in agents_shown(sessions=Session.objects.all(), reader=reader).items()
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
    list of a very large table instead of counting it (a count is a scan of every row).

    Below ``ESTIMATE_FROM`` rows, or with any filter, it counts exactly. An estimate that is
    too high only shows page links past the end; the admin answers those like any page
    number out of range.
    """

    ESTIMATE_FROM = 1_000_000

    @cached_property
    def count(self) -> int:
        estimate = _row_estimate(self.object_list)
        if estimate is not None and estimate >= self.ESTIMATE_FROM:
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


# --------------------------------------------------------------------------------------
# The session page
# --------------------------------------------------------------------------------------

TIMELINE_PAGE_SIZE = 50
LISTED = 200  # PII findings and tool calls listed on the page; the totals count them all


@dataclass
class TimelineRow:
    sequence_number: int
    event_id: str
    event_type: str
    timestamp_wall: str
    summary: str
    payload_text: str
    personal_data: int  # values holding personal data in this payload
    shown_raw: bool
    payload_hash: str
    prev_event_hash: str | None
    event_hash: str
    chain_authority: str
    authority_id: str
    source_sdk_ver: str
    received_at: Any

    @property
    def type_label(self) -> str:
        return EVENT_TYPES.get(self.event_type, self.event_type)

    @property
    def time_shown(self) -> str:
        """The producer's clock to the millisecond; anything unusual exactly as stored."""
        stamp = self.timestamp_wall
        if len(stamp) >= 20 and stamp[10] == "T" and stamp.endswith("Z"):
            return f"{stamp[:10]} {stamp[11:23]}"
        return stamp


@dataclass
class SessionPage:
    session: Session
    # What a reader acts on: the latest verification once sealed (a failure found after the
    # seal shows here), while the one made at seal time stays beside it.
    verdict: Verdict
    evidence_class: str | None  # ingestion.selectors.session_current_evidence_class
    latest: Verification | None  # the latest verification, whatever ran it
    latest_verdict: Verdict | None
    latest_when: str
    seal_verdict: Verdict | None  # the verification made when the session was sealed
    seal: Mapping[str, Any] | None  # the CHAIN_SEAL payload
    seal_key_id: str | None
    findings: Findings | None
    pii_listed: list[dict[str, Any]] = field(default_factory=list)
    pii_total: int = 0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_calls_total: int = 0
    tool_totals: list[dict[str, Any]] = field(default_factory=list)
    rule_results: list[dict[str, Any]] = field(default_factory=list)
    exports: list[ExportRecord] = field(default_factory=list)
    timeline: Page | None = None
    rows: list[TimelineRow] = field(default_factory=list)
    raw_allowed: bool = False
    # As ``text_shown`` shows them to this reader.
    agent_id: str = ""
    project_name: str = ""


def _envelope(event: Event) -> dict[str, Any]:
    """The event's envelope; a stored payload text that is no longer JSON (altered behind
    the service's back) is shown as that text instead of breaking the page."""
    try:
        payload = None if event.payload_jcs is None else json.loads(event.payload_jcs)
    except ValueError:
        payload = event.payload_jcs
    return {
        "event_id": event.event_id,
        "sequence_number": event.sequence_number,
        "timestamp_wall": event.timestamp_wall,
        "event_type": event.event_type,
        "payload": payload,
        "event_hash": event.event_hash,
    }


def _findings_read(
    findings: Findings, first: int, last: int
) -> tuple[list[dict], int, dict[int, list[tuple[str, str]]], dict[str, Any]]:
    """One pass over the stored PII findings: those listed, their total, and the (path,
    preview) pairs of the events ``first`` to ``last``; plus the tool audit."""
    lists = selectors.findings_lists(findings=findings)
    listed: list[dict] = []
    total = 0
    on_page: dict[int, list[tuple[str, str]]] = {}
    for finding in lists["pii_findings"]:
        total += 1
        if len(listed) < LISTED:
            listed.append(
                {**finding, "kind_label": PII_KINDS.get(finding["kind"], finding["kind"])}
            )
        sequence = finding.get("sequence_number")
        if isinstance(sequence, int) and first <= sequence <= last:
            on_page.setdefault(sequence, []).append((finding["path"], finding["preview"]))
    return listed, total, on_page, lists["tool_audit"]


def session_page(*, session: Session, page_number: Any, raw_allowed: bool) -> SessionPage:
    """Everything the session page shows. Reads the session's latest findings once (their
    long lists walked, never parsed whole) and one page of its events."""
    seal = session_seal_envelope(session=session)
    seal_payload = seal["payload"] if seal and isinstance(seal.get("payload"), Mapping) else None
    signature = (seal_payload or {}).get("signature")
    latest = session_latest_verification(session=session)
    latest_verdict = None if latest is None else verdict_describe(latest.report)
    current = session_current_evidence_class(session=session, latest=latest)
    page = SessionPage(
        session=session,
        verdict=latest_verdict
        if current is not None and latest_verdict is not None
        else verdict_describe(session.verification),
        evidence_class=current,
        latest=latest,
        latest_verdict=latest_verdict,
        latest_when="" if latest is None else verification_when(latest.verified_at, latest.trigger),
        seal_verdict=verdict_describe(session.verification) if session.verification else None,
        seal=seal_payload,
        seal_key_id=signature.get("key_id") if isinstance(signature, Mapping) else None,
        findings=selectors.session_findings_latest(session=session),
        raw_allowed=raw_allowed,
    )
    events = Event.objects.filter(session=session).order_by("sequence_number")
    page.timeline = Paginator(events, TIMELINE_PAGE_SIZE).get_page(page_number)
    stored = list(page.timeline.object_list)
    first = stored[0].sequence_number if stored else 0
    last = stored[-1].sequence_number if stored else -1

    scanner = scanner_for(session)

    def shown(value: Any, key: str | None = None) -> str:
        return text_shown(value, raw_allowed=raw_allowed, scanner=scanner, key=key)

    page.agent_id, page.project_name = shown(session.agent_id), shown(session.project.name)
    on_page: dict[int, list[tuple[str, str]]] = {}
    covered = 0  # events below this sequence number were scanned when findings were stored
    if page.findings is not None:
        covered = page.findings.event_count
        page.pii_listed, page.pii_total, on_page, audit = _findings_read(page.findings, first, last)
        for finding in page.pii_listed:
            finding["path"] = shown(finding["path"])  # the path spells out the keys
        calls = list(audit.get("calls") or ())
        page.tool_calls_total = len(calls)
        page.tool_calls = [
            {
                **call,
                "tool_name": shown(call.get("tool_name")),
                "args": [
                    {**arg, "key": shown(arg.get("key")), "preview": shown(arg.get("preview"))}
                    for arg in call.get("args") or ()
                ],
                "args_logged": shown(call.get("args_logged")),
                "status_label": TOOL_STATUSES.get(call.get("status"), call.get("status")),
            }
            for call in calls[:LISTED]
        ]
        page.tool_totals = [
            {**total, "tool_name": shown(total.get("tool_name"))}
            for total in audit.get("totals") or ()
        ]
        page.rule_results = [
            {**rule, "rule": shown(rule.get("rule")), "message": shown(rule.get("message"))}
            for rule in page.findings.rule_results or ()
        ]

    for event in stored:
        page.rows.append(_row(event, on_page, covered, scanner, raw_allowed))
    page.exports = list(
        ExportRecord.objects.filter(session=session).order_by("-recorded_at", "-pk")[:LISTED]
    )
    for record in page.exports:
        record.actor = shown(record.actor)  # shown only, never saved: ledger rows are final
    return page


def _row(
    event: Event,
    on_page: Mapping[int, list[tuple[str, str]]],
    covered: int,
    scanner: PiiScanner,
    raw_allowed: bool,
) -> TimelineRow:
    envelope = _envelope(event)
    payload = envelope["payload"]
    sequence = event.sequence_number
    if sequence < covered:
        found = on_page.get(sequence, [])
    elif event.event_type == "CHAIN_SEAL" or payload is None:
        found = []  # the service's own seal holds no agent data
    else:
        # Not covered by the stored findings (the session is still open, or was never
        # evaluated): scan now, so personal data is never shown for want of a finding.
        found = [(f.path, f.preview) for f in payload_scan(scanner=scanner, payload=payload)]
    personal = len({path for path, _ in found})
    if found and not raw_allowed:
        payload, personal = payload_masked(payload, findings=found, scanner=scanner)
    payload = payload_keys_shown(payload, raw_allowed=raw_allowed, scanner=scanner)

    def shown(value: Any) -> str:
        return text_shown(value, raw_allowed=raw_allowed, scanner=scanner)

    return TimelineRow(
        sequence_number=sequence,
        event_id=shown(event.event_id),
        event_type=event.event_type,
        timestamp_wall=shown(event.timestamp_wall),
        # Free text is masked there for every reader; names (agent, tool, model) are not.
        summary=shown(event_summary(envelope, scanner)),
        payload_text="(withheld)"
        if payload is None
        else json.dumps(payload, indent=2, ensure_ascii=False),
        personal_data=personal,
        shown_raw=raw_allowed,
        payload_hash=event.payload_hash,
        prev_event_hash=event.prev_event_hash,
        event_hash=event.event_hash,
        chain_authority=event.chain_authority,
        authority_id=shown(event.authority_id),
        source_sdk_ver=shown(event.source_sdk_ver),
        received_at=event.received_at,
    )


def timeline_page_of(sequence_number: int) -> int:
    return sequence_number // TIMELINE_PAGE_SIZE + 1


# --------------------------------------------------------------------------------------
# Several sessions in one zip
# --------------------------------------------------------------------------------------

ZIP_MAX_SESSIONS = 25  # each session's PDF takes a moment; larger sets: manage.py export_sessions
ZIP_FORMATS = (ExportFormat.JSON.value, ExportFormat.PDF.value)


def sessions_zip_write(
    *, sessions: Iterable[Session], actor: Actor, target: IO[bytes], redact: bool = False
) -> dict:
    """Export each session as compliance JSON and PDF into a zip written to ``target``.

    Every file is recorded in the export ledger as it is made; ``manifest.json`` (RFC 8785)
    lists each file's SHA-256 and the verification status at export time. ``redact`` makes
    every file a masked copy (for a reader without ``compliance.view_raw_payload``); a
    session that cannot be masked raises ``services.RedactionImpossible``. Returns the
    manifest.
    """
    with tempfile.TemporaryDirectory(prefix="agentops-zip-") as tmp:
        folder = Path(tmp)
        results = [
            services.session_files_export(
                session=session, folder=folder, formats=ZIP_FORMATS, actor=actor, redact=redact
            )
            for session in sessions
        ]
        manifest = services.export_manifest_write(
            out_dir=folder, results=results, generated_by=actor.name
        )
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.write(folder / services.MANIFEST_NAME, services.MANIFEST_NAME)
            for result in results:
                for exported in result.files:
                    archive.write(exported.path, exported.path.relative_to(folder).as_posix())
    return manifest
