"""Suite-wide test configuration."""

import pytest
from django.db import connection


def pytest_report_header(config):
    try:
        from django.conf import settings

        engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    except Exception:  # Django not configured: the SDK suite alone
        return "database: none"
    return f"database: {engine}"


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


@pytest.fixture
def evidence_transactional_db(transactional_db):
    """``transactional_db`` for tests that commit evidence rows (PostgreSQL only).

    Django empties the tables after such a test with TRUNCATE, which the append-only triggers
    refuse. ``session_replication_role = replica`` skips triggers on this one connection (it
    needs a superuser, as the test database does); Django closes the connection right after
    the flush, so the next test runs with the triggers in force again.
    """
    yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
