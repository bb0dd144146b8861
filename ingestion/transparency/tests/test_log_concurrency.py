"""Eight seals at once on PostgreSQL: one gap-free log whose leaves are those seals."""

from __future__ import annotations

import threading

import pytest
from agentops_sdk import merkle
from django.db import connection

from ingestion import services
from ingestion.models import LogLeaf, Session
from ingestion.tests.factories import session_with_events
from ingestion.transparency import services as log

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("evidence_transactional_db")]

THREADS = 8


def test_concurrent_seals_give_a_gap_free_log_of_those_seals():
    sessions = [session_with_events(3, end=True) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    seals: dict[str, dict] = {}
    failures: list[BaseException] = []

    def seal(session) -> None:
        try:
            barrier.wait()
            result = services.session_seal(session=session)
            seals[str(session.pk)] = result.seal
        except BaseException as exc:  # reported to the main thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=seal, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    leaves = list(LogLeaf.objects.order_by("leaf_index"))
    assert [x.leaf_index for x in leaves] == list(range(THREADS))
    assert {str(x.session_id) for x in leaves} == set(seals)
    for row in leaves:
        stored = seals[str(row.session_id)]
        assert row.leaf.encode() == merkle.seal_leaf(
            session_id=stored["session_id"], seal_payload=stored["payload"]
        )
    # Leaves follow the order the seals committed (sealed_at is taken before the lock, so
    # the order of commits is what the log records, and each leaf's node hashes are whole).
    hashes = [merkle.leaf_hash(x.leaf.encode()) for x in leaves]
    assert log.log_root(tree_size=THREADS) == merkle.root_from_leaf_hashes(hashes)
    assert Session.objects.filter(sealed_at__isnull=False).count() == THREADS
