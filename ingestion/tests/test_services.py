from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from agentops_sdk import chain, seal, verify
from agentops_sdk.verify import verify_session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingestion import keys, selectors, services
from ingestion.errors import IngestionError
from ingestion.models import ApiKey, Event, Project, Session, VerificationTrigger

from .factories import (
    api_key_create,
    project_create,
    proposal_build,
    proposals_build,
    session_create,
    session_with_events,
    vector_load,
)

pytestmark = pytest.mark.django_db


def _stored(session: Session) -> list[dict]:
    return list(selectors.session_envelopes(session=session))


def _resent(envelope: dict) -> dict:
    """A stored event proposed again, as a producer retrying a batch sends it."""
    return {name: envelope[name] for name in chain.PRODUCER_FIELDS}


def _append(session: Session, proposals: list[dict], **kwargs) -> services.AppendResult:
    return services.events_append(session=session, proposals=proposals, **kwargs)


def _refused(code: str, session: Session, proposals: list[dict]) -> IngestionError:
    """Append, expect ``code``, and prove that neither events nor the session changed."""
    before_events = _stored(session)
    before_row = Session.objects.filter(pk=session.pk).values().get()
    with pytest.raises(IngestionError) as caught:
        _append(session, proposals)
    assert caught.value.code == code
    assert _stored(session) == before_events
    assert Session.objects.filter(pk=session.pk).values().get() == before_row
    return caught.value


# --- session_start -----------------------------------------------------------------------


def test_start_creates_a_session_with_a_fresh_id():
    project = project_create()
    session, created = services.session_start(project=project, agent_id="bot", metadata={"a": 1})
    assert created is True
    assert isinstance(session.id, uuid.UUID)
    assert (session.project, session.agent_id, session.metadata) == (project, "bot", {"a": 1})
    assert session.head_sequence is None and session.event_count == 0 and not session.sealed


def test_start_is_idempotent_for_a_session_id():
    project = project_create()
    session_id = uuid.uuid4()
    first, created = services.session_start(project=project, agent_id="bot", session_id=session_id)
    again, created_again = services.session_start(
        project=project, agent_id="other", metadata={"x": 1}, session_id=session_id
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk == session_id
    assert (again.agent_id, again.metadata) == ("bot", {})
    assert Session.objects.count() == 1


def test_start_with_another_projects_session_id_is_a_conflict():
    session = session_create()
    with pytest.raises(IngestionError) as caught:
        services.session_start(project=project_create(), agent_id="bot", session_id=session.id)
    assert (caught.value.code, caught.value.status, caught.value.details) == (
        "SESSION_CONFLICT",
        409,
        {},
    )
    assert Session.objects.get(pk=session.pk).project == session.project


# --- events_append: accepted batches ---------------------------------------------------------


def test_append_chains_the_batch_as_the_server():
    session = session_create()
    api_key, _ = api_key_create(session.project)
    result = _append(session, proposals_build(session.id, 3), api_key=api_key)
    stored = _stored(session)
    assert (result.accepted, result.duplicates) == (3, 0)
    assert (result.head_sequence, result.head_hash) == (2, stored[-1]["event_hash"])
    assert [e["prev_event_hash"] for e in stored] == [None] + [e["event_hash"] for e in stored[:-1]]
    assert {(e["chain_authority"], e["authority_id"]) for e in stored} == {
        ("server", "test-ingest")
    }
    assert all(chain.event_hash(e) == e["event_hash"] for e in stored)
    assert set(Event.objects.filter(session=session).values_list("api_key", flat=True)) == {
        api_key.pk
    }


def test_append_updates_the_session_row_and_the_callers_instance():
    session = session_create()
    _append(session, proposals_build(session.id, 4, end=True))
    row = Session.objects.get(pk=session.pk)
    assert (row.head_sequence, row.event_count, row.has_session_end) == (3, 4, True)
    assert row.head_hash == _stored(session)[-1]["event_hash"]
    assert row.last_event_at is not None
    assert (session.head_sequence, session.head_hash) == (row.head_sequence, row.head_hash)


def test_events_of_a_batch_are_stored_with_the_instant_the_session_records():
    session = session_create()
    before = timezone.now()
    _append(session, proposals_build(session.id, 3))
    row = Session.objects.get(pk=session.pk)
    received = set(Event.objects.filter(session=session).values_list("received_at", flat=True))
    # One instant, to the microsecond, for the whole batch and the session's last_event_at.
    assert received == {row.last_event_at}
    assert before <= row.last_event_at <= timezone.now()
    assert Event.objects.filter(session=session, session_id=session.pk).count() == 3


def test_appending_by_id_finds_the_projects_session_as_it_locks_it():
    session = session_create()
    result = services.events_append(
        session=session.pk, proposals=proposals_build(session.id, 2), project=session.project
    )
    assert (result.accepted, result.head_sequence) == (2, 1)
    assert Event.objects.filter(session=session).count() == 2


@pytest.mark.parametrize("named_by", ["id", "instance"])
@pytest.mark.parametrize("whose", ["another project's", "no one's"])
def test_appending_for_a_project_to_a_session_it_lacks_is_not_found(whose, named_by):
    session = session_create()
    target_pk = session.pk if whose == "another project's" else uuid.uuid4()
    target = target_pk if named_by == "id" else Session(pk=target_pk)
    with pytest.raises(IngestionError) as caught:
        services.events_append(
            session=target, proposals=proposals_build(target_pk, 2), project=project_create()
        )
    assert (caught.value.code, caught.value.status) == ("SESSION_NOT_FOUND", 404)
    assert not Event.objects.exists()
    assert Session.objects.get(pk=session.pk).event_count == 0


def test_appending_for_its_project_brings_the_instance_up_to_date():
    session = session_create()
    services.events_append(
        session=session, proposals=proposals_build(session.id, 3), project=session.project
    )
    assert (session.head_sequence, session.event_count) == (2, 3)


def test_sdk_supplied_hashes_and_authority_are_ignored():
    session = session_create()
    proposal = proposal_build(
        session.id,
        0,
        prev_event_hash="f" * 64,
        event_hash="e" * 64,
        chain_authority="sdk",
        authority_id="forged",
    )
    _append(session, [proposal])
    stored = _stored(session)[0]
    assert stored["prev_event_hash"] is None
    assert stored["event_hash"] == chain.event_hash(stored) != "e" * 64
    assert (stored["chain_authority"], stored["authority_id"]) == ("server", "test-ingest")


def test_a_correct_supplied_payload_hash_is_accepted():
    session = session_create()
    proposal = proposal_build(session.id, 0)
    proposal["payload_hash"] = chain.payload_hash(proposal["payload"])
    assert _append(session, [proposal]).accepted == 1


def test_timestamp_wall_is_stored_byte_for_byte():
    session = session_create()
    _append(
        session, [proposal_build(session.id, 0, timestamp_wall="2026-01-25T10:00:00.123456789Z")]
    )
    assert _stored(session)[0]["timestamp_wall"] == "2026-01-25T10:00:00.123456789Z"


def test_log_drops_add_up_in_total_drops():
    session = session_with_events(1)
    drop = {"dropped_count": 5, "cumulative_drops": 5, "drop_reason": "NETWORK_LOSS"}
    _append(
        session,
        [
            proposal_build(session.id, 1, "LOG_DROP", payload=drop),
            proposal_build(session.id, 2, "LOG_DROP"),
        ],
    )
    assert Session.objects.get(pk=session.pk).total_drops == 5 + 3


def test_a_replayed_batch_counts_as_duplicates():
    session = session_create()
    batch = proposals_build(session.id, 3)
    first = _append(session, batch)
    again = _append(session, batch)
    assert (again.accepted, again.duplicates) == (0, 3)
    assert (again.head_sequence, again.head_hash) == (first.head_sequence, first.head_hash)
    assert Event.objects.filter(session=session).count() == 3


def test_a_batch_overlapping_the_head_stores_only_the_new_events():
    session = session_create()
    batch = proposals_build(session.id, 5)
    _append(session, batch[:3])
    result = _append(session, batch[1:])
    assert (result.accepted, result.duplicates, result.head_sequence) == (2, 2, 4)


def test_an_event_repeated_within_a_batch_is_a_duplicate():
    session = session_create()
    batch = proposals_build(session.id, 2)
    result = _append(session, [*batch, batch[1]])
    assert (result.accepted, result.duplicates) == (2, 1)


def test_repeats_of_stored_and_of_batch_events_in_one_batch_are_duplicates():
    session = session_with_events(2)
    resent = _resent(_stored(session)[1])
    batch = proposals_build(session.id, 2, start=2)
    result = _append(session, [resent, *batch, batch[0], resent, batch[1]])
    assert (result.accepted, result.duplicates) == (2, 4)


def test_an_event_repeated_within_a_batch_with_other_content_is_a_conflict():
    session = session_create()
    batch = proposals_build(session.id, 3)
    changed = {**batch[1], "timestamp_monotonic": 999}
    error = _refused("SEQUENCE_CONFLICT", session, [*batch, changed])
    assert error.details["index"] == 3


# --- events_append: refusals store nothing -------------------------------------------------


def test_reusing_a_sequence_number_with_other_content_is_a_conflict():
    session = session_with_events(2)
    changed = proposal_build(session.id, 1, payload={"tool_name": "other", "args": {}})
    error = _refused("SEQUENCE_CONFLICT", session, [changed])
    assert error.status == 409
    assert error.details == {"index": 0, "sequence_number": 1, "event_id": changed["event_id"]}


def test_a_replay_that_differs_only_in_an_unsigned_field_is_a_conflict():
    session = session_create()
    batch = proposals_build(session.id, 1)
    _append(session, batch)
    _refused("SEQUENCE_CONFLICT", session, [{**batch[0], "timestamp_monotonic": 999}])


def test_reusing_an_event_id_at_a_new_sequence_number_is_a_conflict():
    session = session_with_events(2)
    stored_id = _stored(session)[0]["event_id"]
    error = _refused(
        "SEQUENCE_CONFLICT", session, [proposal_build(session.id, 2, event_id=stored_id)]
    )
    assert error.details["event_id"] == stored_id


def test_an_event_id_reused_mid_batch_is_reported_where_it_is_reused():
    session = session_with_events(3)
    stored = _stored(session)
    batch = [
        _resent(stored[2]),  # a re-sent event: a duplicate, not a conflict
        proposal_build(session.id, 3),
        proposal_build(session.id, 4, event_id=stored[1]["event_id"]),
        proposal_build(session.id, 5),
    ]
    error = _refused("SEQUENCE_CONFLICT", session, batch)
    assert error.details == {"index": 2, "sequence_number": 4, "event_id": stored[1]["event_id"]}
    assert "already used by sequence number 1" in error.message


def test_an_event_id_reused_right_after_its_own_resend_is_a_conflict():
    session = session_with_events(2)
    resent = _resent(_stored(session)[1])
    error = _refused(
        "SEQUENCE_CONFLICT",
        session,
        [resent, proposal_build(session.id, 2, event_id=resent["event_id"])],
    )
    assert error.details["index"] == 1
    assert "already used by sequence number 1" in error.message


def test_an_event_id_used_twice_in_one_batch_is_a_conflict():
    session = session_with_events(1)
    first = proposal_build(session.id, 1)
    _refused(
        "SEQUENCE_CONFLICT",
        session,
        [first, proposal_build(session.id, 2, event_id=first["event_id"])],
    )


def test_a_gap_is_refused_with_the_expected_sequence():
    session = session_with_events(2)
    error = _refused(
        "SEQUENCE_GAP", session, [proposal_build(session.id, 2), proposal_build(session.id, 4)]
    )
    assert (error.status, error.details) == (409, {"index": 1, "expected_sequence": 3, "got": 4})


def test_a_first_batch_must_start_at_zero():
    session = session_create()
    error = _refused("SEQUENCE_GAP", session, [proposal_build(session.id, 1)])
    assert error.details["expected_sequence"] == 0


@pytest.mark.parametrize(
    ("stored", "batch_types", "index"),
    [
        (0, ["TOOL_CALL"], 0),  # the first event is not SESSION_START
        (1, ["TOOL_CALL", "SESSION_START"], 1),  # a second SESSION_START
        (1, ["SESSION_END", "TOOL_CALL"], 1),  # an event after SESSION_END in the batch
        (1, ["SESSION_END", "SESSION_END"], 1),  # SESSION_END twice
    ],
)
def test_ordering_rules(stored, batch_types, index):
    session = session_with_events(stored)
    batch = [proposal_build(session.id, stored + i, t) for i, t in enumerate(batch_types)]
    error = _refused("ORDERING_VIOLATION", session, batch)
    assert (error.status, error.details["index"]) == (409, index)


def test_nothing_may_follow_a_stored_session_end():
    session = session_with_events(2, end=True)
    _refused("ORDERING_VIOLATION", session, [proposal_build(session.id, 2)])


def test_a_proposed_chain_seal_is_refused_before_anything_else():
    session = session_with_events(1)
    batch = [proposal_build(session.id, 1), proposal_build(session.id, 2, "CHAIN_SEAL", payload={})]
    error = _refused("AUTHORITY_VIOLATION", session, batch)
    assert (error.status, error.details) == (403, {"index": 1})


def test_appending_to_a_sealed_session_is_refused():
    session = session_with_events(2, end=True)
    services.session_seal(session=session)
    error = _refused("SESSION_SEALED", session, [proposal_build(session.id, 3)])
    assert error.status == 409


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"tool_name": "t", "args": {"x": float("nan")}}, "$.args.x"),
        ({"tool_name": "t", "args": {"x": [1, float("inf")]}}, "$.args.x[1]"),
        ({"tool_name": "t", "args": {"x": 2**53}}, "$.args.x"),
        ({"tool_name": "t", "args": {"x": "\ud800"}}, "$.args.x"),
    ],
)
def test_values_jcs_cannot_represent_are_refused(payload, path):
    session = session_with_events(1)
    batch = [proposal_build(session.id, 1), proposal_build(session.id, 2, payload=payload)]
    error = _refused("NON_CANONICAL_VALUE", session, batch)
    assert error.status == 422
    assert (error.details["index"], error.details["path"]) == (1, path)


def test_a_supplied_payload_hash_that_differs_is_refused():
    session = session_with_events(1)
    proposal = proposal_build(session.id, 1, payload_hash="0" * 64)
    error = _refused("PAYLOAD_HASH_MISMATCH", session, [proposal])
    assert error.status == 400
    assert error.details == {
        "index": 0,
        "supplied": "0" * 64,
        "computed": chain.payload_hash(proposal["payload"]),
    }


def test_a_proposal_of_another_session_is_refused():
    session = session_with_events(1)
    _refused("VALIDATION_ERROR", session, [proposal_build(uuid.uuid4(), 1)])


# --- batch checks ------------------------------------------------------------------------

calls: list[dict] = []


def recording_check(**kwargs) -> None:
    calls.append(kwargs)


def refusing_check(**kwargs) -> None:
    raise IngestionError("POLICY_VIOLATION", "not allowed", status=409, details={"rule": "x"})


def test_batch_checks_see_the_new_envelopes_under_the_lock(settings):
    settings.AGENTOPS_BATCH_CHECKS = [f"{__name__}.recording_check"]
    calls.clear()
    session = session_create()
    batch = proposals_build(session.id, 3)
    _append(session, batch[:1])
    _append(session, batch)
    assert [c["event_count_after"] for c in calls] == [1, 3]
    last = calls[-1]
    assert last["session"].pk == session.pk
    assert [e["sequence_number"] for e in last["proposals"]] == [1, 2]
    assert last["proposals"] == _stored(session)[1:]


def test_a_refusing_batch_check_stores_nothing(settings):
    settings.AGENTOPS_BATCH_CHECKS = [f"{__name__}.refusing_check"]
    session = session_create()
    error = _refused("POLICY_VIOLATION", session, proposals_build(session.id, 2))
    assert error.details == {"rule": "x"}


# --- performance and fidelity ------------------------------------------------------------


def _queries_for_batch(size: int) -> list[str]:
    session = session_with_events(1)
    batch = proposals_build(session.id, size, start=1)
    with CaptureQueriesContext(connection) as captured:
        _append(session, batch)
    return [q["sql"] for q in captured.captured_queries]


def _is_event_insert(sql: str) -> bool:
    # PostgreSQL stores a batch with COPY, other databases with one INSERT.
    return (
        sql.lstrip().upper().startswith(('INSERT INTO "INGESTION_EVENT"', 'COPY "INGESTION_EVENT"'))
    )


def test_queries_other_than_the_insert_do_not_grow_with_the_batch():
    small, large = _queries_for_batch(10), _queries_for_batch(500)
    assert [q for q in large if not _is_event_insert(q)].__len__() == len(
        [q for q in small if not _is_event_insert(q)]
    )


@pytest.mark.postgres
def test_a_batch_is_inserted_with_one_statement():
    small, large = _queries_for_batch(10), _queries_for_batch(500)
    assert len(large) == len(small)
    assert sum(map(_is_event_insert, large)) == 1


SERVER_VECTORS = [
    "server_sealed_complete.jsonl",
    "server_log_drop.jsonl",
    "server_no_session_end.jsonl",
    "jcs_numbers_unicode.jsonl",
]


@pytest.mark.parametrize("name", SERVER_VECTORS)
def test_importing_a_vector_reproduces_its_hashes(name):
    original = [e for e in vector_load(name) if e["event_type"] != "CHAIN_SEAL"]
    session, _ = services.session_start(
        project=project_create(),
        agent_id="support-bot",
        session_id=uuid.UUID(original[0]["session_id"]),
    )
    _append(session, original)
    stored = _stored(session)
    fields = (
        "event_id",
        "timestamp_wall",
        "payload",
        "payload_hash",
        "prev_event_hash",
        "event_hash",
    )
    assert [[e[f] for f in fields] for e in stored] == [[e[f] for f in fields] for e in original]


# --- sealing -----------------------------------------------------------------------------


def test_seal_appends_a_signed_chain_seal_and_freezes_the_session():
    session = session_with_events(4, end=True)
    head_hash = session.head_hash
    result = services.session_seal(session=session)
    stored = _stored(session)
    assert result.created is True
    assert stored[-1] == result.seal
    assert result.seal["event_type"] == "CHAIN_SEAL"
    assert (result.seal["sequence_number"], result.seal["prev_event_hash"]) == (4, head_hash)
    payload = result.seal["payload"]
    assert payload["final_event_hash"] == head_hash
    assert payload["session_digest"] == "sha256:" + head_hash
    assert (payload["event_count"], payload["complete"], payload["total_drops"]) == (4, True, 0)
    assert payload["ingestion_service_id"] == "test-ingest"
    assert payload["seal_timestamp"] == result.seal["timestamp_wall"]
    assert payload["seal_timestamp"].endswith("Z")
    assert seal.seal_signature_valid(
        keys.signing_key().public_key(), session_id=str(session.id), seal_payload=payload
    )
    row = Session.objects.get(pk=session.pk)
    assert row.sealed and session.sealed
    assert (row.head_sequence, row.event_count, row.head_hash) == (4, 4, result.seal["event_hash"])
    assert row.evidence_class == "AUTHORITATIVE_EVIDENCE"
    assert row.verification == result.verification


def test_a_sealed_session_verifies_offline_as_authoritative():
    session = session_with_events(3, end=True)
    services.session_seal(session=session)
    published = keys.public_keys()[0]["public_key"]
    report = verify_session(_stored(session), trusted_keys=[seal.public_key_from_b64(published)])
    assert (report["status"], report["evidence_class"]) == ("PASS", "AUTHORITATIVE_EVIDENCE")
    assert report["sealed"] is True


def test_seal_is_idempotent():
    session = session_with_events(2, end=True)
    first = services.session_seal(session=session)
    again = services.session_seal(session=Session.objects.get(pk=session.pk))
    assert again.created is False
    assert (again.seal, again.verification) == (first.seal, first.verification)
    assert Event.objects.filter(session=session, event_type="CHAIN_SEAL").count() == 1


def test_an_empty_session_cannot_be_sealed():
    session = session_create()
    with pytest.raises(IngestionError) as caught:
        services.session_seal(session=session)
    assert (caught.value.code, caught.value.status) == ("EMPTY_SESSION", 409)
    assert not Session.objects.get(pk=session.pk).sealed


def test_a_session_without_end_seals_as_partial():
    session = session_with_events(3)
    result = services.session_seal(session=session)
    assert result.seal["payload"]["complete"] is False
    assert result.verification["evidence_class"] == "PARTIAL_AUTHORITATIVE_EVIDENCE"
    assert "MISSING_SESSION_END" in result.verification["partial_reasons"]


def test_drops_are_recorded_in_the_seal():
    session = session_with_events(1)
    _append(
        session,
        [proposal_build(session.id, 1, "LOG_DROP"), proposal_build(session.id, 2, "SESSION_END")],
    )
    result = services.session_seal(session=session)
    assert result.seal["payload"]["total_drops"] == 3
    assert result.verification["partial_reasons"] == ["LOG_DROP_PRESENT"]


def test_a_chain_altered_behind_the_service_is_sealed_as_failed(caplog):
    session = session_with_events(2)
    # An event written straight into the table, bypassing the service: its hash is wrong.
    forged = proposal_build(session.id, 2)
    Event.objects.create(
        session=session,
        sequence_number=2,
        event_id=forged["event_id"],
        timestamp_wall=forged["timestamp_wall"],
        timestamp_monotonic=0,
        event_type="TOOL_CALL",
        source_sdk_ver="forged/1",
        schema_ver="v0.6",
        payload_jcs='{"tool_name":"x"}',
        payload_hash="0" * 64,
        prev_event_hash=session.head_hash,
        event_hash="1" * 64,
        chain_authority="server",
        authority_id="test-ingest",
    )
    Session.objects.filter(pk=session.pk).update(head_sequence=2, head_hash="1" * 64, event_count=3)
    with caplog.at_level(logging.WARNING, logger="ingestion.services"):
        result = services.session_seal(session=Session.objects.get(pk=session.pk))
    assert result.created is True
    assert result.verification["status"] == "FAIL"
    assert result.verification["evidence_class"] is None
    assert Session.objects.get(pk=session.pk).evidence_class == "FAILED"
    assert "fails verification" in caplog.text


def hook(**kwargs) -> None:
    calls.append(kwargs)


def failing_hook(**kwargs) -> None:
    raise RuntimeError("hook broke")


def test_seal_hooks_run_after_commit(settings, django_capture_on_commit_callbacks):
    settings.AGENTOPS_SEAL_HOOKS = [f"{__name__}.failing_hook", f"{__name__}.hook"]
    calls.clear()
    session = session_with_events(2, end=True)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.session_seal(session=session)
    # The transparency log may also sign a tree head after the commit.
    assert [c.__qualname__ for c in callbacks if "tree_head" not in c.__qualname__] == [
        "failing_hook",
        "hook",
    ]
    assert [c["session"].pk for c in calls] == [session.pk]
    assert calls[0]["session"].sealed
    with django_capture_on_commit_callbacks(execute=True) as again:
        services.session_seal(session=session)
    assert again == []


# --- verification ------------------------------------------------------------------------


def test_verify_an_open_session():
    session = session_with_events(3, end=True)
    report = services.session_verify(session=session, trigger=VerificationTrigger.API)
    assert (report["status"], report["partial_reasons"]) == ("PASS", ["UNSEALED_SESSION"])


def test_verify_a_sealed_session_from_the_database():
    session = session_with_events(3, end=True)
    services.session_seal(session=session)
    report = services.session_verify(session=session, trigger=VerificationTrigger.API)
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert report["event_count"] == 3


def test_verify_uploaded_events_with_the_services_keys():
    session = session_with_events(3, end=True)
    services.session_seal(session=session)
    report = services.events_verify(events=_stored(session))
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"


# --- stale sessions ----------------------------------------------------------------------


def _idle_for(session: Session, minutes: int) -> Session:
    Session.objects.filter(pk=session.pk).update(
        last_event_at=timezone.now() - timedelta(minutes=minutes)
    )
    return session


def test_stale_sessions_are_sealed_as_partial():
    stale = _idle_for(session_with_events(2), 90)
    fresh = _idle_for(session_with_events(2), 5)
    empty = session_create()
    sealed = services.sessions_seal_stale(idle_minutes=60)
    assert [s.pk for s in sealed] == [stale.pk]
    stale.refresh_from_db()
    assert stale.sealed
    assert stale.evidence_class == "PARTIAL_AUTHORITATIVE_EVIDENCE"
    assert stale.verification["partial_reasons"] == ["MISSING_SESSION_END"]
    assert not Session.objects.get(pk=fresh.pk).sealed
    assert not Session.objects.get(pk=empty.pk).sealed


def test_stale_sweep_uses_the_given_clock_and_skips_sealed_sessions():
    session = session_with_events(2, end=True)
    services.session_seal(session=session)
    later = timezone.now() + timedelta(hours=2)
    other = session_with_events(1)
    assert [s.pk for s in services.sessions_seal_stale(idle_minutes=60, now=later)] == [other.pk]


# --- API keys ----------------------------------------------------------------------------


def test_api_key_create_makes_the_project_once_and_returns_the_key_once():
    first, plaintext = services.api_key_create(project_name="acme", name="ci")
    second, _ = services.api_key_create(project_name="acme", name="laptop")
    assert Project.objects.filter(name="acme").count() == 1
    assert first.project == second.project
    assert ApiKey.objects.get_from_key(plaintext) == first
    assert plaintext not in first.hashed_key


def test_api_key_revoke():
    api_key, plaintext = services.api_key_create(project_name="acme", name="ci")
    revoked = services.api_key_revoke(prefix=api_key.prefix)
    assert revoked.revoked and ApiKey.objects.get(pk=api_key.pk).revoked
    assert not ApiKey.objects.is_valid(plaintext)


def test_revoking_an_unknown_key():
    with pytest.raises(IngestionError) as caught:
        services.api_key_revoke(prefix="nope")
    assert (caught.value.code, caught.value.status) == ("API_KEY_NOT_FOUND", 404)


def test_verify_a_compliance_export_document():
    session = session_with_events(2, end=True)
    services.session_seal(session=session)
    document = {
        "export_format": "agentops-compliance-export",
        "events": _stored(session),
        "chain_of_custody": {"public_key": keys.public_keys()[0]["public_key"]},
    }
    # Signed whole, as the service signs every export; unsigned it could only be partial.
    digest = verify.export_document_sha256(document)
    document["export_signature"] = verify.export_signature_build(keys.signing_key(), digest)
    assert services.export_verify(document=document)["evidence_class"] == "AUTHORITATIVE_EVIDENCE"


def test_a_document_that_is_not_an_export_is_a_validation_error():
    with pytest.raises(IngestionError) as caught:
        services.export_verify(document={"export_format": "something-else"})
    assert (caught.value.code, caught.value.status) == ("VALIDATION_ERROR", 400)
