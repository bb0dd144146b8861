"""The whole gunicorn process group is SIGKILLed during sustained ingestion, then restarted.

Whatever the kill interrupted (a batch being stored, an answer on its way back, a seal not yet
asked for), the session ends sealed with a gap-free, verifiable chain, and every event the agent
recorded is stored exactly once or counted by a LOG_DROP marker.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from agentops_sdk.client import Client

from .conftest import FaultDatabase, Server, assert_accounted, recorder_midway

pytestmark = pytest.mark.postgres

RECORDED = 300


def test_sigkill_mid_ingestion_loses_nothing_silently_and_stores_nothing_twice(
    server: Server,
    fault_db: FaultDatabase,
    api_key: str,
    clients: Callable[..., Client],
) -> None:
    client = clients(server.url, api_key)
    # Kill once a good part of the session is stored and the agent is still recording.
    agent = recorder_midway(client, RECORDED, pause=0.005, share=1 / 3)
    sent_before_kill = client.stats()["sent"]
    server.kill()
    time.sleep(0.5)  # requests meanwhile are refused; the sender retries
    server.start()

    agent.join(30)
    assert not agent.is_alive()
    client.close(timeout=40)

    stats = client.stats()
    assert stats["dropped_unsent"] == 0, stats
    assert stats["sent"] > sent_before_kill
    assert stats["retries"] >= 1, "the kill went unnoticed by the sender"
    assert_accounted(server, fault_db, api_key, agent.session_id, RECORDED)
    ((sealed,),) = fault_db.query(
        "SELECT sealed_at IS NOT NULL FROM ingestion_session WHERE id = %s",
        (agent.session_id,),
    )
    assert sealed
