"""Concurrent erasures of the same events by separate processes (manage.py
erase_personal_data), on a real database file for SQLite and the test database for
PostgreSQL: one ledger row per event, every process succeeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(settings.BASE_DIR)
SEED = """
import django; django.setup()
from ingestion import services
from ingestion.tests.factories import project_create, proposal_build, session_create
session = session_create(project_create("race"))
proposals = [proposal_build(session.id, 0)] + [
    proposal_build(session.id, n, "TOOL_CALL", {"tool_name": "m", "args": {"to": "r@example.org"}})
    for n in range(1, 9)
]
services.events_append(session=session, proposals=proposals)
services.session_seal(session=session)
print(session.pk)
"""


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "agentops.settings"}


def _manage(url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=_env(url),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.django_db
def test_processes_erasing_the_same_events_write_one_ledger_row_each(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL races are run with threads (test_erasure_concurrency.py)")
    url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    migrate = _manage(url, "migrate", "-v0")
    assert migrate.wait(timeout=300) == 0, migrate.stderr.read()
    seeded = subprocess.run(
        [sys.executable, "-c", SEED], env=_env(url), cwd=ROOT, capture_output=True, text=True
    )
    assert seeded.returncode == 0, seeded.stderr
    session_id = seeded.stdout.strip().splitlines()[-1]
    args = ["erase_personal_data", "--session", session_id, "--events", "1,2,3,4,5,6,7,8"]
    args += ["--request-ref", "DSR-RACE", "--reason", "Art. 17", "--execute"]
    racers = [_manage(url, *args) for _ in range(3)]
    for racer in racers:
        assert racer.wait(timeout=300) == 0, racer.stderr.read()
    import sqlite3

    with sqlite3.connect(tmp_path / "race.sqlite3") as db:
        rows = db.execute("SELECT sequence_number FROM ingestion_erasure ORDER BY 1").fetchall()
        withheld = db.execute(
            "SELECT count(*) FROM ingestion_event WHERE payload_jcs IS NULL"
        ).fetchone()
    assert [r[0] for r in rows] == list(range(1, 9))
    assert withheld == (8,)
