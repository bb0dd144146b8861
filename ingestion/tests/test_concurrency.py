"""Real concurrency on PostgreSQL: threads with their own connections race on one session."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from ingestion import services
from ingestion.errors import IngestionError
from ingestion.models import Event, Session

from .factories import proposal_build, session_with_events

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
    report = services.session_verify(session=row)
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
    report = services.session_verify(session=Session.objects.get(pk=session.pk))
    assert (report["status"], report["sealed"]) == ("PASS", True)
