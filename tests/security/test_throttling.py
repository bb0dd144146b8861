"""Rate limits are counted in a cache every worker and server shares, and failed
authentications are limited per client address before any key is looked up.

The first tests run in this process against the test database's cache table; the last ones
start two real gunicorn servers on loopback ports that share one database (and, where Redis
answers on 127.0.0.1:6379, one Redis), and spread their requests over both.
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingestion import services
from ingestion.models import ApiKey

from .support import error_of

REPOSITORY = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
HOUR = 3600


def _clear_of_window_boundary(margin: float = 20.0) -> None:
    """Limits count in fixed windows (here of an hour): a test that counts up to a limit must
    not straddle the moment a new window starts from zero."""
    left = HOUR - time.time() % HOUR
    if left < margin:
        time.sleep(left + 0.1)


def _client(address: str = "192.0.2.10", key: str | None = None, **meta: str) -> Client:
    """A client at ``address``; ``meta`` as in request.META (``HTTP_X_FORWARDED_FOR``...)."""
    if key is not None:
        meta["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return Client(REMOTE_ADDR=address, raise_request_exception=False, **meta)


def _assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.content
    assert error_of(response)["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) >= 1


def _assert_unauthenticated(response) -> None:
    assert response.status_code == 401, response.content
    assert error_of(response)["code"] == "UNAUTHENTICATED"


def _wrong_secret(key: str) -> str:
    prefix, _, secret = key.partition(".")
    return f"{prefix}.{'x' * len(secret)}"


@pytest.fixture
def keys(db) -> dict[str, str]:
    _, good = services.api_key_create(project_name="acme", name="good")
    revoked, revoked_key = services.api_key_create(project_name="acme", name="revoked")
    services.api_key_revoke(prefix=revoked.prefix)
    expired, expired_key = services.api_key_create(project_name="acme", name="expired")
    ApiKey.objects.filter(pk=expired.pk).update(expiry_date=timezone.now() - timedelta(days=1))
    return {"good": good, "revoked": revoked_key, "expired": expired_key}


@pytest.fixture
def failure_rate(settings) -> int:
    _clear_of_window_boundary()
    settings.AGENTOPS_AUTH_FAILURE_RATE = "5/hour"
    return 5


# --- in this process, on the test database's cache table ------------------------------------


def test_every_kind_of_failed_authentication_counts_then_429_before_any_lookup(keys, failure_rate):
    attempts = [
        _client(),  # no key at all
        _client(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz"),  # not a bearer key
        _client(key=_wrong_secret(keys["good"])),
        _client(key=keys["revoked"]),
        _client(key=keys["expired"]),
    ]
    assert len(attempts) == failure_rate
    for client in attempts:
        _assert_unauthenticated(client.get("/api/v1/sessions"))

    with CaptureQueriesContext(connection) as captured:
        response = _client(key=_wrong_secret(keys["good"])).get("/api/v1/sessions")
    _assert_rate_limited(response)
    statements = [query["sql"] for query in captured.captured_queries]
    assert not any("ingestion_apikey" in sql for sql in statements), statements
    # Missing keys are refused at 429 as well, and nothing else changed the answer's shape.
    _assert_rate_limited(_client().get("/api/v1/sessions"))


def test_the_limit_is_per_address_so_a_known_prefix_cannot_lock_its_owner_out(keys, failure_rate):
    attacker, owner = "198.51.100.7", "192.0.2.10"
    guess = _wrong_secret(keys["good"])  # the owner's prefix is no secret
    for _ in range(failure_rate):
        _assert_unauthenticated(_client(attacker, guess).get("/api/v1/sessions"))
    _assert_rate_limited(_client(attacker, guess).get("/api/v1/sessions"))

    assert _client(owner, keys["good"]).get("/api/v1/sessions").status_code == 200
    # The owner's own failures are counted apart from the attacker's.
    _assert_unauthenticated(_client(owner, keys["revoked"]).get("/api/v1/sessions"))


def test_an_address_over_its_failures_waits_even_with_a_good_key(keys, failure_rate):
    # Telling a good key from a guess takes the lookup the limit exists to spare; the address
    # that failed waits for Retry-After (the end of the window), other addresses never do.
    for _ in range(failure_rate):
        _assert_unauthenticated(_client(key=keys["revoked"]).get("/api/v1/sessions"))
    _assert_rate_limited(_client(key=keys["good"]).get("/api/v1/sessions"))


def test_successes_are_never_counted(keys, failure_rate):
    for _ in range(3 * failure_rate):
        assert _client(key=keys["good"]).get("/api/v1/sessions").status_code == 200
    for _ in range(failure_rate):
        _assert_unauthenticated(_client(key=keys["revoked"]).get("/api/v1/sessions"))
    _assert_rate_limited(_client(key=keys["revoked"]).get("/api/v1/sessions"))


def test_the_public_views_need_no_key_and_count_no_failure(keys, failure_rate):
    for _ in range(failure_rate + 1):
        assert _client().get("/api/v1/keys").status_code == 200
        assert _client().get("/api/schema/").status_code == 200
    _assert_unauthenticated(_client().get("/api/v1/sessions"))


def test_a_forwarded_for_header_is_not_believed_by_default(keys, failure_rate):
    for number in range(failure_rate):
        client = _client(key=keys["revoked"], HTTP_X_FORWARDED_FOR=f"203.0.113.{number}")
        _assert_unauthenticated(client.get("/api/v1/sessions"))
    client = _client(key=keys["revoked"], HTTP_X_FORWARDED_FOR="203.0.113.99")
    _assert_rate_limited(client.get("/api/v1/sessions"))


def test_with_a_trusted_proxy_the_address_it_reports_is_counted(keys, failure_rate, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.2"

    def through_proxy(forwarded_for: str) -> Client:
        return _client(proxy, keys["revoked"], HTTP_X_FORWARDED_FOR=forwarded_for)

    for _ in range(failure_rate):
        _assert_unauthenticated(through_proxy("203.0.113.7").get("/api/v1/sessions"))
    _assert_rate_limited(through_proxy("203.0.113.7").get("/api/v1/sessions"))
    # What the client wrote itself sits left of what the proxy appended: not believed.
    _assert_rate_limited(through_proxy("203.0.113.8, 203.0.113.7").get("/api/v1/sessions"))
    # Another client behind the same proxy has its own budget.
    _assert_unauthenticated(through_proxy("203.0.113.8").get("/api/v1/sessions"))


def test_the_api_rate_counts_in_the_shared_cache_table(keys, settings):
    _clear_of_window_boundary()
    settings.AGENTOPS_API_RATE = "3/hour"
    client = _client(key=keys["good"])
    for _ in range(3):
        assert client.get("/api/v1/sessions").status_code == 200
    _assert_rate_limited(client.get("/api/v1/sessions"))
    prefix = keys["good"].partition(".")[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM agentops_cache WHERE cache_key LIKE %s", [f"%{prefix}%"])
        assert [int(value) for (value,) in cursor.fetchall()] == [4]


def test_an_authenticated_request_costs_two_small_cache_statements(keys):
    client = _client(key=keys["good"])
    assert client.get("/api/v1/sessions").status_code == 200  # the window's counter exists
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/v1/sessions").status_code == 200
    on_cache = [
        query["sql"] for query in captured.captured_queries if "agentops_cache" in query["sql"]
    ]
    # The failure counter of the address (read), the key's counter (one upsert).
    assert len(on_cache) == 2, on_cache
    assert on_cache[0].lstrip().upper().startswith("SELECT")
    assert on_cache[1].lstrip().upper().startswith("INSERT")


cache_table_migration = importlib.import_module("ingestion.migrations.0007_shared_cache_table")


class _Editor:
    """What the migration's functions use of a schema editor, on the test's own transaction."""

    connection = connection

    def execute(self, sql: str, params=None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def test_the_cache_table_migration_reverses_and_applies_again(db):
    def tables() -> set[str]:
        return set(connection.introspection.table_names())

    assert "agentops_cache" in tables()  # migrate made it for the test database
    cache_table_migration.table_drop(None, _Editor())
    assert "agentops_cache" not in tables()
    cache_table_migration.table_create(None, _Editor())
    assert "agentops_cache" in tables()
    client = _client(key=services.api_key_create(project_name="acme", name="k")[1])
    assert client.get("/api/v1/sessions").status_code == 200  # counted in the new table


unlogged_migration = importlib.import_module("ingestion.migrations.0016_unlogged_cache_table")


def _persistence() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, relpersistence FROM pg_class"
            " WHERE relname IN ('agentops_cache', 'ingestion_event', 'ingestion_session')"
        )
        return dict(cursor.fetchall())


def test_only_the_cache_table_is_unlogged_and_the_migration_reverses(db):
    # On PostgreSQL, p: permanent (logged), u: unlogged. SQLite has no unlogged tables: the
    # migration leaves its table as it is, both ways.
    postgres = connection.vendor == "postgresql"
    if postgres:
        assert _persistence() == {
            "agentops_cache": "u",
            "ingestion_event": "p",
            "ingestion_session": "p",
        }
    unlogged_migration.table_logged(None, _Editor())
    if postgres:
        assert _persistence()["agentops_cache"] == "p"
    unlogged_migration.table_unlogged(None, _Editor())
    if postgres:
        assert _persistence()["agentops_cache"] == "u"
    assert "agentops_cache" in connection.introspection.table_names()
    client = _client(key=services.api_key_create(project_name="acme", name="k")[1])
    assert client.get("/api/v1/sessions").status_code == 200  # still counted there


# --- two gunicorn servers sharing one database (and one Redis) --------------------------------


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _base_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AGENTOPS_", "DJANGO_", "SECURE_")) and name != "DATABASE_URL"
    }


@pytest.fixture(scope="module")
def shared_database(tmp_path_factory) -> Iterator[str]:
    """A database of its own, migrated, on the engine the suite runs on."""
    configured = django_settings.DATABASES["default"]
    if configured["ENGINE"].endswith("sqlite3"):
        path = tmp_path_factory.mktemp("servers") / "servers.sqlite3"
        url = f"sqlite:///{path}"
        drop = None
    else:
        import psycopg
        from psycopg import sql

        name = f"{configured['NAME']}_servers_{uuid.uuid4().hex[:8]}"
        params = {
            "host": configured.get("HOST") or "127.0.0.1",
            "port": configured.get("PORT") or 5432,
            "user": configured.get("USER") or "postgres",
            "password": configured.get("PASSWORD") or None,
            "dbname": "postgres",
            "autocommit": True,
        }
        with psycopg.connect(**params) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        password = f":{params['password']}" if params["password"] else ""
        url = f"postgres://{params['user']}{password}@{params['host']}:{params['port']}/{name}"

        def drop() -> None:
            with psycopg.connect(**params) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

    env = {**_base_environment(), "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=REPOSITORY,
        env=env,
        check=True,
        timeout=300,
    )
    yield url
    if drop is not None:
        drop()


def _key_create(database_url: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "--project", "acme"],
        cwd=REPOSITORY,
        env={**_base_environment(), "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.strip()


class Servers:
    def __init__(self, ports: list[int]) -> None:
        self.ports = ports

    def get(self, number: int, path: str, *, key: str | None = None, source: str = "127.0.0.1"):
        """GET on server ``number`` from loopback address ``source``: status, headers, body."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.ports[number], timeout=30, source_address=(source, 0)
        )
        try:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), json.loads(response.read())
        finally:
            connection.close()


def _wait_until_up(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {log.read_text()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer /healthz: {log.read_text()}")


CACHES = [
    pytest.param("dbcache://agentops_cache", id="database-cache"),
    pytest.param(
        "redis://127.0.0.1:6379/0",
        id="redis",
        marks=pytest.mark.skipif(
            not _redis_reachable(), reason="no Redis on 127.0.0.1:6379 (CI has one)"
        ),
    ),
]


@pytest.fixture(scope="module", params=CACHES)
def servers(request, shared_database, tmp_path_factory) -> Iterator[Servers]:
    """Two gunicorn servers, one worker each (two processes), on one database and cache."""
    _clear_of_window_boundary(margin=60)
    directory = tmp_path_factory.mktemp("gunicorn")
    # A prefix of this run's own: Redis and the cache table outlive the servers.
    cache_url = f"{request.param}?key_prefix=throttle-{uuid.uuid4().hex}"
    env = {
        **_base_environment(),
        "DATABASE_URL": shared_database,
        "AGENTOPS_CACHE_URL": cache_url,
        "AGENTOPS_API_RATE": "6/hour",
        "AGENTOPS_AUTH_FAILURE_RATE": "4/hour",
        "AGENTOPS_DEV_SEAL_KEY_FILE": str(directory / "seal.pem"),
    }
    processes = []
    ports = [_free_port(), _free_port()]
    try:
        for number, port in enumerate(ports):
            log = directory / f"server-{number}.log"
            process = subprocess.Popen(
                [GUNICORN, "agentops.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                cwd=REPOSITORY,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            processes.append(process)
            _wait_until_up(process, port, log)
        yield Servers(ports)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def test_two_servers_share_one_budget_per_key(servers, shared_database):
    key = _key_create(shared_database)
    answers = [servers.get(n % 2, "/api/v1/sessions", key=key)[0] for n in range(6)]
    assert answers == [200] * 6
    for number in (0, 1):
        status, headers, body = servers.get(number, "/api/v1/sessions", key=key)
        assert (status, body["error"]["code"]) == (429, "RATE_LIMITED")
        assert int(headers["Retry-After"]) >= 1


def test_two_servers_share_one_budget_of_failures_per_address(servers, shared_database):
    key = _key_create(shared_database)
    guess = _wrong_secret(key)
    attacker, neighbour = "127.0.0.2", "127.0.0.3"
    statuses = [
        servers.get(n % 2, "/api/v1/sessions", key=guess, source=attacker) for n in range(4)
    ]
    assert [(status, body["error"]["code"]) for status, _, body in statuses] == [
        (401, "UNAUTHENTICATED")
    ] * 4
    for number in (0, 1):
        status, headers, body = servers.get(number, "/api/v1/sessions", key=guess, source=attacker)
        assert (status, body["error"]["code"]) == (429, "RATE_LIMITED")
        assert int(headers["Retry-After"]) >= 1
        status, _, _ = servers.get(number, "/api/v1/sessions", key=key, source=attacker)
        assert status == 429
        status, _, _ = servers.get(number, "/api/v1/sessions", key=key, source=neighbour)
        assert status == 200
