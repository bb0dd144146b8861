"""A catalogue of hostile requests against every endpoint.

Each row is refused with the status and code that ``ERROR_CODES`` documents, in the one error
shape; nothing is stored or changed; and the service is still healthy afterwards.

Paths and bodies are templates: ``{own}`` is a session of the caller's project holding two
events, ``{other}`` another project's session, ``{empty}`` a caller's session without events,
``{missing}`` an id no session has. ``auth`` names the key sent: ``own``, ``other`` (another
project's), ``revoked``, ``None`` (no header) or a literal ``Authorization`` value.
"""

# The catalogue is a table, one request per line; it is kept that way for reading.
# ruff: noqa: E501

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import Resolver404, resolve

from ingestion.api.exceptions import ERROR_CODES

from .support import error_of, proposal, stored_state

JSON = "application/json"
NDJSON = "application/x-ndjson"
MB = 1024 * 1024
DEEP = b"[" * 100_000 + b"]" * 100_000  # far past any parser's recursion limit
TEN_MB_STRING = b'"' + b"x" * (10 * MB) + b'"'
HUGE_DIGITS = b"9" * 5000  # past Python's 4300-digit int parsing limit


@dataclass(frozen=True)
class Hostile:
    name: str
    method: str
    path: str
    status: int
    code: str
    body: bytes = b""
    content_type: str = JSON
    auth: str | None = "own"
    headers: dict[str, str] = field(default_factory=dict)  # extra WSGI environ entries


def body(value) -> bytes:
    return json.dumps(value).encode()


def events(*batch: dict) -> bytes:
    return body({"events": list(batch)})


def next_event(**fields) -> dict:
    """The valid next proposal for ``{own}`` (sequence 2), with fields overridden."""
    return proposal("{own}", 2, **fields)


def batch_with_raw(name: str, raw: bytes) -> bytes:
    """The next batch for ``{own}`` with one envelope field written verbatim as ``raw``."""
    return events(next_event(**{name: "@RAW@"})).replace(b'"@RAW@"', raw)


def event_with_raw_value(raw: bytes) -> bytes:
    """A batch whose payload holds a literal that ``json.dumps`` cannot write (NaN, 1e400...)."""
    event = next_event(payload={"tool_name": "refund", "args": {"amount": "@RAW@"}})
    return events(event).replace(b'"@RAW@"', raw)


def _export_route_exists() -> bool:
    try:
        resolve(f"/api/v1/sessions/{uuid.uuid4()}/export")
    except Resolver404:
        return False
    return True


SESSIONS = "/api/v1/sessions"
DETAIL = "/api/v1/sessions/{own}"
EVENTS = "/api/v1/sessions/{own}/events"

# fmt: off
CATALOGUE: list[Hostile] = [
    # --- POST /api/v1/sessions -------------------------------------------------------------
    Hostile("start: not JSON", "POST", SESSIONS, 400, "MALFORMED_JSON", b"{not json"),
    Hostile("start: truncated JSON", "POST", SESSIONS, 400, "MALFORMED_JSON", b'{"agent_id": "a"'),
    Hostile("start: trailing garbage", "POST", SESSIONS, 400, "MALFORMED_JSON", b'{"agent_id": "a"} x'),
    Hostile("start: two documents", "POST", SESSIONS, 400, "MALFORMED_JSON", b'{"agent_id":"a"}{"agent_id":"b"}'),
    Hostile("start: null body", "POST", SESSIONS, 400, "VALIDATION_ERROR", b"null"),
    Hostile("start: empty body", "POST", SESSIONS, 400, "VALIDATION_ERROR", b""),
    Hostile("start: whitespace body", "POST", SESSIONS, 400, "MALFORMED_JSON", b"  \n "),
    Hostile("start: array body", "POST", SESSIONS, 400, "VALIDATION_ERROR", body([{"agent_id": "a"}])),
    Hostile("start: string body", "POST", SESSIONS, 400, "VALIDATION_ERROR", body("agent_id")),
    Hostile("start: number body", "POST", SESSIONS, 400, "VALIDATION_ERROR", b"42"),
    Hostile("start: agent_id number", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": 5})),
    Hostile("start: agent_id bool", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": True})),
    Hostile("start: agent_id object", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": {"a": 1}})),
    Hostile("start: agent_id empty", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": ""})),
    Hostile("start: agent_id too long", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": "a" * 201})),
    Hostile("start: agent_id NUL", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": "a\x00b"})),
    Hostile("start: agent_id lone surrogate", "POST", SESSIONS, 400, "VALIDATION_ERROR", b'{"agent_id": "\\ud800"}'),
    Hostile("start: agent_id 10 MB", "POST", SESSIONS, 413, "PAYLOAD_TOO_LARGE", b'{"agent_id": ' + TEN_MB_STRING + b"}"),
    Hostile("start: unknown field", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": "a", "is_admin": True})),
    Hostile("start: duplicate keys", "POST", SESSIONS, 400, "MALFORMED_JSON", b'{"agent_id": "a", "agent_id": "b"}'),
    Hostile("start: metadata array", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": "a", "metadata": [1]})),
    Hostile("start: metadata null", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": "a", "metadata": None})),
    Hostile("start: metadata NaN", "POST", SESSIONS, 400, "VALIDATION_ERROR", b'{"agent_id": "a", "metadata": {"x": NaN}}'),
    Hostile("start: metadata -Infinity", "POST", SESSIONS, 400, "VALIDATION_ERROR", b'{"agent_id": "a", "metadata": {"x": -Infinity}}'),
    Hostile("start: metadata 1e400", "POST", SESSIONS, 400, "VALIDATION_ERROR", b'{"agent_id": "a", "metadata": {"x": 1e400}}'),
    Hostile("start: metadata 2^53", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": "a", "metadata": {"x": 2**53}})),
    Hostile("start: metadata 5000 digits", "POST", SESSIONS, 400, "MALFORMED_JSON", b'{"agent_id": "a", "metadata": {"x": ' + HUGE_DIGITS + b"}}"),
    Hostile("start: metadata NUL value", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": "a", "metadata": {"x": "\x00"}})),
    Hostile("start: metadata NUL key", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": "a", "metadata": {"\x00": 1}})),
    Hostile("start: metadata over 16 KiB", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": "a", "metadata": {"x": "y" * 17000}})),
    Hostile("start: 100,000 nested arrays", "POST", SESSIONS, 400, "MALFORMED_JSON", b'{"agent_id": "a", "metadata": {"x": ' + DEEP + b"}}"),
    Hostile("start: session_id not a UUID", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": "a", "session_id": "not-a-uuid"})),
    Hostile("start: session_id integer", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": "a", "session_id": 5})),
    Hostile("start: session_id SQL", "POST", SESSIONS, 400, "VALIDATION_ERROR", body({"agent_id": "a", "session_id": "1' OR '1'='1"})),
    Hostile("start: other tenant's session_id", "POST", SESSIONS, 409, "SESSION_CONFLICT", body({"agent_id": "a", "session_id": "{other}"})),
    Hostile("start: non-UTF-8 bytes", "POST", SESSIONS, 400, "MALFORMED_JSON", b'{"agent_id": "\xff\xfe"}'),
    Hostile("start: UTF-8 BOM", "POST", SESSIONS, 400, "MALFORMED_JSON", b'\xef\xbb\xbf{"agent_id": "a"}'),
    Hostile("start: UTF-16 body", "POST", SESSIONS, 400, "MALFORMED_JSON", '{"agent_id": "a"}'.encode("utf-16")),
    Hostile("start: UTF-8-encoded surrogate", "POST", SESSIONS, 400, "MALFORMED_JSON", b'{"agent_id": "\xed\xa0\x80"}'),
    Hostile("start: text/plain", "POST", SESSIONS, 415, "UNSUPPORTED_MEDIA_TYPE", body({"agent_id": "a"}), "text/plain"),
    Hostile("start: form encoded", "POST", SESSIONS, 415, "UNSUPPORTED_MEDIA_TYPE", b"agent_id=a", "application/x-www-form-urlencoded"),
    Hostile("start: multipart", "POST", SESSIONS, 415, "UNSUPPORTED_MEDIA_TYPE", b"--b\r\n\r\na\r\n--b--", "multipart/form-data; boundary=b"),
    Hostile("start: no content type", "POST", SESSIONS, 415, "UNSUPPORTED_MEDIA_TYPE", body({"agent_id": "a"}), headers={"CONTENT_TYPE": ""}),
    Hostile("start: lying Content-Length", "POST", SESSIONS, 413, "PAYLOAD_TOO_LARGE", body({"agent_id": "a"}), headers={"CONTENT_LENGTH": str(10**12)}),
    Hostile("start: no key", "POST", SESSIONS, 401, "UNAUTHENTICATED", body({"agent_id": "a"}), auth=None),
    Hostile("start: revoked key", "POST", SESSIONS, 401, "UNAUTHENTICATED", body({"agent_id": "a"}), auth="revoked"),
    Hostile("start: Basic auth", "POST", SESSIONS, 401, "UNAUTHENTICATED", body({"agent_id": "a"}), auth="Basic dXNlcjpwYXNz"),
    Hostile("start: Bearer without key", "POST", SESSIONS, 401, "UNAUTHENTICATED", body({"agent_id": "a"}), auth="Bearer"),
    Hostile("start: SQL in key", "POST", SESSIONS, 401, "UNAUTHENTICATED", body({"agent_id": "a"}), auth="Bearer x'OR'1'='1.x'OR'1'='1"),
    Hostile("start: 10 MB key", "POST", SESSIONS, 401, "UNAUTHENTICATED", body({"agent_id": "a"}), auth="Bearer " + "k" * (10 * MB) + ".x"),
    # --- GET /api/v1/sessions --------------------------------------------------------------
    Hostile("list: negative limit", "GET", SESSIONS + "?limit=-1", 400, "VALIDATION_ERROR"),
    Hostile("list: zero limit", "GET", SESSIONS + "?limit=0", 400, "VALIDATION_ERROR"),
    Hostile("list: enormous limit", "GET", SESSIONS + f"?limit={10**30}", 400, "VALIDATION_ERROR"),
    Hostile("list: limit NaN", "GET", SESSIONS + "?limit=NaN", 400, "VALIDATION_ERROR"),
    Hostile("list: negative offset", "GET", SESSIONS + "?offset=-5", 400, "VALIDATION_ERROR"),
    Hostile("list: enormous offset", "GET", SESSIONS + f"?offset={2**64}", 400, "VALIDATION_ERROR"),
    Hostile("list: offset SQL", "GET", SESSIONS + "?offset=0;DROP%20TABLE%20ingestion_event", 400, "VALIDATION_ERROR"),
    Hostile("list: sealed not a bool", "GET", SESSIONS + "?sealed=maybe", 400, "VALIDATION_ERROR"),
    Hostile("list: unknown evidence class", "GET", SESSIONS + "?evidence_class=CERTIFIED", 400, "VALIDATION_ERROR"),
    Hostile("list: bad date", "GET", SESSIONS + "?created_after=yesterday", 400, "VALIDATION_ERROR"),
    Hostile("list: date out of range", "GET", SESSIONS + "?created_before=0001-01-01T00:00:00%2B14:00", 400, "VALIDATION_ERROR"),
    Hostile("list: agent_id too long", "GET", SESSIONS + "?agent_id=" + "a" * 5000, 400, "VALIDATION_ERROR"),
    Hostile("list: agent_id NUL", "GET", SESSIONS + "?agent_id=a%00b", 400, "VALIDATION_ERROR"),
    Hostile("list: 2,000 query fields", "GET", SESSIONS + "?" + "&".join(f"f{i}=1" for i in range(2000)), 400, "VALIDATION_ERROR"),
    Hostile("list: unknown ?format", "GET", SESSIONS + "?format=xml", 406, "NOT_ACCEPTABLE"),
    Hostile("list: Accept text/html", "GET", SESSIONS, 406, "NOT_ACCEPTABLE", headers={"HTTP_ACCEPT": "text/html"}),
    Hostile("list: no key", "GET", SESSIONS, 401, "UNAUTHENTICATED", auth=None),
    Hostile("list: revoked key", "GET", SESSIONS, 401, "UNAUTHENTICATED", auth="revoked"),
    Hostile("sessions: DELETE", "DELETE", SESSIONS, 405, "METHOD_NOT_ALLOWED"),
    Hostile("sessions: PUT", "PUT", SESSIONS, 405, "METHOD_NOT_ALLOWED", body({"agent_id": "a"})),
    Hostile("sessions: trailing slash", "GET", SESSIONS + "/", 404, "NOT_FOUND"),
    # --- GET /api/v1/sessions/{id} ---------------------------------------------------------
    Hostile("detail: other tenant's session", "GET", "/api/v1/sessions/{other}", 404, "SESSION_NOT_FOUND"),
    Hostile("detail: unknown session", "GET", "/api/v1/sessions/{missing}", 404, "SESSION_NOT_FOUND"),
    Hostile("detail: SQL id", "GET", "/api/v1/sessions/1'%20OR%20'1'='1", 404, "SESSION_NOT_FOUND"),
    Hostile("detail: SQL comment id", "GET", "/api/v1/sessions/{own}'--", 404, "SESSION_NOT_FOUND"),
    Hostile("detail: encoded traversal", "GET", "/api/v1/sessions/..%2F..%2Fetc%2Fpasswd", 404, "NOT_FOUND"),
    Hostile("detail: dot-dot id", "GET", "/api/v1/sessions/..", 404, "SESSION_NOT_FOUND"),
    Hostile("detail: NUL in id", "GET", "/api/v1/sessions/{own}%00", 404, "SESSION_NOT_FOUND"),
    Hostile("detail: 10 kB id", "GET", "/api/v1/sessions/" + "0" * 10_000, 404, "SESSION_NOT_FOUND"),
    Hostile("detail: integer id", "GET", "/api/v1/sessions/1", 404, "SESSION_NOT_FOUND"),
    Hostile("detail: no key", "GET", DETAIL, 401, "UNAUTHENTICATED", auth=None),
    Hostile("detail: DELETE", "DELETE", DETAIL, 405, "METHOD_NOT_ALLOWED"),
    Hostile("detail: PATCH", "PATCH", DETAIL, 405, "METHOD_NOT_ALLOWED", body({"sealed": False})),
    Hostile("detail: PUT", "PUT", DETAIL, 405, "METHOD_NOT_ALLOWED", body({"agent_id": "x"})),
    # --- POST /api/v1/sessions/{id}/events -------------------------------------------------
    Hostile("append: other tenant's session", "POST", "/api/v1/sessions/{other}/events", 404, "SESSION_NOT_FOUND", events(proposal("{other}", 2))),
    Hostile("append: unknown session", "POST", "/api/v1/sessions/{missing}/events", 404, "SESSION_NOT_FOUND", events(proposal("{missing}", 0, "SESSION_START"))),
    Hostile("append: event names other tenant's session", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(session_id="{other}"))),
    Hostile("append: not JSON", "POST", EVENTS, 400, "MALFORMED_JSON", b'{"events": [}'),
    Hostile("append: null body", "POST", EVENTS, 400, "VALIDATION_ERROR", b"null"),
    Hostile("append: array body", "POST", EVENTS, 400, "VALIDATION_ERROR", body([next_event()])),
    Hostile("append: events object", "POST", EVENTS, 400, "VALIDATION_ERROR", body({"events": next_event()})),
    Hostile("append: events empty", "POST", EVENTS, 400, "VALIDATION_ERROR", body({"events": []})),
    Hostile("append: events of scalars", "POST", EVENTS, 400, "VALIDATION_ERROR", body({"events": [1, "a", None]})),
    Hostile("append: unknown top-level field", "POST", EVENTS, 400, "VALIDATION_ERROR", body({"events": [next_event()], "force": True})),
    Hostile("append: unknown envelope field", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(trusted=True))),
    Hostile("append: sequence as string", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(sequence_number="2"))),
    Hostile("append: sequence float", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(sequence_number=2.5))),
    Hostile("append: sequence negative", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(sequence_number=-1))),
    Hostile("append: sequence 2^64", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(sequence_number=2**64))),
    Hostile("append: sequence 5000 digits", "POST", EVENTS, 400, "MALFORMED_JSON", batch_with_raw("sequence_number", HUGE_DIGITS)),
    Hostile("append: monotonic bool", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(timestamp_monotonic=True))),
    Hostile("append: timestamp SQL", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(timestamp_wall="2026-01-25T10:00:00Z'; --"))),
    Hostile("append: payload array", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(payload=[1, 2]))),
    Hostile("append: event_type array", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(event_type=["TOOL_CALL"]))),
    Hostile("append: event_type object", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(event_type={"t": 1}))),
    Hostile("append: payload null", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(payload=None))),
    Hostile("append: sdk version NUL", "POST", EVENTS, 400, "VALIDATION_ERROR", events(next_event(source_sdk_ver="sdk\x00"))),
    Hostile("append: sdk version lone surrogate", "POST", EVENTS, 400, "VALIDATION_ERROR", batch_with_raw("source_sdk_ver", b'"\\udfff"')),
    Hostile("append: payload NaN", "POST", EVENTS, 422, "NON_CANONICAL_VALUE", event_with_raw_value(b"NaN")),
    Hostile("append: payload Infinity", "POST", EVENTS, 422, "NON_CANONICAL_VALUE", event_with_raw_value(b"Infinity")),
    Hostile("append: payload 1e400", "POST", EVENTS, 422, "NON_CANONICAL_VALUE", event_with_raw_value(b"1e400")),
    Hostile("append: payload 10^30", "POST", EVENTS, 422, "NON_CANONICAL_VALUE", event_with_raw_value(b"1" + b"0" * 30)),
    Hostile("append: payload lone surrogate", "POST", EVENTS, 422, "NON_CANONICAL_VALUE", event_with_raw_value(b'"\\ud800"')),
    Hostile("append: payload 600 levels deep", "POST", EVENTS, 422, "NON_CANONICAL_VALUE", event_with_raw_value(b"[" * 600 + b"]" * 600)),
    Hostile("append: payload 100,000 levels deep", "POST", EVENTS, 400, "MALFORMED_JSON", event_with_raw_value(DEEP)),
    Hostile("append: payload 5000 digits", "POST", EVENTS, 400, "MALFORMED_JSON", event_with_raw_value(HUGE_DIGITS)),
    Hostile("append: duplicate keys in event", "POST", EVENTS, 400, "MALFORMED_JSON", events(next_event()).replace(b'"event_type"', b'"event_type": "ERROR", "event_type"')),
    Hostile("append: producer CHAIN_SEAL", "POST", EVENTS, 403, "AUTHORITY_VIOLATION", events(next_event(event_type="CHAIN_SEAL", payload={}))),
    Hostile("append: wrong payload_hash", "POST", EVENTS, 400, "PAYLOAD_HASH_MISMATCH", events(next_event(payload_hash="0" * 64))),
    Hostile("append: sequence gap", "POST", EVENTS, 409, "SEQUENCE_GAP", events(proposal("{own}", 7))),
    Hostile("append: rewrite stored event", "POST", EVENTS, 409, "SEQUENCE_CONFLICT", events(proposal("{own}", 1))),
    Hostile("append: second SESSION_START", "POST", EVENTS, 409, "ORDERING_VIOLATION", events(next_event(event_type="SESSION_START", payload={"agent_id": "x"}))),
    Hostile("append: 1,001 events", "POST", EVENTS, 413, "PAYLOAD_TOO_LARGE", events(*[proposal("{own}", 2 + i) for i in range(1001)])),
    Hostile("append: 300 kB payload", "POST", EVENTS, 413, "PAYLOAD_TOO_LARGE", events(next_event(payload={"tool_name": "t", "args": {"x": "y" * 300_000}}))),
    Hostile("append: 10 MB string", "POST", EVENTS, 413, "PAYLOAD_TOO_LARGE", event_with_raw_value(TEN_MB_STRING)),
    Hostile("append: non-UTF-8 bytes", "POST", EVENTS, 400, "MALFORMED_JSON", event_with_raw_value(b'"\xc3\x28"')),
    Hostile("append: UTF-8 BOM", "POST", EVENTS, 400, "MALFORMED_JSON", b"\xef\xbb\xbf" + events(next_event())),
    Hostile("append: text/plain", "POST", EVENTS, 415, "UNSUPPORTED_MEDIA_TYPE", events(next_event()), "text/plain"),
    Hostile("append: NDJSON", "POST", EVENTS, 415, "UNSUPPORTED_MEDIA_TYPE", body(next_event()), NDJSON),
    Hostile("append: no key", "POST", EVENTS, 401, "UNAUTHENTICATED", events(next_event()), auth=None),
    Hostile("append: revoked key", "POST", EVENTS, 401, "UNAUTHENTICATED", events(next_event()), auth="revoked"),
    Hostile("events: PUT", "PUT", EVENTS, 405, "METHOD_NOT_ALLOWED", events(next_event())),
    Hostile("events: DELETE", "DELETE", EVENTS, 405, "METHOD_NOT_ALLOWED"),
    # --- GET /api/v1/sessions/{id}/events --------------------------------------------------
    Hostile("events list: other tenant's session", "GET", "/api/v1/sessions/{other}/events", 404, "SESSION_NOT_FOUND"),
    Hostile("events list: after below -1", "GET", EVENTS + "?after=-2", 400, "VALIDATION_ERROR"),
    Hostile("events list: after 2^63", "GET", EVENTS + f"?after={2**63}", 400, "VALIDATION_ERROR"),
    Hostile("events list: after SQL", "GET", EVENTS + "?after=1%20OR%201=1", 400, "VALIDATION_ERROR"),
    Hostile("events list: limit zero", "GET", EVENTS + "?limit=0", 400, "VALIDATION_ERROR"),
    Hostile("events list: limit enormous", "GET", EVENTS + f"?limit={10**18}", 400, "VALIDATION_ERROR"),
    Hostile("events list: limit float", "GET", EVENTS + "?limit=1.5", 400, "VALIDATION_ERROR"),
    Hostile("events list: no key", "GET", EVENTS, 401, "UNAUTHENTICATED", auth=None),
    # --- POST /api/v1/sessions/{id}/seal ---------------------------------------------------
    Hostile("seal: other tenant's session", "POST", "/api/v1/sessions/{other}/seal", 404, "SESSION_NOT_FOUND"),
    Hostile("seal: unknown session", "POST", "/api/v1/sessions/{missing}/seal", 404, "SESSION_NOT_FOUND"),
    Hostile("seal: traversal id", "POST", "/api/v1/sessions/..%2F{other}/seal", 404, "NOT_FOUND"),
    Hostile("seal: session without events", "POST", "/api/v1/sessions/{empty}/seal", 409, "EMPTY_SESSION"),
    Hostile("seal: no key", "POST", "/api/v1/sessions/{own}/seal", 401, "UNAUTHENTICATED", auth=None),
    Hostile("seal: revoked key", "POST", "/api/v1/sessions/{own}/seal", 401, "UNAUTHENTICATED", auth="revoked"),
    Hostile("seal: GET", "GET", "/api/v1/sessions/{own}/seal", 405, "METHOD_NOT_ALLOWED"),
    Hostile("seal: DELETE", "DELETE", "/api/v1/sessions/{own}/seal", 405, "METHOD_NOT_ALLOWED"),
    # --- POST /api/v1/verify ---------------------------------------------------------------
    Hostile("verify: other tenant's session", "POST", "/api/v1/verify", 404, "SESSION_NOT_FOUND", body({"session_id": "{other}"})),
    Hostile("verify: session_id not a UUID", "POST", "/api/v1/verify", 400, "VALIDATION_ERROR", body({"session_id": "../../etc/passwd"})),
    Hostile("verify: session_id number", "POST", "/api/v1/verify", 400, "VALIDATION_ERROR", body({"session_id": 1})),
    Hostile("verify: unknown field", "POST", "/api/v1/verify", 400, "VALIDATION_ERROR", body({"session_id": "{own}", "trust": "all"})),
    Hostile("verify: null body", "POST", "/api/v1/verify", 400, "VALIDATION_ERROR", b"null"),
    Hostile("verify: array body", "POST", "/api/v1/verify", 400, "VALIDATION_ERROR", body([{"session_id": "{own}"}])),
    Hostile("verify: not an export", "POST", "/api/v1/verify", 400, "VALIDATION_ERROR", body({"export_format": "zip", "events": []})),
    Hostile("verify: export events not a list", "POST", "/api/v1/verify", 400, "VALIDATION_ERROR", body({"export_format": "agentops-compliance-export", "events": 5})),
    Hostile("verify: not JSON", "POST", "/api/v1/verify", 400, "MALFORMED_JSON", b"{'session_id': 1}"),
    Hostile("verify: JSONL line not JSON", "POST", "/api/v1/verify", 400, "MALFORMED_JSON", b"{}\n{oops\n", NDJSON),
    Hostile("verify: JSONL line an array", "POST", "/api/v1/verify", 400, "MALFORMED_JSON", b"[1, 2]\n", NDJSON),
    Hostile("verify: JSONL deep nesting", "POST", "/api/v1/verify", 400, "MALFORMED_JSON", DEEP + b"\n", NDJSON),
    Hostile("verify: JSONL 5000 digits", "POST", "/api/v1/verify", 400, "MALFORMED_JSON", b'{"n": ' + HUGE_DIGITS + b"}\n", NDJSON),
    Hostile("verify: JSONL duplicate keys", "POST", "/api/v1/verify", 400, "MALFORMED_JSON", b'{"a": 1, "a": 2}\n', NDJSON),
    Hostile("verify: JSONL non-UTF-8", "POST", "/api/v1/verify", 400, "MALFORMED_JSON", b'{"a": "\xff"}\n', NDJSON),
    Hostile("verify: 10 MB upload", "POST", "/api/v1/verify", 413, "PAYLOAD_TOO_LARGE", b'{"a": ' + TEN_MB_STRING + b"}\n", NDJSON),
    Hostile("verify: text/csv", "POST", "/api/v1/verify", 415, "UNSUPPORTED_MEDIA_TYPE", b"session_id\n1\n", "text/csv"),
    Hostile("verify: no key", "POST", "/api/v1/verify", 401, "UNAUTHENTICATED", body({"session_id": "{own}"}), auth=None),
    Hostile("verify: GET", "GET", "/api/v1/verify", 405, "METHOD_NOT_ALLOWED"),
    # --- GET /api/v1/keys and /healthz (public) ---------------------------------------------
    Hostile("keys: POST", "POST", "/api/v1/keys", 405, "METHOD_NOT_ALLOWED", body({"public_key": "x"}), auth=None),
    Hostile("keys: DELETE", "DELETE", "/api/v1/keys", 405, "METHOD_NOT_ALLOWED", auth=None),
    Hostile("keys: unknown ?format", "GET", "/api/v1/keys?format=pem", 406, "NOT_ACCEPTABLE", auth=None),
    Hostile("keys: Accept XML", "GET", "/api/v1/keys", 406, "NOT_ACCEPTABLE", auth=None, headers={"HTTP_ACCEPT": "application/xml"}),
    Hostile("healthz: POST", "POST", "/healthz", 405, "METHOD_NOT_ALLOWED", body({}), auth=None),
    Hostile("healthz: DELETE", "DELETE", "/healthz", 405, "METHOD_NOT_ALLOWED", auth=None),
    Hostile("healthz: traversal", "GET", "/healthz/../admin/", 404, "NOT_FOUND", auth=None),
    Hostile("unknown API route", "GET", "/api/v1/sessions/{own}/events/0/delete", 404, "NOT_FOUND"),
]

# Spec §8 exports, once the compliance app routes them: checked here as soon as they exist.
EXPORT = "/api/v1/sessions/{own}/export"
EXPORT_CATALOGUE: list[Hostile] = [
    Hostile("export: other tenant's session", "GET", "/api/v1/sessions/{other}/export?format=json", 404, "SESSION_NOT_FOUND"),
    Hostile("export: unknown session", "GET", "/api/v1/sessions/{missing}/export?format=json", 404, "SESSION_NOT_FOUND"),
    Hostile("export: SQL id", "GET", "/api/v1/sessions/1'%20OR%20'1'='1/export?format=json", 404, "SESSION_NOT_FOUND"),
    Hostile("export: no key", "GET", EXPORT + "?format=json", 401, "UNAUTHENTICATED", auth=None),
    Hostile("export: revoked key", "GET", EXPORT + "?format=json", 401, "UNAUTHENTICATED", auth="revoked"),
    Hostile("export: DELETE", "DELETE", EXPORT + "?format=json", 405, "METHOD_NOT_ALLOWED"),
    Hostile("export: POST", "POST", EXPORT + "?format=json", 405, "METHOD_NOT_ALLOWED", body({})),
    Hostile("export: unknown format", "GET", EXPORT + "?format=exe", 400, "VALIDATION_ERROR"),
    Hostile("export: traversal format", "GET", EXPORT + "?format=..%2F..%2Fetc%2Fpasswd", 400, "VALIDATION_ERROR"),
    Hostile("export: format NUL", "GET", EXPORT + "?format=json%00", 400, "VALIDATION_ERROR"),
    Hostile("export: format 10 kB", "GET", EXPORT + "?format=" + "j" * 10_000, 400, "VALIDATION_ERROR"),
]
# fmt: on
_no_export = pytest.mark.skipif(
    not _export_route_exists(), reason="no /api/v1/sessions/{id}/export route in the URLconf yet"
)

CASES = [pytest.param(case, id=case.name) for case in CATALOGUE] + [
    pytest.param(case, id=case.name, marks=_no_export) for case in EXPORT_CATALOGUE
]


def _fill(template: str, world) -> str:
    ids = {
        "own": world.own,
        "other": world.other,
        "empty": world.empty,
        "missing": "00000000-0000-4000-8000-000000000000",
    }
    for name, value in ids.items():
        template = template.replace("{" + name + "}", value)
    return template


def _send(world, case: Hostile):
    keys = {"own": world.own_key, "other": world.other_key, "revoked": world.revoked_key}
    environ = dict(case.headers)
    if case.auth is not None:
        environ["HTTP_AUTHORIZATION"] = (
            f"Bearer {keys[case.auth]}" if case.auth in keys else case.auth
        )
    data = _fill(case.body.decode("latin-1"), world).encode("latin-1")
    client = Client(raise_request_exception=False)
    return client.generic(
        case.method, _fill(case.path, world), data, content_type=case.content_type, **environ
    )


def test_catalogue_is_large_and_speaks_documented_codes():
    assert len(CATALOGUE) >= 60
    assert len({case.name for case in CATALOGUE + EXPORT_CATALOGUE}) == len(
        CATALOGUE + EXPORT_CATALOGUE
    )
    for case in CATALOGUE + EXPORT_CATALOGUE:
        assert ERROR_CODES[case.code][0] == case.status, case.name
        assert 400 <= case.status < 500, case.name


@pytest.mark.parametrize("case", CASES)
def test_hostile_request_is_refused_and_changes_nothing(world, case):
    before = stored_state()

    response = _send(world, case)

    assert response.status_code == case.status, response.content[:400]
    assert error_of(response)["code"] == case.code
    assert stored_state() == before
    assert Client().get("/healthz").status_code == 200
