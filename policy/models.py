"""Stored policy evaluations of sessions.

One row per evaluation, never updated: a later evaluation (another policy, or a new version
of the same one) adds a row, so a report can always cite what was found under which policy
version. Only masked previews are stored; no raw personal data reaches this table.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone


class Findings(models.Model):
    """The result of evaluating one session under one version of one policy."""

    session = models.ForeignKey(
        "ingestion.Session", on_delete=models.PROTECT, related_name="policy_findings"
    )
    policy_name = models.CharField(max_length=200)
    policy_sha256 = models.CharField(max_length=64)
    evaluated_at = models.DateTimeField(default=timezone.now)
    passed = models.BooleanField()
    event_count = models.BigIntegerField()
    pii_count = models.IntegerField()
    rules_failed = models.IntegerField()
    summary = models.JSONField(default=dict)
    pii_findings = models.JSONField(default=list)
    rule_results = models.JSONField(default=list)
    tool_audit = models.JSONField(default=dict)

    class Meta:
        verbose_name = "policy findings"
        verbose_name_plural = "policy findings"
        indexes = [
            models.Index(fields=["session", "-evaluated_at"], name="findings_session_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} under {self.policy_name}@{self.policy_sha256[:12]}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("stored findings are not changed; evaluate the session again")
        super().save(*args, **kwargs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": {"name": self.policy_name, "sha256": self.policy_sha256},
            "evaluated_at": self.evaluated_at.isoformat(),
            "passed": self.passed,
            "summary": self.summary,
            "rule_results": self.rule_results,
            "pii_findings": self.pii_findings,
            "tool_audit": self.tool_audit,
        }


class SubjectFingerprint(models.Model):
    """A keyed fingerprint of one piece of personal data found in one stored event.

    HMAC-SHA-256 of the normalized value under ``AGENTOPS_SUBJECT_KEY`` (``policy.subjects``):
    a data subject's events are found across a project's sessions without the value being
    kept anywhere. Rows are only added (``manage.py subject_fingerprints_record`` backfills).
    """

    session = models.ForeignKey(
        "ingestion.Session",
        on_delete=models.PROTECT,
        related_name="subject_fingerprints",
        db_index=False,
    )
    sequence_number = models.BigIntegerField()
    kind = models.CharField(max_length=16)
    fingerprint = models.CharField(max_length=64)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "sequence_number", "kind", "fingerprint"],
                name="fingerprint_event_uniq",
            ),
        ]
        indexes = [models.Index(fields=["fingerprint"], name="fingerprint_value_idx")]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.sequence_number} {self.kind}"
