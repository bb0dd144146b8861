"""PostgreSQL is stopped and started again while an agent keeps recording.

While the database is down the service answers at once with 503 SERVICE_UNAVAILABLE (never
500, never a hang); once it is back the service recovers by itself, and the session that kept
recording throughout ends sealed with every event stored once or counted as dropped.

Stopping the machine's cluster breaks every connection to it, pytest-django's included: this
module uses no database fixture of pytest-django, runs last in the suite (by its name), and
leaves the cluster accepting connections and Django's connections reset.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from agentops_sdk.client import Client
from django.db import connections

from .conftest import FaultDatabase, Server, assert_accounted, recorder_midway

pytestmark = pytest.mark.postgres

RECORDED = 300
#: An answer must arrive this fast while the database is down.
ANSWER_WITHIN = 5.0


def _cluster_version() -> str:
    (version,) = [p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir()]
    return version


def _pg_ctl(action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", _cluster_version(), "main", action]
        + (["-m", "fast"] if action == "stop" else []),
        check=True,
        capture_output=True,
        timeout=60,
    )


def _cluster_ready(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-t", "1"], capture_output=True
        )
        if done.returncode == 0:
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def cluster() -> Iterator[None]:
    """Whatever the test does to the cluster, it is running again afterwards."""
    if not Path("/etc/postgresql").is_dir():
        pytest.skip("needs the machine's own PostgreSQL cluster (pg_ctlcluster)")
    yield
    if not _cluster_ready(2):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", _cluster_version(), "main", "start"],
            capture_output=True,
            timeout=60,
        )
    assert _cluster_ready(60), "PostgreSQL did not come back"
    connections.close_all()


def _timed_get(url: str, **kwargs) -> tuple[requests.Response, float]:
    started = time.monotonic()
    reply = requests.get(url, timeout=ANSWER_WITHIN, **kwargs)
    return reply, time.monotonic() - started


def test_the_service_answers_503_while_the_database_is_down_and_recovers_by_itself(
    cluster: None,
    server: Server,
    fault_db: FaultDatabase,
    api_key: str,
    clients: Callable[..., Client],
) -> None:
    client = clients(server.url, api_key)
    agent = recorder_midway(client, RECORDED, pause=0.01, share=1 / 4)

    session_url = f"{server.url}/api/v1/sessions/{agent.session_id}"
    auth = {"Authorization": f"Bearer {api_key}"}
    _pg_ctl("stop")
    try:
        # Pooled connections are now broken and new ones are refused: both must end in 503.
        for _ in range(3):
            for url, headers in ((session_url, auth), (f"{server.url}/healthz", {})):
                reply, took = _timed_get(url, headers=headers)
                assert reply.status_code == 503, (url, reply.status_code, reply.text)
                assert reply.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
                assert reply.headers.get("Retry-After")
                assert took < ANSWER_WITHIN
        time.sleep(1.0)  # the agent keeps recording; the sender keeps retrying
    finally:
        _pg_ctl("start")
    assert _cluster_ready(30)

    recovered_by = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < recovered_by, "the service did not recover by itself"
        time.sleep(0.1)
    reply, _ = _timed_get(session_url, headers=auth)
    assert reply.status_code == 200, reply.text

    agent.join(30)
    assert not agent.is_alive()
    client.close(timeout=40)

    stats = client.stats()
    assert stats["dropped_unsent"] == 0, stats
    assert stats["retries"] >= 1, "the outage went unnoticed by the sender"
    assert_accounted(server, fault_db, api_key, agent.session_id, RECORDED)
