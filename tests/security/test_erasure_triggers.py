"""The erasure guarantees hold in the database itself: raw SQL, no service, no ORM."""

from __future__ import annotations

import json

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from ingestion import services
from ingestion.models import Event, Session
from ingestion.tests.factories import project_create, proposal_build, session_create
from policy.models import Findings
from policy.services import session_findings_evaluate

pytestmark = pytest.mark.django_db

REFUSED = (IntegrityError, DatabaseError)


def _sql(sql: str, params: list | None = None) -> None:
    # A savepoint per statement: on PostgreSQL a refused statement aborts the transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _sid(session: Session):
    return Session._meta.pk.get_db_prep_value(session.pk, connection)


def _session():
    session = session_create(project_create())
    services.events_append(
        session=session,
        proposals=[
            proposal_build(session.id, 0),
            proposal_build(
                session.id, 1, "TOOL_CALL", {"tool_name": "mail", "args": {"to": "a.b@example.org"}}
            ),
        ],
    )
    session_findings_evaluate(session=session)
    return session


def _ledger_insert(session: Session, seq: int, payload_hash: str | None = None) -> None:
    event = Event.objects.get(session=session, sequence_number=seq)
    _sql(
        "INSERT INTO ingestion_erasure (session_id, sequence_number, event_id, payload_hash,"
        " erased_at, request_ref, reason, actor) VALUES (%s, %s, %s, %s, %s, 'R', 'why', 'sql')",
        [
            _sid(session),
            seq,
            event.event_id,
            payload_hash or event.payload_hash,
            connection.ops.adapt_datetimefield_value(timezone.now()),
        ],
    )


def _withhold(session: Session, seq: int, extra: str = "") -> None:
    _sql(
        f"UPDATE ingestion_event SET payload_jcs = NULL{extra}"
        " WHERE session_id = %s AND sequence_number = %s",
        [_sid(session), seq],
    )


def _payload(session: Session, seq: int):
    return Event.objects.get(session=session, sequence_number=seq).payload_jcs


def test_withholding_a_payload_without_a_ledger_row_is_refused():
    session = _session()
    with pytest.raises(REFUSED, match="only a payload erased under an erasure ledger row"):
        _withhold(session, 1)
    assert _payload(session, 1) is not None


def test_withholding_a_payload_behind_its_ledger_row_in_the_same_transaction_is_allowed():
    session = _session()
    with transaction.atomic():
        _ledger_insert(session, 1)
        _withhold(session, 1)
    assert _payload(session, 1) is None


def test_a_ledger_row_for_another_event_allows_nothing():
    session = _session()
    with transaction.atomic():
        _ledger_insert(session, 0)
        with pytest.raises(REFUSED):
            _withhold(session, 1)
    assert _payload(session, 1) is not None


@pytest.mark.parametrize(
    "change",
    [
        ", event_hash = 'f'",
        ", payload_hash = 'f'",
        ", prev_event_hash = 'f'",
        ", timestamp_wall = '2030-01-01T00:00:00Z'",
        ", event_type = 'ERROR'",
        ", authority_id = 'me'",
    ],
)
def test_a_chain_field_stays_unwritable_even_behind_a_ledger_row(change):
    session = _session()
    with transaction.atomic():
        _ledger_insert(session, 1)
        with pytest.raises(REFUSED):
            _withhold(session, 1, change)
    assert _payload(session, 1) is not None


def test_a_payload_cannot_be_rewritten_behind_a_ledger_row():
    session = _session()
    with transaction.atomic():
        _ledger_insert(session, 1)
        with pytest.raises(REFUSED):
            _sql(
                "UPDATE ingestion_event SET payload_jcs = '{}'"
                " WHERE session_id = %s AND sequence_number = 1",
                [_sid(session)],
            )


def test_the_ledger_refuses_a_row_that_names_a_hash_the_chain_does_not_hold():
    session = _session()
    with pytest.raises(REFUSED, match="must name a stored event"):
        _ledger_insert(session, 1, payload_hash="0" * 64)


def test_the_ledger_can_never_be_updated_or_deleted():
    session = _session()
    _ledger_insert(session, 1)
    with pytest.raises(REFUSED, match="erasure ledger cannot be updated"):
        _sql("UPDATE ingestion_erasure SET request_ref = 'other'")
    with pytest.raises(REFUSED, match="erasure ledger cannot be deleted"):
        _sql("DELETE FROM ingestion_erasure")


@pytest.mark.postgres
def test_the_ledger_can_never_be_truncated(on_postgres):
    session = _session()
    _ledger_insert(session, 1)
    _sql("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(REFUSED, match="erasure ledger cannot be truncated"):
        _sql("TRUNCATE ingestion_erasure CASCADE")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_a_ledger_row_of_an_earlier_transaction_does_not_allow_a_later_withholding(
    evidence_transactional_db,
):
    session = _session()
    _ledger_insert(session, 1)  # committed on its own (autocommit)
    with pytest.raises(REFUSED, match="only a payload erased under an erasure ledger row"):
        _withhold(session, 1)
    assert _payload(session, 1) is not None


@pytest.mark.postgres
def test_postgresql_the_inserter_cannot_choose_the_transaction_id(on_postgres):
    session = _session()
    event = Event.objects.get(session=session, sequence_number=1)
    _sql(
        "INSERT INTO ingestion_erasure (session_id, sequence_number, event_id, payload_hash,"
        " erased_at, request_ref, reason, actor, transaction_id)"
        " VALUES (%s, 1, %s, %s, now(), 'R', 'why', 'sql', 42)",
        [_sid(session), event.event_id, event.payload_hash],
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT transaction_id = txid_current() FROM ingestion_erasure")
        assert cursor.fetchone()[0] is True


# --- findings ----------------------------------------------------------------------------


def _findings_update(findings: Findings, pii: list, audit: dict, extra: str = "") -> None:
    _sql(
        f"UPDATE policy_findings SET pii_findings = %s, tool_audit = %s{extra} WHERE id = %s",
        [json.dumps(pii), json.dumps(audit), findings.pk],
    )


def _withdrawn(findings: Findings, seq: int) -> tuple[list, dict]:
    pii = [
        {**f, "preview": None} if f["sequence_number"] == seq else f for f in findings.pii_findings
    ]
    audit = json.loads(json.dumps(findings.tool_audit))
    for call in audit["calls"]:
        if call["call_sequence_number"] == seq:
            for arg in call["args"]:
                arg["preview"] = None
    return pii, audit


def test_findings_previews_cannot_be_withdrawn_without_a_ledger_row():
    session = _session()
    findings = Findings.objects.get(session=session)
    with pytest.raises(REFUSED, match="only the previews of erased events"):
        _findings_update(findings, *_withdrawn(findings, 1))


def test_findings_previews_of_an_erased_event_can_be_withdrawn_and_nothing_else():
    session = _session()
    findings = Findings.objects.get(session=session)
    pii, audit = _withdrawn(findings, 1)
    with transaction.atomic():
        _ledger_insert(session, 1)
        with pytest.raises(REFUSED):  # the kind changed too
            _findings_update(findings, [{**f, "kind": "phone"} for f in pii], audit)
        with pytest.raises(REFUSED):  # another column changed too
            _findings_update(findings, pii, audit, ", passed = NOT passed")
        with pytest.raises(REFUSED):  # a finding removed
            _findings_update(findings, [], audit)
        _findings_update(findings, pii, audit)
    findings.refresh_from_db()
    assert findings.pii_findings == pii and findings.pii_findings
    assert findings.tool_audit == audit


def test_findings_previews_of_an_event_not_erased_cannot_be_withdrawn():
    session = _session()
    findings = Findings.objects.get(session=session)
    with transaction.atomic():
        _ledger_insert(session, 0)
        with pytest.raises(REFUSED):
            _findings_update(findings, *_withdrawn(findings, 1))


def test_fingerprints_are_append_only():
    _session()
    with pytest.raises(REFUSED, match="fingerprints cannot be updated"):
        _sql("UPDATE policy_subjectfingerprint SET kind = 'x'")
    with pytest.raises(REFUSED, match="fingerprints cannot be deleted"):
        _sql("DELETE FROM policy_subjectfingerprint")
