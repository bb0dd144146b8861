"""The HTTP API end to end through Django's test client, on the configured database."""

from __future__ import annotations

import json
import uuid

import pytest
from agentops_sdk import chain, seal
from agentops_sdk.verify import verify_session
from django.test import Client

from ingestion import services
from ingestion.models import Event, Session
from ingestion.tests.factories import VECTORS

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_key():
    _, plaintext = services.api_key_create(project_name="acme", name="test")
    return plaintext


@pytest.fixture
def other_key():
    _, plaintext = services.api_key_create(project_name="globex", name="test")
    return plaintext


class Api:
    def __init__(self, key: str | None):
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}

    def get(self, path, **params):
        return self.client.get(path, params, **self.headers)

    def post(self, path, body=None, *, raw: bytes | None = None, content_type="application/json"):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(path, data, content_type=content_type, **self.headers)


@pytest.fixture
def api(api_key):
    return Api(api_key)


def start(api, **body) -> str:
    response = api.post("/api/v1/sessions", {"agent_id": "support-bot", **body})
    assert response.status_code in (200, 201), response.content
    return response.json()["session_id"]


def proposal(session_id: str, seq: int, event_type: str = "TOOL_CALL", payload=None, **extra):
    defaults = {
        "SESSION_START": {"agent_id": "support-bot"},
        "TOOL_CALL": {"tool_name": "lookup_order", "args": {"order_id": seq}},
        "TOOL_RESULT": {"tool_name": "lookup_order", "status": "success", "result": {"ok": True}},
        "SESSION_END": {"status": "success", "duration_ms": 1200},
        "LOG_DROP": {"dropped_count": 2, "cumulative_drops": 2, "drop_reason": "BUFFER_FULL"},
    }
    event = {
        "event_id": str(uuid.uuid4()),
        "session_id": session_id,
        "sequence_number": seq,
        "timestamp_wall": f"2026-01-25T10:00:{seq % 60:02d}.123456Z",
        "timestamp_monotonic": seq * 10,
        "event_type": event_type,
        "source_sdk_ver": "agentops-sdk/0.1.0",
        "schema_ver": "v0.6",
        "payload": payload if payload is not None else defaults[event_type],
    }
    event.update(extra)
    return event


def full_batch(session_id: str, tool_calls: int = 2) -> list[dict]:
    events = [proposal(session_id, 0, "SESSION_START")]
    for _ in range(tool_calls):
        events.append(proposal(session_id, len(events), "TOOL_CALL"))
        events.append(proposal(session_id, len(events), "TOOL_RESULT"))
    events.append(proposal(session_id, len(events), "SESSION_END"))
    return events


def event_count(session_id: str) -> int:
    return Event.objects.filter(session_id=session_id).count()


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


# --- sessions --------------------------------------------------------------------------------


def test_start_session_is_created_then_idempotent(api):
    session_id = str(uuid.uuid4())
    first = api.post("/api/v1/sessions", {"agent_id": "bot", "session_id": session_id})
    again = api.post("/api/v1/sessions", {"agent_id": "bot", "session_id": session_id})
    assert first.status_code == 201
    assert again.status_code == 200
    assert first.json()["session_id"] == again.json()["session_id"] == session_id
    assert Session.objects.count() == 1


def test_start_session_rejects_unknown_fields_and_stores_nothing(api):
    error = assert_error(
        api.post("/api/v1/sessions", {"agent_id": "bot", "colour": "red"}), 400, "VALIDATION_ERROR"
    )
    assert error["details"]["errors"][0]["field"] == "colour"
    assert Session.objects.count() == 0


def test_session_detail_shows_head_and_counts(api):
    session_id = start(api)
    api.post(f"/api/v1/sessions/{session_id}/events", {"events": full_batch(session_id)[:3]})
    body = api.get(f"/api/v1/sessions/{session_id}").json()
    assert body["event_count"] == 3
    assert body["head"]["sequence_number"] == 2
    assert body["sealed"] is False
    assert body["evidence_class"] is None


def test_session_list_filters_and_paginates(api):
    for agent in ("a", "a", "b"):
        api.post("/api/v1/sessions", {"agent_id": agent})
    page = api.get("/api/v1/sessions", agent_id="a", limit=1).json()
    assert page["count"] == 2
    assert len(page["results"]) == 1
    assert page["next_offset"] == 1
    assert api.get("/api/v1/sessions", sealed="true").json()["count"] == 0


@pytest.mark.parametrize(
    "params", [{"limit": "-1"}, {"limit": "100000"}, {"offset": "-5"}, {"sealed": "maybe"}]
)
def test_session_list_rejects_bad_query(api, params):
    assert_error(api.get("/api/v1/sessions", **params), 400, "VALIDATION_ERROR")


# --- appending -------------------------------------------------------------------------------


def test_append_returns_server_computed_head(api):
    session_id = start(api)
    batch = full_batch(session_id)
    # Hashes sent by the producer are ignored, never trusted.
    batch[1]["event_hash"] = "0" * 64
    batch[1]["chain_authority"] = "sdk"
    response = api.post(f"/api/v1/sessions/{session_id}/events", {"events": batch})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["accepted"] == len(batch)
    assert body["duplicates"] == 0
    stored = list(Event.objects.filter(session_id=session_id).order_by("sequence_number"))
    assert body["head"] == {"sequence_number": len(batch) - 1, "event_hash": stored[-1].event_hash}
    assert all(e.chain_authority == "server" for e in stored)
    assert stored[1].event_hash != "0" * 64


def test_replayed_batch_counts_duplicates(api):
    session_id = start(api)
    batch = full_batch(session_id)
    api.post(f"/api/v1/sessions/{session_id}/events", {"events": batch})
    again = api.post(f"/api/v1/sessions/{session_id}/events", {"events": batch})
    assert again.status_code == 200
    assert again.json()["accepted"] == 0
    assert again.json()["duplicates"] == len(batch)
    assert event_count(session_id) == len(batch)


def test_timestamp_is_stored_byte_for_byte(api):
    session_id = start(api)
    event = proposal(session_id, 0, "SESSION_START", timestamp_wall="2026-01-25T10:00:00.1Z")
    api.post(f"/api/v1/sessions/{session_id}/events", {"events": [event]})
    page = api.get(f"/api/v1/sessions/{session_id}/events").json()
    assert page["events"][0]["timestamp_wall"] == "2026-01-25T10:00:00.1Z"


def _bad_event_cases():
    def mutate(**changes):
        def apply(event):
            event.update(changes)
            return event

        return apply

    def drop(name):
        def apply(event):
            del event[name]
            return event

        return apply

    return {
        "unknown event type": (mutate(event_type="TELEPATHY"), "event_type"),
        "missing payload field": (mutate(payload={"args": {}}), "payload"),
        "bad uuid": (mutate(event_id="not-a-uuid"), "event_id"),
        "uppercase uuid": (mutate(event_id=str(uuid.uuid4()).upper()), "event_id"),
        "bad timestamp": (mutate(timestamp_wall="2026-01-25 10:00:00"), "timestamp_wall"),
        "timestamp not utc": (mutate(timestamp_wall="2026-01-25T10:00:00+01:00"), "timestamp_wall"),
        "wrong schema_ver": (mutate(schema_ver="v9"), "schema_ver"),
        "unknown envelope field": (mutate(colour="red"), "colour"),
        "missing field": (drop("timestamp_monotonic"), "timestamp_monotonic"),
        "negative sequence": (mutate(sequence_number=-1), "sequence_number"),
        "string sequence": (mutate(sequence_number="1"), "sequence_number"),
        "payload not object": (mutate(payload=[1, 2]), "payload"),
        "other session": (mutate(session_id=str(uuid.uuid4())), "session_id"),
        "sdk version too long": (mutate(source_sdk_ver="x" * 201), "source_sdk_ver"),
        "empty sdk version": (mutate(source_sdk_ver=""), "source_sdk_ver"),
    }


@pytest.mark.parametrize("case", sorted(_bad_event_cases()))
def test_bad_event_is_rejected_with_index_and_field(api, case):
    mutate, field = _bad_event_cases()[case]
    session_id = start(api)
    batch = full_batch(session_id)
    batch[1] = mutate(batch[1])
    error = assert_error(
        api.post(f"/api/v1/sessions/{session_id}/events", {"events": batch}),
        400,
        "VALIDATION_ERROR",
    )
    assert {"index": 1, "field": field} in [
        {"index": e["index"], "field": e["field"]} for e in error["details"]["errors"]
    ]
    assert event_count(session_id) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_is_non_canonical_and_named_by_path(api, literal):
    session_id = start(api)
    first = proposal(session_id, 0, "SESSION_START")
    api.post(f"/api/v1/sessions/{session_id}/events", {"events": [first]})
    event = proposal(
        session_id, 1, "TOOL_CALL", payload={"tool_name": "refund", "args": {"amount": 0}}
    )
    body = json.dumps({"events": [event]}).replace('"amount": 0', f'"amount": {literal}').encode()
    error = assert_error(
        api.post(f"/api/v1/sessions/{session_id}/events", raw=body), 422, "NON_CANONICAL_VALUE"
    )
    assert error["details"]["path"] == "$.args.amount"
    assert error["details"]["index"] == 0
    assert event_count(session_id) == 1


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**30], ids=["2^53", "-2^53", "10^30"])
def test_huge_integer_is_non_canonical(api, value):
    session_id = start(api)
    batch = [proposal(session_id, 0, "SESSION_START", payload={"agent_id": "x", "n": value})]
    assert_error(
        api.post(f"/api/v1/sessions/{session_id}/events", {"events": batch}),
        422,
        "NON_CANONICAL_VALUE",
    )
    assert event_count(session_id) == 0


def test_lone_surrogate_is_non_canonical(api):
    session_id = start(api)
    event = proposal(
        session_id, 0, "SESSION_START", payload={"agent_id": "x", "note": "PLACEHOLDER"}
    )
    body = json.dumps({"events": [event]}).replace("PLACEHOLDER", "\\ud800").encode()
    assert_error(
        api.post(f"/api/v1/sessions/{session_id}/events", raw=body), 422, "NON_CANONICAL_VALUE"
    )
    assert event_count(session_id) == 0


def test_supplied_payload_hash_must_match(api):
    session_id = start(api)
    good = proposal(session_id, 0, "SESSION_START")
    good["payload_hash"] = chain.payload_hash(good["payload"])
    assert api.post(f"/api/v1/sessions/{session_id}/events", {"events": [good]}).status_code == 200
    bad = proposal(session_id, 1, "TOOL_CALL")
    bad["payload_hash"] = "f" * 64
    assert_error(
        api.post(f"/api/v1/sessions/{session_id}/events", {"events": [bad]}),
        400,
        "PAYLOAD_HASH_MISMATCH",
    )
    assert event_count(session_id) == 1


def test_producer_seal_is_an_authority_violation(api):
    session_id = start(api)
    batch = full_batch(session_id)
    batch.append(proposal(session_id, len(batch), "TOOL_CALL"))
    batch[-1]["event_type"] = "CHAIN_SEAL"
    assert_error(
        api.post(f"/api/v1/sessions/{session_id}/events", {"events": batch}),
        403,
        "AUTHORITY_VIOLATION",
    )
    assert event_count(session_id) == 0


def test_gap_reports_expected_sequence(api):
    session_id = start(api)
    api.post(f"/api/v1/sessions/{session_id}/events", {"events": full_batch(session_id)[:2]})
    error = assert_error(
        api.post(
            f"/api/v1/sessions/{session_id}/events",
            {"events": [proposal(session_id, 5, "TOOL_CALL")]},
        ),
        409,
        "SEQUENCE_GAP",
    )
    assert error["details"]["expected_sequence"] == 2
    assert event_count(session_id) == 2


def test_reused_sequence_with_other_content_conflicts(api):
    session_id = start(api)
    api.post(f"/api/v1/sessions/{session_id}/events", {"events": full_batch(session_id)[:2]})
    assert_error(
        api.post(
            f"/api/v1/sessions/{session_id}/events",
            {"events": [proposal(session_id, 1, "TOOL_CALL")]},
        ),
        409,
        "SEQUENCE_CONFLICT",
    )
    assert event_count(session_id) == 2


@pytest.mark.parametrize("which", ["second start", "after end"])
def test_ordering_violations(api, which):
    session_id = start(api)
    batch = full_batch(session_id)
    if which == "second start":
        batch[2] = proposal(session_id, 2, "SESSION_START")
    else:
        batch.append(proposal(session_id, len(batch), "TOOL_CALL"))
    assert_error(
        api.post(f"/api/v1/sessions/{session_id}/events", {"events": batch}),
        409,
        "ORDERING_VIOLATION",
    )
    assert event_count(session_id) == 0


def test_batch_and_payload_limits(api, settings):
    settings.AGENTOPS_MAX_EVENTS_PER_REQUEST = 3
    settings.AGENTOPS_MAX_PAYLOAD_BYTES = 200
    session_id = start(api)
    error = assert_error(
        api.post(f"/api/v1/sessions/{session_id}/events", {"events": full_batch(session_id)}),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    assert error["details"]["limit"] == 3
    big = proposal(session_id, 0, "SESSION_START", payload={"agent_id": "x", "blob": "y" * 500})
    assert_error(
        api.post(f"/api/v1/sessions/{session_id}/events", {"events": [big]}),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    assert event_count(session_id) == 0


def test_request_body_limit(api, settings):
    settings.AGENTOPS_MAX_REQUEST_BYTES = 1000
    session_id = start(api)
    batch = full_batch(session_id, tool_calls=20)
    assert_error(
        api.post(f"/api/v1/sessions/{session_id}/events", {"events": batch}),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    assert event_count(session_id) == 0


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "MALFORMED_JSON"),
        (b"", "application/json", 400, "VALIDATION_ERROR"),
        (b'{"events": [], "events": []}', "application/json", 400, "MALFORMED_JSON"),
        (b'{"events":[],"events":[]}', "application/json", 400, "MALFORMED_JSON"),
        (b"events=1", "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b'{"events": []}', "application/json", 400, "VALIDATION_ERROR"),
        (b'{"events": {}}', "application/json", 400, "VALIDATION_ERROR"),
        (b"[1, 2]", "application/json", 400, "VALIDATION_ERROR"),
    ],
)
def test_malformed_requests(api, raw, content_type, status, code):
    session_id = start(api)
    assert_error(
        api.post(f"/api/v1/sessions/{session_id}/events", raw=raw, content_type=content_type),
        status,
        code,
    )
    assert event_count(session_id) == 0


def test_a_malformed_batch_is_refused_as_such_whatever_the_session(api):
    # The batch is checked before its session is looked up (as the service locks it): the
    # answer says what is wrong with the batch and nothing about sessions.
    response = api.post(f"/api/v1/sessions/{uuid.uuid4()}/events", {"events": []})
    assert_error(response, 400, "VALIDATION_ERROR")


def test_rate_limit_answers_429_with_retry_after(api, settings):
    from django.core.cache import cache

    cache.clear()
    settings.AGENTOPS_API_RATE = "2/min"
    api.get("/api/v1/sessions")
    api.get("/api/v1/sessions")
    response = api.get("/api/v1/sessions")
    assert_error(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    cache.clear()


# --- authentication and tenants ----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer nope", "Bearer abc.def", "Api-Key whatever", "Bearer", "Basic dXNlcjpwYXNz"],
)
def test_missing_or_invalid_key_is_401(header):
    client = Client()
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/v1/sessions", **extra)
    assert_error(response, 401, "UNAUTHENTICATED")


def test_revoked_key_is_refused_at_once(api, api_key):
    assert api.get("/api/v1/sessions").status_code == 200
    services.api_key_revoke(prefix=api_key.split(".")[0])
    assert_error(api.get("/api/v1/sessions"), 401, "UNAUTHENTICATED")


def test_keys_are_stored_hashed(api_key):
    from ingestion.models import ApiKey

    stored = ApiKey.objects.get(prefix=api_key.split(".")[0])
    assert api_key.split(".")[1] not in stored.hashed_key


def test_other_projects_sessions_are_invisible(api, other_key):
    session_id = start(api)
    api.post(f"/api/v1/sessions/{session_id}/events", {"events": full_batch(session_id)})
    intruder = Api(other_key)
    for response in (
        intruder.get(f"/api/v1/sessions/{session_id}"),
        intruder.get(f"/api/v1/sessions/{session_id}/events"),
        intruder.post(f"/api/v1/sessions/{session_id}/events", {"events": full_batch(session_id)}),
        intruder.post(f"/api/v1/sessions/{session_id}/seal"),
        intruder.post("/api/v1/verify", {"session_id": session_id}),
    ):
        assert_error(response, 404, "SESSION_NOT_FOUND")
    assert intruder.get("/api/v1/sessions").json()["count"] == 0
    assert Session.objects.get(pk=session_id).sealed is False


@pytest.mark.parametrize(
    ("session_id", "code"),
    [
        ("not-a-uuid", "SESSION_NOT_FOUND"),
        ("1' OR '1'='1", "SESSION_NOT_FOUND"),
        ("0" * 200, "SESSION_NOT_FOUND"),
        # Decoded slashes leave the route altogether: an unknown route, still JSON.
        ("..%2F..%2Fetc%2Fpasswd", "NOT_FOUND"),
    ],
)
def test_hostile_session_ids_are_not_found(api, session_id, code):
    assert_error(api.get(f"/api/v1/sessions/{session_id}"), 404, code)


# --- sealing, verification, keys ---------------------------------------------------------------


def test_seal_is_authoritative_and_idempotent(api):
    session_id = start(api)
    api.post(f"/api/v1/sessions/{session_id}/events", {"events": full_batch(session_id)})
    first = api.post(f"/api/v1/sessions/{session_id}/seal")
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["seal"]["event_type"] == "CHAIN_SEAL"
    assert body["verification"]["status"] == "PASS"
    assert body["verification"]["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    again = api.post(f"/api/v1/sessions/{session_id}/seal").json()
    assert again["seal"] == body["seal"]
    assert api.get(f"/api/v1/sessions/{session_id}").json()["evidence_class"] == (
        "AUTHORITATIVE_EVIDENCE"
    )


def test_sealed_session_refuses_more_events(api):
    session_id = start(api)
    batch = full_batch(session_id)
    api.post(f"/api/v1/sessions/{session_id}/events", {"events": batch})
    api.post(f"/api/v1/sessions/{session_id}/seal")
    assert_error(
        api.post(
            f"/api/v1/sessions/{session_id}/events",
            {"events": [proposal(session_id, len(batch) + 1, "TOOL_CALL")]},
        ),
        409,
        "SESSION_SEALED",
    )


def test_exported_events_verify_offline_with_published_key(api):
    session_id = start(api)
    api.post(f"/api/v1/sessions/{session_id}/events", {"events": full_batch(session_id)})
    api.post(f"/api/v1/sessions/{session_id}/seal")
    envelopes = []
    after = -1
    while after is not None:
        page = api.get(f"/api/v1/sessions/{session_id}/events", after=after, limit=2).json()
        envelopes.extend(page["events"])
        after = page["next_after"]
    assert [e["sequence_number"] for e in envelopes] == list(range(len(envelopes)))
    published = Client().get("/api/v1/keys").json()
    current = next(k for k in published["keys"] if k["status"] == "current")
    report = verify_session(
        envelopes, trusted_keys=[seal.public_key_from_b64(current["public_key"])]
    )
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert report["seal"]["key_id"] == current["key_id"]


@pytest.mark.parametrize(
    ("after", "limit"), [("-2", "10"), ("0", "0"), ("0", "1001"), ("x", "1"), (str(2**60), "1")]
)
def test_event_listing_rejects_bad_cursor(api, after, limit):
    session_id = start(api)
    assert_error(
        api.get(f"/api/v1/sessions/{session_id}/events", after=after, limit=limit),
        400,
        "VALIDATION_ERROR",
    )


def test_verify_stored_session_and_uploaded_jsonl(api):
    session_id = start(api)
    api.post(f"/api/v1/sessions/{session_id}/events", {"events": full_batch(session_id)})
    api.post(f"/api/v1/sessions/{session_id}/seal")
    stored = api.post("/api/v1/verify", {"session_id": session_id}).json()
    assert stored["evidence_class"] == "AUTHORITATIVE_EVIDENCE"

    envelopes = api.get(f"/api/v1/sessions/{session_id}/events", limit=1000).json()["events"]
    jsonl = "\n".join(json.dumps(e) for e in envelopes).encode()
    uploaded = api.post("/api/v1/verify", raw=jsonl, content_type="application/x-ndjson").json()
    assert uploaded["evidence_class"] == "AUTHORITATIVE_EVIDENCE"

    envelopes[1]["payload"]["args"]["order_id"] = 999
    tampered = "\n".join(json.dumps(e) for e in envelopes).encode()
    report = api.post("/api/v1/verify", raw=tampered, content_type="application/x-ndjson").json()
    assert report["status"] == "FAIL"
    assert [v["sequence_number"] for v in report["violations"]] == [1]


def test_verify_rejects_garbage_upload(api):
    assert_error(
        api.post("/api/v1/verify", raw=b"{oops\n", content_type="application/x-ndjson"),
        400,
        "MALFORMED_JSON",
    )
    assert_error(api.post("/api/v1/verify", {"session_id": "nope"}), 400, "VALIDATION_ERROR")


def test_vector_session_imports_with_identical_hashes(api):
    lines = (VECTORS / "server_sealed_complete.jsonl").read_text().splitlines()
    original = [json.loads(line) for line in lines if line.strip()]
    producer = [e for e in original if e["event_type"] != "CHAIN_SEAL"]
    session_id = producer[0]["session_id"]
    api.post("/api/v1/sessions", {"agent_id": "support-bot", "session_id": session_id})
    response = api.post(f"/api/v1/sessions/{session_id}/events", {"events": producer})
    assert response.status_code == 200, response.content
    stored = api.get(f"/api/v1/sessions/{session_id}/events", limit=1000).json()["events"]
    assert [e["event_hash"] for e in stored] == [e["event_hash"] for e in producer]


def test_health_keys_and_schema_are_public():
    client = Client()
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/api/v1/keys").status_code == 200
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200


def test_schema_lists_every_route_and_error_code():
    from drf_spectacular.generators import SchemaGenerator

    from ingestion.api.exceptions import ERROR_CODES

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = set(schema["paths"])
    assert {
        "/api/v1/sessions",
        "/api/v1/sessions/{session_id}",
        "/api/v1/sessions/{session_id}/events",
        "/api/v1/sessions/{session_id}/seal",
        "/api/v1/verify",
        "/api/v1/keys",
        "/healthz",
    } <= paths
    text = json.dumps(schema)
    documented = {code for code in ERROR_CODES if f"`{code}`" in text}
    assert documented >= set(ERROR_CODES) - {
        "NOT_FOUND",
        "METHOD_NOT_ALLOWED",
        "NOT_ACCEPTABLE",
        "INTERNAL_ERROR",
        "BAD_REQUEST",
    }


def test_unknown_route_answers_json_404():
    response = Client().get("/api/v1/nothing-here")
    assert_error(response, 404, "NOT_FOUND")


def test_disallowed_host_answers_json_400():
    response = Client().get("/api/v1/keys", HTTP_HOST="evil.example")
    assert_error(response, 400, "BAD_REQUEST")
