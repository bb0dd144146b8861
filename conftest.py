"""Suite-wide test configuration."""

import uuid

import pytest
from django.db import connection

from sdk.tests import hypothesis_profiles


def pytest_configure(config):
    hypothesis_profiles.install(config)


def pytest_report_header(config):
    try:
        from django.conf import settings

        engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    except Exception:  # Django not configured: the SDK suite alone
        return "database: none"
    return f"database: {engine}"


@pytest.fixture(autouse=True)
def _service_identity(settings, tmp_path):
    """Every test seals with a development key of its own, never with var/dev-seal-key.pem,
    and no test reaches the API rate limit unless it lowers it."""
    from ingestion import keys

    settings.AGENTOPS_INGESTION_SERVICE_ID = "test-ingest"
    settings.AGENTOPS_SEAL_KEY_FILE = ""
    settings.AGENTOPS_DEV_SEAL_KEY_FILE = str(tmp_path / "dev-seal-key.pem")
    settings.AGENTOPS_REQUIRE_SEAL_KEY = False
    settings.AGENTOPS_RETIRED_PUBLIC_KEYS = []
    settings.AGENTOPS_API_RATE = "1000000/min"
    keys.cache_clear()
    yield
    keys.cache_clear()


@pytest.fixture(autouse=True)
def _empty_cache(settings):
    """Every test starts with an empty cache, and no test reaches the limit of failed
    authentications unless it lowers it.

    The cache is shared (a table of the test database, or Redis): clearing it would need the
    database in tests that have none, and rows written by a transactional test outlive it. A
    key prefix of the test's own gives it a cache that nothing before it has written to.
    """
    default = settings.CACHES["default"]
    settings.CACHES = {
        **settings.CACHES,
        "default": {**default, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"},
    }
    settings.AGENTOPS_AUTH_FAILURE_RATE = "1000000/min"


@pytest.fixture
def on_postgres(db) -> bool:
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if engine.endswith("postgresql"):
        return
    reason = "PostgreSQL-only: run with DATABASE_URL=postgres://... (CI runs both databases)"
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


class _SetAsideTriggers:
    """SQLite triggers dropped for a transactional test's clean-up, to be created again."""

    def __init__(self) -> None:
        self.sql: dict[str, str] = {}  # name -> the statement that creates the trigger
        self.blocker = None  # pytest-django's database blocker, to reach the database again

    def drop_all(self, blocker) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            for name, sql in cursor.fetchall():
                cursor.execute(f'DROP TRIGGER "{name}"')
                self.sql[name] = sql
        self.blocker = blocker

    def restore(self) -> None:
        if not self.sql:
            return
        with self.blocker.unblock(), connection.cursor() as cursor:
            for sql in self.sql.values():
                cursor.execute(sql)
        self.sql.clear()
        self.blocker = None


_set_aside = _SetAsideTriggers()


@pytest.fixture
def evidence_transactional_db(transactional_db, django_db_blocker):
    """``transactional_db`` for tests that commit evidence rows (live servers, threads).

    Django empties the tables after such a test (TRUNCATE on PostgreSQL, DELETE on SQLite),
    which the append-only triggers refuse. On PostgreSQL ``session_replication_role =
    replica`` skips triggers on this one connection (it needs a superuser, as the test
    database does); Django closes the connection right after the flush, so the next test runs
    with the triggers in force again. SQLite has no such switch: the triggers are dropped
    just before the flush and created again right after it (``pytest_runtest_teardown``
    below), so no other test ever runs without them.
    """
    yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
    elif connection.vendor == "sqlite":
        _set_aside.drop_all(django_db_blocker)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    # After every fixture of the test has been torn down: the tables are empty by now.
    try:
        return (yield)
    finally:
        _set_aside.restore()
