"""A real service for fault tests: gunicorn on a loopback port, its own PostgreSQL database.

Each test gets a database of its own (``agentops_faults_<random>``), created and migrated here
and dropped afterwards, and a :class:`Server` that can be started, killed with SIGKILL and
started again on the same port. Checks read the database with psycopg directly; pytest-django's
test database is never used.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from agentops_sdk import seal
from agentops_sdk.client import Client
from agentops_sdk.verify import verify_session
from django.conf import settings

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))

#: Client settings for fault tests: small batches, quick flushes and backoff, a retry budget
#: that outlasts a server restart.
FAST = {
    "flush_interval": 0.05,
    "backoff_base": 0.02,
    "backoff_cap": 0.25,
    "retry_budget": 30.0,
    "connect_timeout": 1.0,
    "read_timeout": 5.0,
    "batch_size": 5,
}
SDK_OWN = {"SESSION_START", "SESSION_END", "LOG_DROP", "CHAIN_SEAL"}


@dataclass(frozen=True)
class PostgresServer:
    """A PostgreSQL server that fault databases are made on: by default the suite's own (from
    the settings); a test that stops its server overrides ``postgres_server`` with one of its
    own."""

    host: str
    port: int
    user: str
    password: str | None = None

    @classmethod
    def of_settings(cls) -> PostgresServer:
        db = settings.DATABASES["default"]
        return cls(
            host=db.get("HOST") or "127.0.0.1",
            port=int(db.get("PORT") or 5432),
            user=db.get("USER") or "postgres",
            password=db.get("PASSWORD") or None,
        )

    def conninfo(self, dbname: str) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": dbname,
            "connect_timeout": 3,
        }

    def url(self, dbname: str) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgres://{auth}@{self.host}:{self.port}/{dbname}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FaultDatabase:
    """A dedicated database; ``query`` opens a fresh connection for every check."""

    def __init__(self, name: str, server: PostgresServer) -> None:
        self.name = name
        self.server = server
        self.url = server.url(name)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(**self.server.conninfo(self.name)) as conn:
            return conn.execute(sql, params).fetchall()


class Server:
    """gunicorn (two workers) in a process group of its own, so SIGKILL reaches every worker."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [GUNICORN, "agentops.wsgi", "-w", "2", "-b", f"127.0.0.1:{self.port}"],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn did not become healthy: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: no graceful shutdown of anything."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # workers are gone once the port is free
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def postgres_server() -> PostgresServer:
    return PostgresServer.of_settings()


@pytest.fixture
def fault_db(postgres_server: PostgresServer) -> Iterator[FaultDatabase]:
    name = f"agentops_faults_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.conninfo("postgres")
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield FaultDatabase(name, postgres_server)
    finally:
        for _ in range(60):  # a server the test stopped may still be starting again
            try:
                with psycopg.connect(**admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except psycopg.OperationalError:
                time.sleep(0.5)


@pytest.fixture
def server_env(fault_db: FaultDatabase, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTOPS_")}
    key_file = tmp_path / "seal.pem"
    seal.private_key_generate(key_file)  # before the workers start: they share one key
    env.update(
        DATABASE_URL=fault_db.url,
        DJANGO_SETTINGS_MODULE="agentops.settings",
        AGENTOPS_DEV_SEAL_KEY_FILE=str(key_file),
        AGENTOPS_INGESTION_SERVICE_ID="faults-ingest",
        AGENTOPS_API_RATE="1000000/min",
        DB_CONN_MAX_AGE="60",
    )
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    return env


@pytest.fixture
def api_key(server_env: dict[str, str]) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", "create_api_key", "--project", "faults"],
        cwd=REPO,
        env=server_env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def server(server_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    gunicorn = Server(server_env, tmp_path / "gunicorn.log")
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(url: str, key: str, **options: Any) -> Client:
        client = Client(url, key, **{**FAST, **options})
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=1)


class Recorder(threading.Thread):
    """An agent thread: ``count`` tool calls, each marked with ``args.seq``, then the end."""

    def __init__(self, client: Client, count: int, pause: float) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.count = count
        self.pause = pause
        self.session_id: str | None = None
        self.started_recording = threading.Event()

    def run(self) -> None:
        with self.client.session("fault-bot") as session:
            self.session_id = session.session_id
            self.started_recording.set()
            for number in range(self.count):
                session.tool_call("lookup_order", {"seq": number})
                time.sleep(self.pause)


def recorder_midway(client: Client, count: int, *, pause: float, share: float) -> Recorder:
    """Start an agent and return once ``share`` of its events are stored, while it still
    records: the moment a fault is injected."""
    agent = Recorder(client, count, pause=pause)
    agent.start()
    assert agent.started_recording.wait(10)
    deadline = time.monotonic() + 20
    while client.stats()["sent"] < count * share and time.monotonic() < deadline:
        time.sleep(0.01)
    assert agent.is_alive(), "the agent finished before the fault: nothing was interrupted"
    return agent


def fetch_events(url: str, key: str, session_id: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"}
    events: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if after is not None:
            params["after"] = after
        reply = requests.get(
            f"{url}/api/v1/sessions/{session_id}/events",
            headers=headers,
            params=params,
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        page = reply.json()
        events.extend(page["events"])
        after = page["next_after"]
        if after is None:
            return events


def assert_accounted(
    server: Server, db: FaultDatabase, key: str, session_id: str, recorded: int
) -> list[dict[str, Any]]:
    """Sealed, verifiable, gap-free; every recorded event stored once or counted as dropped."""
    events = fetch_events(server.url, key, session_id)
    numbers = [e["sequence_number"] for e in events]
    assert numbers == list(range(len(events))), "the stored chain has a gap"
    assert len({e["event_id"] for e in events}) == len(events), "an event id is stored twice"
    assert events[0]["event_type"] == "SESSION_START"
    assert [e["event_type"] for e in events[-2:]] == ["SESSION_END", "CHAIN_SEAL"]

    # The database holds exactly what the API shows: no half-stored batch elsewhere.
    ((rows, distinct, low, high),) = db.query(
        "SELECT count(*), count(DISTINCT e.event_id), min(e.sequence_number), "
        "max(e.sequence_number) FROM ingestion_event e WHERE e.session_id = %s",
        (uuid.UUID(session_id),),
    )
    assert (rows, distinct, low, high) == (len(events), len(events), 0, len(events) - 1)

    published = requests.get(f"{server.url}/api/v1/keys", timeout=5).json()["keys"]
    trusted = [seal.public_key_from_b64(k["public_key"]) for k in published]
    report = verify_session(events, trusted_keys=trusted)
    assert report["status"] == "PASS", report["violations"]
    assert report["evidence_class"] in {"AUTHORITATIVE_EVIDENCE", "PARTIAL_AUTHORITATIVE_EVIDENCE"}

    seqs = [e["payload"]["args"]["seq"] for e in events if e["event_type"] not in SDK_OWN]
    assert len(seqs) == len(set(seqs)), "an agent event is stored twice"
    assert set(seqs) <= set(range(recorded))
    drops = sum(e["payload"]["dropped_count"] for e in events if e["event_type"] == "LOG_DROP")
    assert len(seqs) + drops == recorded
    return events
