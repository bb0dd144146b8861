"""Policy services: which policy applies to a project, evaluating and checking sessions.

Settings read here (all optional):

``AGENTOPS_POLICY_FILES``
    Mapping of project name to policy file path (relative paths are relative to
    ``BASE_DIR``). Projects not listed use ``policy/policies/default.yaml``.
``AGENTOPS_PII_DEFAULT_REGION``
    Region of phone numbers written without ``+`` (default ``"US"``).

Hooks for the ingestion service: ``policy.services.batch_check`` in
``AGENTOPS_BATCH_CHECKS`` and ``policy.services.seal_hook`` in ``AGENTOPS_SEAL_HOOKS``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from django.conf import settings

from ingestion.errors import IngestionError
from ingestion.models import Project, Session
from ingestion.selectors import session_envelopes
from policy import subjects
from policy.models import Findings
from policy.pii import PiiScanner, region_configured, scanner_build
from policy.rules import (
    DEFAULT_POLICY_FILE,
    Policy,
    PolicyError,
    batch_violation,
    policy_evaluate,
    policy_load,
)


def policy_path_for_project(*, project_name: str) -> Path:
    """The policy file that applies to the project named ``project_name``."""
    configured = (getattr(settings, "AGENTOPS_POLICY_FILES", None) or {}).get(project_name)
    if not configured:
        return DEFAULT_POLICY_FILE
    path = Path(configured)
    return path if path.is_absolute() else Path(settings.BASE_DIR) / path


@functools.lru_cache(maxsize=64)
def _policy_cached(path: str, mtime_ns: int, size: int, region: str) -> Policy:
    # Keyed on the file's modification time and size, so an edited policy file is picked up
    # by running processes without a restart; the region is baked into the compiled scanner.
    return policy_load(path=path)


def policy_for_project(*, project: Project) -> Policy:
    """The loaded policy of ``project``; raises ``PolicyError`` if its file is unusable."""
    path = policy_path_for_project(project_name=project.name)
    try:
        stat = path.stat()
    except OSError:
        return policy_load(path=path)  # raises a PolicyError naming the file
    return _policy_cached(str(path), stat.st_mtime_ns, stat.st_size, region_configured())


def scanner_for_project(*, project: Project | None) -> PiiScanner:
    """The PII scanner of ``project``'s policy: the one that found the stored findings, so
    what is masked matches what was found. The built-in scanner when there is no project,
    or when its policy file is unusable (a reader must never see data unmasked because a
    policy file broke)."""
    if project is None:
        return scanner_build()
    try:
        return policy_for_project(project=project).scanner
    except PolicyError:
        return scanner_build()


def session_findings_evaluate(*, session: Session) -> Findings:
    """Evaluate the session's stored events under its project's policy; store the result.

    Events are streamed from the database and scanned once: the subject fingerprints come
    from the evaluation's own findings.
    """
    policy = policy_for_project(project=session.project)
    fingerprints: set[tuple[int, str, str]] = set()
    report = policy_evaluate(
        policy=policy,
        events=session_envelopes(session=session),
        on_values=subjects.fingerprints_collector(scanner=policy.scanner, into=fingerprints),
    )
    summary = report.summary()
    data = report.as_dict()
    subjects.session_fingerprints_record(session=session, fingerprints=fingerprints)
    return Findings.objects.create(
        session=session,
        policy_name=policy.name,
        policy_sha256=policy.text_sha256,
        passed=report.passed,
        event_count=report.event_count,
        pii_count=summary["pii_findings"],
        rules_failed=summary["rules_failed"],
        summary=summary,
        pii_findings=data["pii_findings"],
        rule_results=data["rule_results"],
        tool_audit=data["tool_audit"],
    )


def session_findings_latest(*, session: Session) -> Findings | None:
    """The most recent stored evaluation of the session, if any."""
    return session.policy_findings.order_by("-evaluated_at", "-pk").first()


def batch_check(
    *,
    session: Session,
    proposals: list[dict[str, Any]],
    event_count_after: int,
    payload_bytes: list[int] | None = None,
) -> None:
    """``AGENTOPS_BATCH_CHECKS`` hook: refuse a batch that breaks the project's policy.

    Raises ``IngestionError("POLICY_VIOLATION", status=409 or 413)`` with ``details`` naming
    the rule, the policy and its version, and the offending sequence number when there is one.
    """
    policy = policy_for_project(project=session.project)
    violation = batch_violation(
        policy=policy,
        proposals=proposals,
        event_count_after=event_count_after,
        payload_bytes=payload_bytes,
    )
    if violation is None:
        return
    details: dict[str, Any] = {
        "rule": violation.rule,
        "policy": policy.name,
        "policy_sha256": policy.text_sha256,
    }
    if violation.sequence_number is not None:
        details["sequence_number"] = violation.sequence_number
    raise IngestionError(
        "POLICY_VIOLATION", violation.message, status=violation.status, details=details
    )


def seal_hook(*, session: Session) -> None:
    """``AGENTOPS_SEAL_HOOKS`` hook: record the policy findings of a freshly sealed session."""
    session_findings_evaluate(session=session)
