"""What a reader without the right to see personal data is shown instead of it.

- ``text_shown`` masks every piece of personal data a scanner finds in a text (agent ids,
  tool names, payload keys, summaries).
- ``payload_masked`` masks the payload values located by the JSON paths of stored PII
  findings (``agentops_sdk.jsonpath``), scanning again when a path no longer fits.
- ``payload_keys_shown`` masks a payload's object keys.
- ``Reader`` binds these to one reader, with each project's scanner at hand.

Who may see raw payloads is the compliance app's permission; here it is just ``raw_allowed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentops_sdk.jsonpath import path_steps

from ingestion.models import Project
from policy.pii import PiiScanner, payload_scan, scanner_build, text_mask
from policy.services import scanner_for_project


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

    def scanner(self, project: Project | None = None) -> PiiScanner:
        pk = None if project is None else project.pk
        if pk not in self._scanners:
            self._scanners[pk] = scanner_for_project(project=project)
        return self._scanners[pk]

    def text(self, value: Any, *, project: Project | None = None, key: str | None = None) -> str:
        if self.raw_allowed:
            return text_shown(value, raw_allowed=True)
        return text_shown(value, raw_allowed=False, scanner=self.scanner(project), key=key)


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


#: What a payload is shown as when no masking of its parts can be trusted.
HIDDEN = "(hidden: this payload holds personal data)"

#: What a finding shows once the payload it was found in is erased: its masked preview is gone
#: (withheld with the payload), the finding itself stays.
ERASED = "(erased)"


def preview_shown(preview: str | None) -> str:
    """A stored masked preview, or ``ERASED`` where erasure withheld it."""
    return ERASED if preview is None else preview


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
            return HIDDEN, len(by_path)
        original = json.loads(snapshot)
        scanned = [(f.path, f.preview) for f in payload_scan(scanner=scanner, payload=original)]
        if not scanned:
            return HIDDEN, len(by_path)
        return payload_masked(original, findings=scanned, scanner=scanner, _rescan=False)
