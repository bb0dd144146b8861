"""Hostile OTLP bodies: each is refused with a 4xx in the error shape and stores nothing."""

from __future__ import annotations

import gzip
import json

import pytest

from ingestion.models import Event, Session, SpanReceipt
from ingestion.otlp.views import status_from_bytes

from . import builders as b
from .test_receiver import PROTOBUF, Otlp

pytestmark = pytest.mark.django_db


@pytest.fixture
def otlp(key):
    return Otlp(key)


@pytest.fixture
def key():
    from ingestion import services

    _, plaintext = services.api_key_create(project_name="acme", name="otel")
    return plaintext


def _nothing_stored():
    assert Session.objects.count() == 0
    assert Event.objects.count() == 0
    assert SpanReceipt.objects.count() == 0


def _json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] == code, body
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def _protobuf_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROTOBUF
    status_body = status_from_bytes(response.content)
    assert status_body["message"].startswith(f"{code}: "), status_body
    return status_body


def _one_span(attributes=None) -> list[dict]:
    return [b.span(b.trace_id(), "chat", attributes or {"gen_ai.conversation.id": "h"})]


def test_truncated_protobuf(otlp):
    data = b.protobuf_request(b.genai_agent_run("h"))
    status = _protobuf_error(otlp.protobuf([], raw=data[: len(data) - 7]), 400, "MALFORMED_OTLP")
    assert status["code"] == 3  # INVALID_ARGUMENT
    _nothing_stored()


def test_garbage_protobuf(otlp):
    _protobuf_error(otlp.protobuf([], raw=b"\xff" * 64), 400, "MALFORMED_OTLP")
    _nothing_stored()


def test_wrong_types_in_json(otlp):
    document = b.json_request(b.genai_agent_run("h"))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    for field, value in (
        ("traceId", 12),
        ("spanId", "not-hex-at-all!!"),
        ("startTimeUnixNano", "yesterday"),
        ("attributes", {"a": 1}),
        ("name", ["a"]),
    ):
        spans[0] = {**spans[1], field: value}
        error = _json_error(otlp.json([], raw=b.json_bytes(document)), 400, "VALIDATION_ERROR")
        assert field in error["details"]["field"]
    spans[0] = {**spans[1], "attributes": [{"key": "x", "value": {"intValue": 1.5}}]}
    _json_error(otlp.json([], raw=b.json_bytes(document)), 400, "VALIDATION_ERROR")
    _json_error(otlp.json([], raw=b"[1, 2"), 400, "MALFORMED_JSON")
    _json_error(otlp.json([], raw=b'{"resourceSpans": 3}'), 400, "VALIDATION_ERROR")
    _nothing_stored()


def test_ten_thousand_attributes(otlp):
    attributes = {f"attr.{i}": i for i in range(10_000)}
    _protobuf_error(otlp.protobuf(_one_span(attributes)), 413, "PAYLOAD_TOO_LARGE")
    _json_error(otlp.json(_one_span(attributes)), 413, "PAYLOAD_TOO_LARGE")
    _nothing_stored()


def test_huge_strings(otlp):
    huge = {"gen_ai.conversation.id": "h", "input.value": "x" * 1_000_000}
    error = _json_error(otlp.json(_one_span(huge), gzip=True), 413, "PAYLOAD_TOO_LARGE")
    assert "input.value" in error["message"]
    _protobuf_error(otlp.protobuf(_one_span(huge), gzip=True), 413, "PAYLOAD_TOO_LARGE")
    _nothing_stored()


def _nested(depth: int):
    value = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_deep_nesting_of_values(otlp):
    deep = {"gen_ai.conversation.id": "h", "deep": _nested(30)}
    _protobuf_error(otlp.protobuf(_one_span(deep)), 400, "VALIDATION_ERROR")
    _json_error(otlp.json(_one_span(deep)), 400, "VALIDATION_ERROR")
    # Deeper than the protobuf runtime reads at all.
    _protobuf_error(otlp.protobuf([], raw=b.deeply_nested_request(300)), 400, "MALFORMED_OTLP")
    _nothing_stored()


def test_gzip_bomb(otlp, settings):
    bomb = gzip.compress(b"\0" * (settings.AGENTOPS_OTLP_MAX_DECOMPRESSED_BYTES + 1))
    assert len(bomb) < 100_000
    for send in (otlp.protobuf, otlp.json):
        client = send.__self__.client
        content_type = PROTOBUF if send == otlp.protobuf else "application/json"
        response = client.post(
            "/v1/traces",
            bomb,
            content_type=content_type,
            HTTP_CONTENT_ENCODING="gzip",
            **otlp.headers,
        )
        assert response.status_code == 413
    _nothing_stored()


def test_broken_gzip_and_unknown_encoding(otlp):
    data = gzip.compress(b.protobuf_request(_one_span()))
    response = otlp.client.post(
        "/v1/traces",
        data[:-10],
        content_type=PROTOBUF,
        HTTP_CONTENT_ENCODING="gzip",
        **otlp.headers,
    )
    _protobuf_error(response, 400, "MALFORMED_OTLP")
    response = otlp.client.post(
        "/v1/traces", data, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="br", **otlp.headers
    )
    _protobuf_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    _nothing_stored()


def test_values_json_cannot_represent_exactly(otlp):
    for value in (float("nan"), 2**60):
        spans = _one_span({"gen_ai.conversation.id": "h", "x": value})
        _protobuf_error(otlp.protobuf(spans), 422, "NON_CANONICAL_VALUE")
    document = json.dumps(b.json_request(_one_span({"x": 1}))).replace(
        '{"intValue": "1"}', '{"doubleValue": "NaN"}'
    )
    _json_error(otlp.json([], raw=document.encode()), 422, "NON_CANONICAL_VALUE")
    _nothing_stored()


def test_unsupported_media_type(otlp):
    response = otlp.client.post("/v1/traces", b"x", content_type="text/plain", **otlp.headers)
    _json_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    _nothing_stored()


def test_too_many_spans(otlp, settings):
    settings.AGENTOPS_OTLP_MAX_SPANS_PER_REQUEST = 3
    _json_error(otlp.json(b.genai_agent_run("h")), 413, "PAYLOAD_TOO_LARGE")
    _nothing_stored()


def test_nul_in_names_stored_in_columns(otlp):
    _json_error(otlp.json(_one_span({"gen_ai.conversation.id": "a\x00b"})), 400, "VALIDATION_ERROR")
    _protobuf_error(otlp.protobuf(_one_span(), scope="scope\x00"), 400, "VALIDATION_ERROR")
    _nothing_stored()
