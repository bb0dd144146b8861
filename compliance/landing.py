"""The console's landing page: what needs a reviewer's attention, the latest seals, the
words the console uses, and the console's sections.

Every query here is bounded (a few rows, or a count that stops at ``COUNT_CAP``), so the
page costs the same on a hundred sessions as on millions. The words of the glossary come
from where the rest of the service takes them: ``compliance.labels`` (the console's names of
evidence classes), ``agentops_sdk.wording`` (what each class means, as the verifier and the
PDF say it) and ``compliance.statements`` (what a seal proves, as every export says it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agentops_sdk import wording
from django.apps import apps
from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode

from compliance import labels, statements
from ingestion.models import EvidenceClass, Session, Verification
from ingestion.selectors import sessions_with_latest_verification
from policy.masking import Reader
from policy.models import Findings


@dataclass(frozen=True)
class Section:
    label: str
    model: str  # "app_label.ModelName"
    purpose: str


#: The console's navigation, in order. A model that is not installed is left out.
SECTIONS: tuple[Section, ...] = (
    Section("Sessions", "ingestion.Session", "Every recorded agent session: find, verify, export."),
    Section("Matters", "compliance.Matter", "Cases: sessions tagged together, notes, one export."),
    Section("Findings", "policy.Findings", "Policy evaluations: personal data, rules broken."),
    Section("Exports", "compliance.ExportRecord", "Who received which file of which session."),
    Section("Access log", "compliance.AccessRecord", "Who looked at what in this console."),
    Section("Erasures", "ingestion.Erasure", "Personal data erased, under which request."),
)

#: Models of the running of the service, not of the evidence: hidden from reviewers'
#: navigation, listed for superusers. Their pages stay reachable through the links that
#: lead there (an event from its session's page).
ENGINEERING: frozenset[str] = frozenset(
    {
        "ingestion.event",
        "ingestion.project",
        "ingestion.apikey",
        "auth.user",
        "auth.group",
    }
)

#: Counts on the landing page stop here ("250 or more"); the list counts them all.
COUNT_CAP = 250
#: Sessions listed under each heading of the landing page.
LISTED = 5
RECENT_SEALS = 8


def _model_of(dotted: str):
    try:
        return apps.get_model(dotted)
    except (LookupError, ValueError):
        return None


def navigation(*, user: Any, registry: dict) -> list[dict[str, str]]:
    """The sections ``user`` may open: label, URL, purpose."""
    found = []
    for section in SECTIONS:
        model = _model_of(section.model)
        if model is None or model not in registry:
            continue
        opts = model._meta
        if not user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
            continue
        try:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        except NoReverseMatch:
            continue
        found.append({"label": section.label, "url": url, "purpose": section.purpose})
    return found


def app_list_for(*, user: Any, app_list: list[dict]) -> list[dict]:
    """Django's list of apps and models, without the engineering models unless ``user`` is
    a superuser."""
    if user.is_superuser:
        return app_list
    shown = []
    for app in app_list:
        models = [
            m
            for m in app["models"]
            if f"{app['app_label']}.{m['object_name'].lower()}" not in ENGINEERING
        ]
        if models:
            shown.append({**app, "models": models})
    return shown


# --------------------------------------------------------------------------------------
# Sessions needing attention
# --------------------------------------------------------------------------------------


def unsealed_hours() -> int:
    return max(1, int(getattr(settings, "AGENTOPS_CONSOLE_UNSEALED_HOURS", 24)))


def unsealed_since(*, now: datetime | None = None) -> datetime:
    """Open sessions that have recorded nothing since this moment are "unsealed for long"."""
    return (now or timezone.now()) - timedelta(hours=unsealed_hours())


def sessions_unsealed_long(sessions: QuerySet[Session], *, now: datetime | None = None):
    """Still open, and nothing recorded for ``AGENTOPS_CONSOLE_UNSEALED_HOURS`` hours: the
    recording may have stopped without its seal (the partial index on open sessions'
    last_event_at answers it)."""
    cutoff = unsealed_since(now=now)
    return sessions.filter(sealed_at__isnull=True).filter(
        Q(last_event_at__lt=cutoff) | Q(last_event_at__isnull=True, created_at__lt=cutoff)
    )


def _sessions() -> QuerySet[Session]:
    latest = Findings.objects.filter(session=OuterRef("pk")).order_by("-evaluated_at", "-pk")
    return sessions_with_latest_verification(Session.objects.select_related("project")).annotate(
        latest_pii_count=Subquery(latest.values("pii_count")[:1]),
        latest_rules_failed=Subquery(latest.values("rules_failed")[:1]),
    )


@dataclass(frozen=True)
class Concern:
    key: str
    title: str
    why: str
    params: dict[str, str]
    narrow: Callable[[QuerySet[Session]], QuerySet[Session]]


#: Up to this many candidate sessions, a concern is answered from their ids; beyond, by
#: walking the sessions newest first (a common concern finds its few rows at once).
CANDIDATES_LISTED = 2000


def _narrowed(candidates: QuerySet, condition: dict[str, Any]):
    """A narrowing to the sessions meeting ``condition`` (on the list's computed columns),
    which only ``candidates`` (a query of session ids, a cheap superset) can meet.

    Computing the latest verification or findings is one lookup per session. A rare concern
    (few candidates) is answered from the candidates' ids alone, so it never costs a walk
    through every session; a common one walks the sessions newest first and stops at the
    few it shows (and at ``COUNT_CAP`` when counting)."""

    def narrow(sessions: QuerySet[Session]) -> QuerySet[Session]:
        ids = list(candidates[: CANDIDATES_LISTED + 1])
        if len(ids) <= CANDIDATES_LISTED:
            sessions = sessions.filter(pk__in=ids)
        return sessions.filter(**condition)

    return narrow


def _of_class(evidence_class: str) -> Callable[[QuerySet[Session]], QuerySet[Session]]:
    """Sessions a reader is shown as ``evidence_class`` (the latest verification's class):
    only a session whose own column or some verification holds it can be."""
    own = Session.objects.filter(evidence_class=evidence_class).values_list("pk", flat=True)
    verified = Verification.objects.filter(evidence_class=evidence_class).values_list(
        "session_id", flat=True
    )
    # union() drops duplicates.
    return _narrowed(
        own.order_by().union(verified.order_by()), {"current_evidence_class": evidence_class}
    )


def _latest_findings_over_zero(column: str) -> Callable[[QuerySet[Session]], QuerySet[Session]]:
    """Sessions whose latest findings count more than zero in ``column``: only a session
    with some findings counting so can be."""
    some = (
        Findings.objects.filter(**{f"{column}__gt": 0})
        .order_by()
        .values_list("session_id", flat=True)
        .distinct()
    )
    latest = {"pii_count": "latest_pii_count", "rules_failed": "latest_rules_failed"}[column]
    return _narrowed(some, {f"{latest}__gt": 0})


def concerns() -> tuple[Concern, ...]:
    """What makes a session need a reviewer, each with the session list's parameters that
    list the same sessions (the list's own filters, ``compliance.admin``)."""
    hours = unsealed_hours()
    return (
        Concern(
            "failed",
            labels.evidence_label(EvidenceClass.FAILED).headline,
            wording.sentence(wording.FAILED_MEANING),
            {"evidence_class": EvidenceClass.FAILED},
            _of_class(EvidenceClass.FAILED),
        ),
        Concern(
            "partial",
            labels.evidence_label(EvidenceClass.PARTIAL_AUTHORITATIVE).headline,
            wording.sentence(
                wording.evidence_meaning(EvidenceClass.PARTIAL_AUTHORITATIVE)
                + " something is missing: the session's page says what"
            ),
            {"evidence_class": EvidenceClass.PARTIAL_AUTHORITATIVE},
            _of_class(EvidenceClass.PARTIAL_AUTHORITATIVE),
        ),
        Concern(
            "breaches",
            "Policy rules broken",
            "The latest policy evaluation found at least one rule broken.",
            {"violations": "found"},
            _latest_findings_over_zero("rules_failed"),
        ),
        Concern(
            "personal",
            "Personal data found",
            "The latest policy evaluation found personal data (e-mail addresses, phone "
            "numbers, card numbers…) in what the agent recorded.",
            {"pii": "found"},
            _latest_findings_over_zero("pii_count"),
        ),
        Concern(
            "unsealed",
            f"Unsealed for over {hours} hours",
            wording.sentence(wording.PARTIAL_REASONS["UNSEALED_SESSION"])
            + f" Nothing was recorded in the last {hours} hours.",
            {"sealed": "long"},
            sessions_unsealed_long,
        ),
    )


@dataclass(frozen=True)
class Row:
    session_id: Any
    url: str
    agent: str
    project: str
    started: datetime
    sealed_at: datetime | None
    label: labels.EvidenceLabel


def _rows(sessions, reader: Reader) -> list[Row]:
    return [
        Row(
            session_id=s.pk,
            url=reverse("admin:ingestion_session_change", args=[s.pk]),
            agent=reader.text(s.agent_id, project=s.project),
            project=s.project.name,
            started=s.created_at,
            sealed_at=s.sealed_at,
            label=labels.evidence_label(s.current_evidence_class),
        )
        for s in sessions
    ]


def _newest(sessions: QuerySet[Session], reader: Reader) -> list[Row]:
    """The newest ``LISTED`` of ``sessions``: their keys first, so that the computed columns
    are computed for those few rows only, not for every row the database sorts."""
    keys = list(sessions.values_list("pk", flat=True)[:LISTED])
    return _rows(_sessions().filter(pk__in=keys).order_by("-created_at", "-pk"), reader)


def attention(*, reader: Reader) -> list[dict[str, Any]]:
    """For each concern: its words, how many sessions (up to ``COUNT_CAP``), the newest few,
    and the link to all of them."""
    listed = reverse("admin:ingestion_session_changelist")
    found = []
    for concern in concerns():
        sessions = concern.narrow(_sessions()).order_by("-created_at", "-pk")
        count = sessions.order_by().values("pk")[: COUNT_CAP + 1].count()
        found.append(
            {
                "key": concern.key,
                "title": concern.title,
                "why": concern.why,
                "count": min(count, COUNT_CAP),
                "more": count > COUNT_CAP,
                "rows": _newest(sessions, reader) if count else [],
                "url": f"{listed}?{urlencode(concern.params)}",
            }
        )
    return found


def recent_seals(*, reader: Reader) -> list[Row]:
    # The keys first: sorting every sealed session with its computed columns would compute
    # them for every one.
    keys = list(
        Session.objects.filter(sealed_at__isnull=False)
        .order_by("-sealed_at", "-pk")
        .values_list("pk", flat=True)[:RECENT_SEALS]
    )
    sessions = _sessions().filter(pk__in=keys).order_by("-sealed_at", "-pk")
    return _rows(sessions, reader)


# --------------------------------------------------------------------------------------
# Glossary
# --------------------------------------------------------------------------------------


def glossary() -> dict[str, Any]:
    """The evidence classes in the console's words and the verifier's, and what a seal
    proves and does not, as every export states it."""
    classes = []
    for value in (
        EvidenceClass.AUTHORITATIVE,
        EvidenceClass.PARTIAL_AUTHORITATIVE,
        EvidenceClass.NON_AUTHORITATIVE,
        EvidenceClass.FAILED,
        None,
    ):
        label = labels.evidence_label(value)
        reasons: list[str] = []
        if value == EvidenceClass.PARTIAL_AUTHORITATIVE:
            # The verifier's words end on "but": the reasons a report gives follow.
            meaning = wording.sentence(wording.evidence_meaning(value) + " one of these holds:")
            meaning = meaning.removesuffix(".")
            reasons = [
                wording.sentence(wording.partial_reason(code)) for code in wording.PARTIAL_REASONS
            ]
        elif value == EvidenceClass.FAILED:
            meaning = wording.sentence(wording.FAILED_MEANING)
        elif value is None:
            meaning = wording.sentence(wording.PARTIAL_REASONS["UNSEALED_SESSION"])
        else:
            meaning = wording.sentence(wording.evidence_meaning(value))
        classes.append({"label": label, "meaning": meaning, "reasons": reasons})
    return {
        "classes": classes,
        "seal_proves": statements.SEAL_PROVES,
        "seal_does_not_prove": statements.SEAL_DOES_NOT_PROVE,
    }


def landing_context(*, user: Any, registry: dict, reader: Reader) -> dict[str, Any]:
    """Everything the landing page shows to ``user``."""
    can_see_sessions = user.has_perm("ingestion.view_session")
    return {
        "sections": navigation(user=user, registry=registry),
        "attention": attention(reader=reader) if can_see_sessions else [],
        "recent_seals": recent_seals(reader=reader) if can_see_sessions else [],
        "glossary": glossary(),
        "unsealed_hours": unsealed_hours(),
        "count_cap": COUNT_CAP,
    }
