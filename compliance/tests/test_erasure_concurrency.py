"""Erasures racing each other and racing an export, with real threads and connections."""

from __future__ import annotations

import threading

import pytest
from agentops_sdk import reading
from django.db import connection

from compliance import erasure
from compliance.tests.factories import export_bytes
from ingestion import services
from ingestion.erasure_models import Erasure
from ingestion.models import Event, Session
from ingestion.services import Caller
from ingestion.tests.factories import project_create, proposal_build, session_create

pytestmark = pytest.mark.usefixtures("evidence_transactional_db")

# SQLite's test database lives in memory, shared between threads through one cache whose
# table locks do not wait: the real-file race is test_erasure_processes.py, on both databases.
threads_race = pytest.mark.postgres

EMAIL = "race.subject@example.org"
CALLER = Caller.for_command("erasure race", operator="tester")


def _run_threads(targets) -> list[BaseException]:
    barrier = threading.Barrier(len(targets))
    failures: list[BaseException] = []

    def run(target) -> None:
        try:
            barrier.wait()
            target()
        except BaseException as exc:  # reported to the main thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return failures


def _sealed_session_with_subject(events: int = 6) -> Session:
    project = project_create("acme")
    session = session_create(project)
    proposals = [proposal_build(session.id, 0)]
    for seq in range(1, events):
        payload = {"tool_name": "mail", "args": {"to": EMAIL, "n": seq}}
        proposals.append(proposal_build(session.id, seq, "TOOL_CALL", payload))
    proposals.append(
        proposal_build(session.id, events, "SESSION_END", {"status": "success", "duration_ms": 1})
    )
    services.events_append(session=session, proposals=proposals)
    services.session_seal(session=session)  # its findings are recorded once this commits
    return Session.objects.get(pk=session.pk)


def _erase(session: Session) -> None:
    plan = erasure.erasure_plan(session=session, sequence_numbers=range(1, 6))
    erasure.erasure_execute(plan=plan, request_ref="DSR-RACE", reason="Art. 17", caller=CALLER)


@threads_race
def test_concurrent_erasures_of_the_same_events_write_one_ledger_row_each_without_error():
    session = _sealed_session_with_subject()
    failures = _run_threads([lambda: _erase(session) for _ in range(4)])
    assert failures == []
    assert sorted(Erasure.objects.values_list("sequence_number", flat=True)) == [1, 2, 3, 4, 5]
    withheld = Event.objects.filter(session=session, payload_jcs__isnull=True)
    assert sorted(withheld.values_list("sequence_number", flat=True)) == [1, 2, 3, 4, 5]
    report = services.session_verify(session=session, trigger="command")
    assert (report["status"], report["evidence_class"]) == ("PASS", "AUTHORITATIVE_EVIDENCE")


@threads_race
def test_an_export_racing_an_erasure_is_consistent_and_verifies():
    session = _sealed_session_with_subject(events=40)
    documents: list[dict] = []

    def export_repeatedly() -> None:
        for _ in range(4):
            data, _ = export_bytes(Session.objects.get(pk=session.pk), "json")
            documents.append(reading.loads(data))

    def erase_all() -> None:
        plan = erasure.erasure_plan(session=session, sequence_numbers=range(1, 40))
        erasure.erasure_execute(plan=plan, request_ref="DSR-RACE", reason="x", caller=CALLER)

    failures = _run_threads([export_repeatedly, erase_all])
    assert failures == []
    assert documents
    for document in documents:
        null = [e["sequence_number"] for e in document["events"] if e["payload"] is None]
        assert document["verification"]["status"] == "PASS"
        assert document["verification"]["redacted_events"] == null
        listed = [entry["sequence_number"] for entry in document.get("erasures", [])]
        assert listed == null
