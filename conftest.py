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
