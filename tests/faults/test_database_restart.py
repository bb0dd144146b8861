"""PostgreSQL is stopped and started again while an agent keeps recording.

While the database is down the service answers at once with 503 SERVICE_UNAVAILABLE (never
500, never a hang); once it is back the service recovers by itself, and the session that kept
recording throughout ends sealed with every event stored once or counted as dropped.

The server that is stopped is a throwaway cluster made for the test (``pg_createcluster`` on a
free port, dropped afterwards), never the suite's own: the rest of the suite, and anything
else using the machine's PostgreSQL, goes on undisturbed, in whatever order the tests run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from agentops_sdk.client import Client

from .conftest import FaultDatabase, PostgresServer, Server, assert_accounted, recorder_midway

# Once per CI run: with the PostgreSQL suite, which has the client libraries and the server.
pytestmark = pytest.mark.postgres

RECORDED = 300
#: An answer must arrive this fast while the database is down.
ANSWER_WITHIN = 5.0
POSTGRESQL_LIB = Path("/usr/lib/postgresql")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_version() -> str | None:
    """The newest PostgreSQL server installed for pg_createcluster (Debian's layout)."""
    installed = [
        p.name
        for p in (POSTGRESQL_LIB.iterdir() if POSTGRESQL_LIB.is_dir() else [])
        if p.name.isdigit() and (p / "bin" / "initdb").is_file()
    ]
    return max(installed, key=int) if installed else None


def _cannot_make_cluster(version: str | None) -> str | None:
    """Why this machine cannot make a throwaway cluster, or None when it can."""
    if shutil.which("pg_createcluster") is None or shutil.which("pg_ctlcluster") is None:
        return "needs pg_createcluster and pg_ctlcluster (Debian's postgresql-common)"
    if version is None:
        return f"needs a PostgreSQL server under {POSTGRESQL_LIB} for pg_createcluster"
    if os.geteuid() != 0:
        return "needs root to create a throwaway PostgreSQL cluster with pg_createcluster"
    return None


class ThrowawayCluster:
    """A PostgreSQL cluster of the test's own, with trust authentication; it listens on
    localhost only, PostgreSQL's default."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.name = f"agentops_restart_{uuid.uuid4().hex[:8]}"
        self.port = _free_port()

    def _run(self, *command: str) -> None:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")

    def create(self) -> None:
        self._run(
            "pg_createcluster",
            "--start-conf=manual",
            "-p",
            str(self.port),
            self.version,
            self.name,
            "--",
            "--auth=trust",
        )

    def ctl(self, action: str) -> None:
        mode = ["-m", "fast"] if action in {"stop", "restart"} else []
        self._run(
            "pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action, *mode
        )

    def drop(self) -> None:
        self._run("pg_dropcluster", "--stop", self.version, self.name)

    def ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = subprocess.run(
                ["pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
                capture_output=True,
            )
            if done.returncode == 0:
                return True
            time.sleep(0.2)
        return False


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    version = _server_version()
    reason = _cannot_make_cluster(version)
    if reason:
        pytest.skip(reason)
    assert version is not None
    made = ThrowawayCluster(version)
    made.create()
    try:
        made.ctl("start")
        assert made.ready(60), "the throwaway cluster did not start"
        yield made
    finally:
        made.drop()


@pytest.fixture
def postgres_server(cluster: ThrowawayCluster) -> PostgresServer:
    """The fault database, and so the service under test, live on the throwaway cluster."""
    return PostgresServer(host="127.0.0.1", port=cluster.port, user="postgres")


def _timed_get(url: str, **kwargs) -> tuple[requests.Response, float]:
    started = time.monotonic()
    reply = requests.get(url, timeout=ANSWER_WITHIN, **kwargs)
    return reply, time.monotonic() - started


def test_the_service_answers_503_while_the_database_is_down_and_recovers_by_itself(
    cluster: ThrowawayCluster,
    server: Server,
    fault_db: FaultDatabase,
    api_key: str,
    clients: Callable[..., Client],
) -> None:
    assert fault_db.server.port == cluster.port != 5432
    client = clients(server.url, api_key)
    agent = recorder_midway(client, RECORDED, pause=0.01, share=1 / 4)

    session_url = f"{server.url}/api/v1/sessions/{agent.session_id}"
    auth = {"Authorization": f"Bearer {api_key}"}
    cluster.ctl("stop")
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
        cluster.ctl("start")
    assert cluster.ready(30)

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
