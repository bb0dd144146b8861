"""The verdict of a verification (spec §7) in words, the same wherever a person reads it:
``agentops-verify``'s text report, the compliance console and the PDF report.

Every text here is a fragment that starts in lower case and has no final full stop, so a
caller can list it ("  - ..."), join it ("...; ...") or make it a sentence (``sentence``).
Codes are written out rather than imported from ``verify``, which renders with this module;
a test holds the two to the same set of codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: What each evidence class tells a reader. The partial one ends on "but": the reasons of
#: the report (``partial_reasons``) follow it.
EVIDENCE_MEANINGS = {
    "AUTHORITATIVE_EVIDENCE": "every event is intact, the chain is complete and sealed by a "
    "trusted key",
    "PARTIAL_AUTHORITATIVE_EVIDENCE": "every event is intact and the chain is unbroken, but",
    "NON_AUTHORITATIVE_EVIDENCE": "the events are intact and consistently chained, but the "
    "recording agent computed the hashes itself, not an independent service; this shows "
    "consistency, not authenticity",
}

#: Why a passing report is only partial. ``{drops}`` is the report's ``total_drops``.
PARTIAL_REASONS = {
    "UNSEALED_SESSION": "the ingestion service has not sealed the session, so nothing vouches "
    "that the recording is complete",
    "SIGNATURE_NOT_CHECKED": "the seal's signature was not checked: no public key was supplied",
    "KEY_NOT_TRUSTED": "a signature (the seal's, or the export's) is valid only under a key "
    "that is not trusted, such as one embedded in the file itself, which anyone could have "
    "put there; supply the service's published key or key id",
    "EXPORT_NOT_SIGNED": "the export carries no export signature (it was made before exports "
    "were signed, or the signature was removed): only its events are covered, by the seal; "
    "its session, findings, chain of custody, notices and the rest may have been changed",
    "MISSING_SESSION_END": "the session has no recorded end (SESSION_END), so the recording "
    "may have stopped early",
    "LOG_DROP_PRESENT": "the recorder reported {drops} lost event(s) (LOG_DROP)",
}

_DROPS_UNKNOWN = "the recorder reported lost events (LOG_DROP)"

FAILED_MEANING = (
    "the log has been altered, is incomplete, or breaks the rules of the event-log "
    "specification. It must not be relied on as evidence"
)


def sentence(fragment: str) -> str:
    """``fragment`` with a capital first letter and a full stop."""
    if not fragment:
        return fragment
    return fragment[0].upper() + fragment[1:] + ("" if fragment.endswith(".") else ".")


def evidence_meaning(evidence_class: str | None) -> str:
    """What ``evidence_class`` tells a reader; a class this module does not know, as is."""
    return EVIDENCE_MEANINGS.get(evidence_class or "", str(evidence_class))


def partial_reason(code: str, *, drops: Any = None) -> str:
    """One reason a report is partial; a code this module does not know is shown as is."""
    if code == "LOG_DROP_PRESENT" and (not isinstance(drops, int) or isinstance(drops, bool)):
        return _DROPS_UNKNOWN  # reports stored before they counted the drops
    text = PARTIAL_REASONS.get(code)
    return str(code) if text is None else text.format(drops=drops)


def partial_reasons(report: Mapping[str, Any]) -> list[str]:
    """Each reason the §7 ``report`` gives for being partial, in its order."""
    drops = report.get("total_drops")
    return [partial_reason(code, drops=drops) for code in report.get("partial_reasons") or ()]


def failed_summary(problem_count: int) -> str:
    """What a failed verification means, with the number of problems it found."""
    plural = "s" if problem_count != 1 else ""
    return f"{problem_count} problem{plural} found: {FAILED_MEANING}"
