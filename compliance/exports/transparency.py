"""The export's ``transparency`` section and the PDF's sentence about it.

The section is the session's entry in the service's transparency log: the leaf, its index,
the signed tree head it is proven against and the audit path (RFC 9162). ``agentops-verify``
checks it offline; a session sealed before the log existed, or not sealed, has none (null).
"""

from __future__ import annotations

from typing import Any

from ingestion.transparency.services import session_inclusion

from .context import ExportContext


def transparency_section(context: ExportContext) -> dict[str, Any] | None:
    if not context.sealed:
        return None
    return session_inclusion(session_id=str(context.session.pk))


def transparency_statement(section: dict[str, Any] | None) -> str:
    """The section in plain words, for the chain-of-custody page."""
    if section is None:
        return (
            "This session has no entry in the service's public log (it is not sealed, or it "
            "was sealed before the log was kept)."
        )
    head = section["tree_head"]
    return (
        f"This session is entry {section['leaf_index']} of the service's public log; the "
        f"log's signed state of {head['timestamp'][:10]} ({head['tree_size']} entries, "
        f"{head['timestamp']}) includes it. Anyone can check this with agentops-verify "
        "and the audit path in the compliance JSON export."
    )
