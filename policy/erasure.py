"""What erasure takes back from the stored findings: the masked previews of erased events.

Called inside the erasing transaction, after the ledger rows (``ingestion.services.erasure``):
migration policy/0003 lets a findings row change only so, and only then. The finding itself
(kind, path, sequence number, event id) stays; its ``preview`` becomes null, as does the
preview of each argument of an erased TOOL_CALL in the tool audit.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from ingestion.models import Session
from policy.models import Findings


def _pii_withdrawn(pii_findings: Any, erased: set[int]) -> Any:
    if not isinstance(pii_findings, list):
        return pii_findings
    for finding in pii_findings:
        if isinstance(finding, dict) and finding.get("sequence_number") in erased:
            finding["preview"] = None
    return pii_findings


def _audit_withdrawn(tool_audit: Any, erased: set[int]) -> Any:
    calls = tool_audit.get("calls") if isinstance(tool_audit, dict) else None
    if not isinstance(calls, list):
        return tool_audit
    for call in calls:
        if not isinstance(call, dict) or call.get("call_sequence_number") not in erased:
            continue
        if isinstance(call.get("args"), list):
            for arg in call["args"]:
                if isinstance(arg, dict):
                    arg["preview"] = None
    return tool_audit


def findings_previews_withdraw(*, session: Session, sequence_numbers: Iterable[int]) -> int:
    """Null the previews of ``sequence_numbers`` in every stored findings row of ``session``;
    returns how many rows changed."""
    return findings_previews_withdraw_many(targets={session.pk: sequence_numbers})


def findings_previews_withdraw_many(*, targets: Mapping[Any, Iterable[int]]) -> int:
    """``findings_previews_withdraw`` for many sessions (session id -> sequence numbers)."""
    erased = {pk: set(numbers) for pk, numbers in targets.items() if numbers}
    ids = list(erased)
    changed: list[Findings] = []
    for start in range(0, len(ids), 500):
        rows = Findings.objects.filter(session_id__in=ids[start : start + 500]).values_list(
            "pk", "session_id", "pii_findings", "tool_audit"
        )
        for pk, session_id, pii_findings, tool_audit in rows:
            numbers = erased[session_id]
            new_pii = _pii_withdrawn(copy.deepcopy(pii_findings), numbers)
            new_audit = _audit_withdrawn(copy.deepcopy(tool_audit), numbers)
            if new_pii != pii_findings or new_audit != tool_audit:
                changed.append(Findings(pk=pk, pii_findings=new_pii, tool_audit=new_audit))
    for row in changed:  # one UPDATE each: the trigger checks each row against the ledger
        Findings.objects.filter(pk=row.pk).update(
            pii_findings=row.pii_findings, tool_audit=row.tool_audit
        )
    return len(changed)


def preview_shown(preview: Any) -> str:
    """A finding's preview as a page shows it: a withdrawn one says so."""
    return "(erased)" if preview is None else str(preview)
