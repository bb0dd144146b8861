"""Shape validation of proposed event batches, in one pass over the batch.

This checks what a producer sent against spec §2/§4 (fields, types, known event types, the
payload fields each type requires) and reports every bad event with its index and field. It
does not hash and does not look at stored state: continuity, duplicates, ordering and the
canonical-value rules belong to ``ingestion.services.events_append``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from typing import Any

from agentops_sdk import chain
from django.conf import settings

from .errors import IngestionError

_ALLOWED_FIELDS = frozenset(chain.PRODUCER_FIELDS) | frozenset(chain.SERVER_OWNED_FIELDS)
_REQUIRED_FIELDS = tuple(name for name in chain.PRODUCER_FIELDS if name != "payload_hash")
_REQUIRED_SET = frozenset(_REQUIRED_FIELDS)
# Fields whose producer values are ignored; their type is not the producer's concern.
_IGNORED_FIELDS = frozenset(chain.SERVER_OWNED_FIELDS)

MAX_ERRORS_REPORTED = 50
# Matches the column that stores it; longer values are refused here, not by the database.
MAX_SDK_VER_CHARS = 200


# A text column stores neither (PostgreSQL refuses NUL, UTF-8 cannot encode a surrogate).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable_text(value: str) -> bool:
    # ASCII text holds no surrogate: only NUL is left to look for, without the pattern.
    if value.isascii():
        return "\x00" not in value
    return _UNSTORABLE.search(value) is None


_REQUIRED_WITH_HASH = _REQUIRED_SET | {"payload_hash"}


# The values ``_ordinary`` reads, fetched in one call once the names are known to be there.
_ORDINARY_VALUES = operator.itemgetter(
    "session_id",
    "event_id",
    "sequence_number",
    "timestamp_monotonic",
    "timestamp_wall",
    "event_type",
    "schema_ver",
    "payload",
    "source_sdk_ver",
)


def _ordinary(event: Any, session_id: str) -> bool:
    """True when every envelope field of ``event`` is as an ordinary proposal has it.

    One quick pass that the usual event passes; ``_event_problems`` then checks its payload
    alone, and describes an event that fails it field by field. The ingestion suite checks
    that both ways find the same problems.
    """
    if type(event) is not dict:
        return False
    names = event.keys()
    if names != _REQUIRED_SET and not (
        names == _REQUIRED_WITH_HASH and chain.is_sha256_hex(event["payload_hash"])
    ):
        return False
    (
        event_session,
        event_id,
        sequence,
        monotonic,
        wall,
        event_type,
        schema_ver,
        payload,
        sdk_ver,
    ) = _ORDINARY_VALUES(event)
    return (
        event_session == session_id
        and chain.is_canonical_uuid(event_id)
        and type(sequence) is int
        and 0 <= sequence <= chain.MAX_SAFE_INTEGER
        and type(monotonic) is int
        and 0 <= monotonic <= chain.MAX_SAFE_INTEGER
        and chain.is_rfc3339_utc(wall)
        and type(event_type) is str
        and event_type in chain.PRODUCER_EVENT_TYPES
        and schema_ver == chain.SPEC_VERSION
        and type(payload) is dict
        and type(sdk_ver) is str
        and 0 < len(sdk_ver) <= MAX_SDK_VER_CHARS
        and _storable_text(sdk_ver)
    )


def _event_problems(event: Any, *, session_id: str) -> list[tuple]:
    """(field, message) pairs for one proposed event."""
    if _ordinary(event, session_id):
        wanting = chain.payload_problems(event["event_type"], event["payload"])
        return [("payload", message) for message in wanting] if wanting else []
    return _detailed_problems(event, session_id=session_id)


def _detailed_problems(event: Any, *, session_id: str) -> list[tuple]:
    """(field, message) pairs for one proposed event, each envelope field on its own."""
    if not isinstance(event, Mapping):
        return [(None, "each event must be a JSON object")]
    missing, unknown = chain.field_name_problems(
        event, required=_REQUIRED_FIELDS, allowed=_ALLOWED_FIELDS
    )
    problems: list[tuple] = [(name, f"unknown envelope field {name!r}") for name in unknown]
    problems.extend((name, f"{name} is required") for name in missing)
    if event.keys().isdisjoint(_IGNORED_FIELDS):
        checked = event
    else:
        checked = {k: v for k, v in event.items() if k not in _IGNORED_FIELDS}
    problems.extend(chain.envelope_field_problems(checked))
    # The id enters the hash as text, so only the canonical spelling is accepted.
    if (
        "event_id" in event
        and chain.is_uuid(event["event_id"])
        and not chain.is_canonical_uuid(event["event_id"])
    ):
        problems.append(
            ("event_id", "event_id must be a UUID in canonical form (lowercase, 8-4-4-4-12)")
        )
    if "session_id" in event and event["session_id"] != session_id:
        problems.append(("session_id", "session_id does not match the session in the URL"))
    sdk_ver = event.get("source_sdk_ver")
    if isinstance(sdk_ver, str) and not 0 < len(sdk_ver) <= MAX_SDK_VER_CHARS:
        problems.append(
            ("source_sdk_ver", f"source_sdk_ver must be 1 to {MAX_SDK_VER_CHARS} characters")
        )
    elif isinstance(sdk_ver, str) and not _storable_text(sdk_ver):
        problems.append(("source_sdk_ver", "source_sdk_ver cannot contain NUL or surrogates"))
    event_type = event.get("event_type")
    try:
        known_type = event_type in chain.EVENT_TYPES
    except TypeError:  # a list or an object: unhashable, and not a type either
        known_type = False
    if "event_type" in event and not known_type:
        problems.append(("event_type", f"unknown event type {event_type!r}"))
    schema_ver = event.get("schema_ver")
    if "schema_ver" in event and schema_ver != chain.SPEC_VERSION:
        problems.append(("schema_ver", f"schema_ver must be {chain.SPEC_VERSION!r}"))
    payload = event.get("payload")
    if "payload" in event:
        if not isinstance(payload, Mapping):
            problems.append(("payload", "payload must be an object"))
        elif known_type and event_type in chain.PRODUCER_EVENT_TYPES:
            problems.extend(("payload", msg) for msg in chain.payload_problems(event_type, payload))
    return problems


def proposals_validate(body: Any, *, session_id: str) -> list[dict[str, Any]]:
    """Check a request body ``{"events": [...]}`` and return the list of proposals.

    Raises ``IngestionError`` VALIDATION_ERROR (400) listing each bad event's index, field and
    message, or PAYLOAD_TOO_LARGE (413) for a batch over the configured limit. The size of
    each payload is judged when it is canonicalized (``services.events_append``).
    """
    if not isinstance(body, Mapping):
        raise IngestionError(
            "VALIDATION_ERROR", "the body must be a JSON object", status=400, details={}
        )
    unknown = sorted(set(body) - {"events"})
    if unknown:
        raise IngestionError(
            "VALIDATION_ERROR",
            "unknown top-level field(s): " + ", ".join(unknown),
            status=400,
            details={
                "errors": [{"index": None, "field": f, "message": "unknown field"} for f in unknown]
            },
        )
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise IngestionError(
            "VALIDATION_ERROR",
            "events must be a non-empty list",
            status=400,
            details={
                "errors": [{"index": None, "field": "events", "message": "non-empty list required"}]
            },
        )
    limit = settings.AGENTOPS_MAX_EVENTS_PER_REQUEST
    if len(events) > limit:
        raise IngestionError(
            "PAYLOAD_TOO_LARGE",
            f"a batch holds at most {limit} events",
            status=413,
            details={"limit": limit, "events": len(events)},
        )
    errors: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        for field, message in _event_problems(event, session_id=session_id):
            errors.append({"index": index, "field": field, "message": message})
    if errors:
        shown = errors[:MAX_ERRORS_REPORTED]
        first = shown[0]
        raise IngestionError(
            "VALIDATION_ERROR",
            f"{len(errors)} problem(s) in the batch; first: event {first['index']}: "
            f"{first['message']}",
            status=400,
            details={"errors": shown, "error_count": len(errors)},
        )
    # The parsed objects themselves (a JSON reader makes dicts): copying each event cost a
    # pass over the batch, and appending reads a proposal without changing it (only
    # ``at_head``, for the service's own producers, renumbers the proposals it is given).
    return [event if type(event) is dict else dict(event) for event in events]
