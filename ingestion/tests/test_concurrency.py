"""Real concurrency on PostgreSQL: threads with their own connections race on one session."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ingestion import services
from ingestion.errors import IngestionError
from ingestion.models import Event, Session, VerificationTrigger

from .factories import proposal_build, session_with_events
from .test_triggers import _insert_event

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("evidence_transactional_db")]

THREADS = 8
EVENTS_PER_THREAD = 5
RACE_LOST = {"SEQUENCE_CONFLICT", "SEQUENCE_GAP"}


def _run_threads(target, count: int) -> list[BaseException]:
    barrier = threading.Barrier(count)
    failures: list[BaseException] = []

    def run(number: int) -> None:
        try:
            barrier.wait()
            target(number)
        except BaseException as exc:  # reported to the main thread
            failures.append(exc)
        finally:
            connection.close()  # each thread opened its own connection

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return failures


def _append_next(session_id) -> None:
    """Propose the next event from a fresh read of the head; retry when another thread won."""
    while True:
        session = Session.objects.get(pk=session_id)
        head = session.head_sequence
        try:
            services.events_append(
                session=session, proposals=[proposal_build(session_id, head + 1)]
            )
            return
        except IngestionError as exc:
            if exc.code not in RACE_LOST:
                raise


def test_concurrent_appends_build_one_valid_chain():
    session = session_with_events(1)

    def append_some(_number: int) -> None:
        for _ in range(EVENTS_PER_THREAD):
            _append_next(session.id)

    assert _run_threads(append_some, THREADS) == []
    total = 1 + THREADS * EVENTS_PER_THREAD
    stored = list(Event.objects.filter(session=session).order_by("sequence_number"))
    assert [e.sequence_number for e in stored] == list(range(total))
    row = Session.objects.get(pk=session.pk)
    assert (row.head_sequence, row.event_count, row.head_hash) == (
        total - 1,
        total,
        stored[-1].event_hash,
    )
    report = services.session_verify(session=row, trigger=VerificationTrigger.API)
    assert report["status"] == "PASS", report["violations"]


def test_a_seal_racing_appends_is_the_last_event():
    session = session_with_events(1)
    refused: list[str] = []

    def race(number: int) -> None:
        if number == 0:
            services.session_seal(session=Session.objects.get(pk=session.pk))
            return
        for _ in range(EVENTS_PER_THREAD):
            try:
                _append_next(session.id)
            except IngestionError as exc:
                assert exc.code == "SESSION_SEALED"
                refused.append(exc.code)
                return

    assert _run_threads(race, THREADS) == []
    stored = list(Event.objects.filter(session=session).order_by("sequence_number"))
    assert stored[-1].event_type == "CHAIN_SEAL"
    assert [e.sequence_number for e in stored] == list(range(len(stored)))
    report = services.session_verify(
        session=Session.objects.get(pk=session.pk), trigger=VerificationTrigger.API
    )
    assert (report["status"], report["sealed"]) == ("PASS", True)


def test_a_raw_insert_waits_for_a_seal_in_progress_and_is_refused():
    """The database's own check, without the service: an insert that meets a session being
    sealed waits for the sealing transaction, then sees the seal and is refused."""
    session = session_with_events(1)
    sealing = threading.Event()
    commit = threading.Event()
    inserter_pid: list[int] = []
    outcome: list[BaseException | None] = []

    def seal_slowly() -> None:
        try:
            with transaction.atomic():
                Session.objects.filter(pk=session.pk).update(sealed_at=timezone.now())
                sealing.set()
                assert commit.wait(timeout=30)
        finally:
            connection.close()

    def insert() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                inserter_pid.append(cursor.fetchone()[0])
            _insert_event(session, 1)
            outcome.append(None)
        except BaseException as exc:  # judged by the main thread
            outcome.append(exc)
        finally:
            connection.close()

    sealer = threading.Thread(target=seal_slowly)
    sealer.start()
    assert sealing.wait(timeout=30)
    inserter = threading.Thread(target=insert)
    inserter.start()
    try:
        waited = _wait_for_lock(inserter_pid)
    finally:
        commit.set()
        sealer.join(timeout=30)
        inserter.join(timeout=30)
    assert waited, "the insert did not wait for the sealing transaction"
    assert len(outcome) == 1 and isinstance(outcome[0], IntegrityError), outcome
    assert "append-only: the session is sealed" in str(outcome[0])
    assert Event.objects.filter(session=session).count() == 1


def _wait_for_lock(pid_holder: list[int], timeout: float = 15.0) -> bool:
    """True once the backend whose pid lands in ``pid_holder`` waits on a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_holder:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", pid_holder
                )
                row = cursor.fetchone()
            if row and row[0] == "Lock":
                return True
        time.sleep(0.02)
    return False
