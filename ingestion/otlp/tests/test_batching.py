"""Many spans, one append: order, idempotency and the cost of a request, on both databases;
two exporters racing on one session, on PostgreSQL."""

from __future__ import annotations

import hashlib
import random
import threading
import uuid

import pytest
from agentops_sdk.verify import verify_session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from ingestion import keys, selectors, services
from ingestion.models import Event, Session, SpanReceipt
from ingestion.otlp import mapping
from ingestion.otlp.services import session_id_for

from . import builders as b

PROTOBUF = "application/x-protobuf"


def _client() -> Client:
    _, plaintext = services.api_key_create(project_name="acme", name="otel")
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def _tool_spans(trace: str, conversation: str, count: int, *, first: int = 0) -> list[dict]:
    """``count`` tool spans of one conversation, each ending 10 ms after the previous one."""
    return [
        b.span(
            trace,
            "execute_tool lookup_order",
            {
                "gen_ai.conversation.id": conversation,
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_order",
                "gen_ai.tool.call.id": f"call_{i}",
                "gen_ai.tool.call.arguments": f'{{"order_id": {i}}}',
            },
            start=10 * i,
            end=10 * i + 5,
        )
        for i in range(first, first + count)
    ]


def _session(conversation: str) -> Session:
    project = Session.objects.first().project
    return Session.objects.get(
        pk=session_id_for(project=project, kind="conversation_id", value=conversation)
    )


def _events(session: Session) -> list[dict]:
    return list(selectors.session_envelopes(session=session))


def _statements(captured: CaptureQueriesContext) -> int:
    return sum(not q["sql"].startswith("INSERT INTO") for q in captured.captured_queries)


def _export(client: Client, spans: list[dict]):
    return client.post("/v1/traces", b.protobuf_request(spans), content_type=PROTOBUF)


@pytest.mark.django_db
def test_a_request_of_many_spans_is_one_append_in_end_time_order():
    client = _client()
    trace = b.trace_id()
    first = _tool_spans(trace, "conv-batch", 4)
    assert _export(client, first).status_code == 200
    spans = _tool_spans(trace, "conv-batch", 200, first=4)
    shuffled = random.Random(7).sample(spans, len(spans))
    with CaptureQueriesContext(connection) as many:
        assert _export(client, shuffled).status_code == 200
    with CaptureQueriesContext(connection) as few:
        assert _export(client, _tool_spans(trace, "conv-batch", 3, first=204)).status_code == 200
    # As many statements for 200 spans as for 3: one append, not one per span (SQLite aside,
    # where Django splits a bulk INSERT into chunks of 999 parameters).
    assert _statements(many) == _statements(few)

    events = _events(_session("conv-batch"))
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert len(events) == 1 + 2 * 207
    # The chain holds the spans by end time whatever their order in the request.
    span_order = [e["payload"]["otel"]["span_id"] for e in events[1::2]]
    assert span_order == [s["span_id"] for s in first + spans] + span_order[-3:]
    assert [e["event_type"] for e in events[1:5]] == [
        "TOOL_CALL",
        "TOOL_RESULT",
        "TOOL_CALL",
        "TOOL_RESULT",
    ]
    receipts = dict(SpanReceipt.objects.values_list("span_id", "first_sequence_number"))
    assert all(
        events[receipts[s["span_id"]]]["payload"]["otel"]["span_id"] == s["span_id"] for s in spans
    )


@pytest.mark.django_db
def test_a_batch_resent_whole_or_in_part_adds_nothing_and_an_altered_span_is_refused():
    client = _client()
    spans = _tool_spans(b.trace_id(), "conv-retry", 50)
    assert _export(client, spans).status_code == 200
    count, receipts = Event.objects.count(), SpanReceipt.objects.count()
    assert _export(client, list(reversed(spans))).content == b""
    assert _export(client, spans[10:20] + spans[:5]).content == b""
    assert (Event.objects.count(), SpanReceipt.objects.count()) == (count, receipts)

    altered = dict(spans[3], attributes={**spans[3]["attributes"], "gen_ai.tool.name": "refund"})
    extra = _tool_spans(spans[0]["trace_id"], "conv-retry", 2, first=50)
    body = client.post(
        "/v1/traces",
        b.json_bytes(b.json_request([*spans[:3], altered, *extra])),
        content_type="application/json",
    ).json()
    assert body["partialSuccess"]["rejectedSpans"] == "1"
    assert spans[3]["span_id"] in body["partialSuccess"]["errorMessage"]
    assert Event.objects.count() == count + 4  # the two new spans only
    events = _events(_session("conv-retry"))
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    stored = [
        e for e in events if e["payload"].get("otel", {}).get("span_id") == spans[3]["span_id"]
    ]
    assert [e["payload"]["tool_name"] for e in stored] == ["lookup_order", "lookup_order"]


def test_event_ids_are_their_time_then_the_sha1_of_their_names():
    names = ["", "a", "é/ß/€/😀", "x" * 500]
    names += [f"{uuid.uuid4()}/{b.trace_id()}/{b.span_id()}/{i}:TOOL_CALL" for i in range(200)]
    made = []
    for index, name in enumerate(names):
        ns = 1_780_000_000_123_456_789 + index * 1_000_000
        text = mapping.event_id_for(name, ns)
        digest = hashlib.sha1(mapping.EVENT_ID_NAMESPACE.bytes + name.encode()).digest()
        named = int.from_bytes(digest[:10], "big")  # 80 bits; the low 74 are kept
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (8, uuid.RFC_4122)
        assert parsed.int >> 80 == ns // 1_000_000
        assert (parsed.int >> 64) & 0xFFF == (named >> 62) & 0xFFF
        assert parsed.int & (2**62 - 1) == named & (2**62 - 1)
        assert mapping.event_id_for(name, ns) == text
        made.append(text)
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_timestamps_keep_nine_digits_across_seconds_and_years():
    for ns, text in [
        (0, "1970-01-01T00:00:00.000000000Z"),
        (b.BASE_NS + 999_999_999, "2026-01-01T00:00:00.999999999Z"),
        (b.BASE_NS + 1_000_000_000, "2026-01-01T00:00:01.000000000Z"),
        (2**64 - 1, "2554-07-21T23:34:33.709551615Z"),
    ]:
        assert mapping.rfc3339(ns) == text


@pytest.mark.postgres
@pytest.mark.usefixtures("evidence_transactional_db")
def test_two_exporters_sending_one_session_at_once_build_one_valid_chain():
    _, plaintext = services.api_key_create(project_name="acme", name="otel")
    trace = b.trace_id()
    halves = [_tool_spans(trace, "conv-race", 60, first=60 * n) for n in range(2)]
    batches = [[half[i : i + 20] for i in range(0, 60, 20)] for half in halves]
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def exporter(number: int) -> None:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        try:
            barrier.wait()
            for batch in batches[number]:
                response = _export(client, batch)
                assert (response.status_code, response.content) == (200, b"")
            # Each sends one of its batches again, while the other may still be appending.
            assert _export(client, batches[number][0]).content == b""
        except BaseException as exc:  # reported to the main thread
            failures.append(exc)
        finally:
            connection.close()  # each thread opened its own connection

    threads = [threading.Thread(target=exporter, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []

    assert Session.objects.count() == 1
    session = _session("conv-race")
    root = b.span(
        trace,
        "invoke_agent refund-agent",
        {"gen_ai.conversation.id": "conv-race", "gen_ai.operation.name": "invoke_agent"},
        start=0,
        end=2000,
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert _export(client, [root]).status_code == 200
    session.refresh_from_db()
    assert session.sealed
    events = _events(session)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert len(events) == 1 + 2 * 120 + 2 + 1  # start, the spans, root annotation, end, seal
    spans_stored = [e["payload"]["otel"]["span_id"] for e in events[1:-3:2]]
    assert sorted(spans_stored) == sorted(s["span_id"] for half in halves for s in half)
    assert SpanReceipt.objects.count() == 121
    report = verify_session(events, trusted_keys=keys.trusted_public_keys())
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE", report["violations"]
