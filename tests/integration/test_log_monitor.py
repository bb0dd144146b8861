"""``agentops-verify log-monitor`` against a live service, run as a third party would (a
separate process speaking HTTP), and the tamper drill's log half (docs/tamper-drill.md): the
database owner (1) deletes a sealed session with its leaf, (2) restores an older backup of
the whole database; in both cases the monitor reports it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk import seal
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection, transaction

from ingestion import services
from ingestion.models import Event, LogLeaf, LogNode, Session, TreeHead, Verification
from ingestion.tests.factories import session_with_events
from ingestion.transparency import services as log


@pytest.fixture(autouse=True)
def _head_per_seal(settings: Any) -> None:
    settings.AGENTOPS_LOG_STH_INTERVAL = 0  # every seal is followed by a signed head


def _seal() -> Session:
    session = session_with_events(2, end=True)
    services.session_seal(session=session)
    return session


def _monitor(server: Any, state: Path, *extra: str) -> tuple[int, str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentops_sdk.verify",
            "log-monitor",
            "--server",
            server.url,
            "--state",
            str(state),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


def test_a_growing_log_is_consistent_and_its_leaves_hash_to_the_root(live_server, tmp_path):
    state = tmp_path / "monitor.json"
    _seal()
    _seal()
    code, out = _monitor(live_server, state)
    assert code == 0 and "CONSISTENT: tree size 2" in out, out
    for _ in range(3):
        _seal()
    code, out = _monitor(live_server, state, "--leaves")
    assert code == 0 and "tree size 5" in out and "extends size 2" in out, out
    remembered = json.loads(state.read_text())
    assert remembered["tree_head"]["tree_size"] == 5
    assert remembered["frontier"]["size"] == 5
    _seal()
    code, out = _monitor(live_server, state, "--leaves")
    assert code == 0 and "tree size 6" in out, out


def test_a_head_not_signed_by_the_trusted_key_is_reported(live_server, tmp_path):
    _seal()
    stranger = seal.public_key_b64(Ed25519PrivateKey.generate().public_key())
    code, out = _monitor(live_server, tmp_path / "s.json", "--trusted-key", stranger)
    assert code == 1 and "BAD SIGNATURE" in out, out
    assert not (tmp_path / "s.json").exists()


def test_an_unreachable_server_is_unusable_input(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentops_sdk.verify",
            "log-monitor",
            "--server",
            "http://127.0.0.1:9",
            "--state",
            str(tmp_path / "s.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr


# --- the tamper drill -----------------------------------------------------------------------


def _as_owner(statements: list[tuple[str, list]]) -> None:
    """Run statements with every trigger set aside, as only the database owner can."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
            for sql, params in statements:
                cursor.execute(sql, params)
            return
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        triggers = cursor.fetchall()
        for name, _ in triggers:
            cursor.execute(f'DROP TRIGGER "{name}"')
        for sql, params in statements:
            cursor.execute(sql, params)
        for _, sql in triggers:
            cursor.execute(sql)


def _session_erased(session: Session) -> list[tuple[str, list]]:
    pk = str(session.pk) if connection.vendor == "postgresql" else session.pk.hex
    tables = [Verification._meta.db_table, Event._meta.db_table]
    statements = [(f"DELETE FROM {t} WHERE session_id = %s", [pk]) for t in tables]
    with connection.cursor() as cursor:  # the policy findings and anything else naming it
        for table in connection.introspection.table_names(cursor):
            if table.startswith(("policy_", "compliance_")):
                columns = [
                    c.name for c in connection.introspection.get_table_description(cursor, table)
                ]
                if "session_id" in columns:
                    statements.append((f"DELETE FROM {table} WHERE session_id = %s", [pk]))
    statements.append((f"DELETE FROM {LogLeaf._meta.db_table} WHERE session_id = %s", [pk]))
    statements.append((f"DELETE FROM {Session._meta.db_table} WHERE id = %s", [pk]))
    return statements


def test_drill_deleting_a_sealed_session_and_rebuilding_the_log_is_a_fork(live_server, tmp_path):
    state = tmp_path / "auditor.json"
    _seal()
    victim = _seal()
    _seal()
    code, out = _monitor(live_server, state, "--leaves")
    assert code == 0, out

    # The owner erases the victim with its leaf, then rebuilds the log without it so that it
    # looks whole: every log row goes, the surviving seals' leaves are appended again.
    survivors = [
        (str(row.session_id), json.loads(row.leaf))
        for row in LogLeaf.objects.exclude(session_id=victim.pk).order_by("leaf_index")
    ]
    _as_owner(
        [
            *_session_erased(victim),
            (f"DELETE FROM {LogNode._meta.db_table}", []),
            (f"DELETE FROM {LogLeaf._meta.db_table}", []),
            (f"DELETE FROM {TreeHead._meta.db_table}", []),
        ]
    )
    for session_id, stated in survivors:
        payload = {
            **stated,
            "signature": {"key_id": stated["key_id"], "value": stated["signature"]},
        }
        with transaction.atomic():
            log.log_leaf_append(session_id=session_id, seal_payload=payload)
    assert not Session.objects.filter(pk=victim.pk).exists()
    _seal()  # the service carries on: three entries again, and a signed head of them

    code, out = _monitor(live_server, state, "--leaves")
    assert code == 1, out
    assert "FORK" in out and "size 3" in out, out
    # The auditor's state still holds the last consistent head.
    assert json.loads(state.read_text())["tree_head"]["tree_size"] == 3


def test_drill_deleting_a_leaf_leaves_a_hole_a_catching_up_monitor_finds(live_server, tmp_path):
    _seal()
    victim = _seal()
    _seal()
    _as_owner(_session_erased(victim))
    _seal()
    code, out = _monitor(live_server, tmp_path / "new-auditor.json", "--leaves")
    assert code == 1 and "MISSING LEAF: entry 1" in out, out


def _backup(folder: Path) -> Any:
    """A backup of the whole database: pg_dump on PostgreSQL, SQLite's backup API."""
    if connection.vendor == "postgresql":
        name = connection.settings_dict["NAME"]
        dump = folder / f"{name}.dump"
        subprocess.run(
            ["pg_dump", "-Fc", "-f", str(dump), *_pg_args(), name], check=True, timeout=120
        )
        return dump
    copy = sqlite3.connect(":memory:")
    connection.ensure_connection()
    connection.connection.backup(copy)
    return copy


def _restore(backup: Any) -> None:
    if connection.vendor == "postgresql":
        connection.close()
        subprocess.run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--disable-triggers",
                "--single-transaction",
                *_pg_args(),
                "-d",
                connection.settings_dict["NAME"],
                str(backup),
            ],
            check=True,
            timeout=300,
        )
        return
    connection.ensure_connection()
    backup.backup(connection.connection)


def _pg_args() -> list[str]:
    settings = connection.settings_dict
    return [
        "-h",
        settings.get("HOST") or "127.0.0.1",
        "-p",
        str(settings.get("PORT") or 5432),
        "-U",
        settings.get("USER") or "postgres",
    ]


def test_drill_restoring_an_older_backup_is_a_rollback(live_server, tmp_path):
    state = tmp_path / "auditor.json"
    _seal()
    _seal()
    backup = _backup(tmp_path)
    _seal()
    _seal()
    code, out = _monitor(live_server, state, "--leaves")
    assert code == 0 and "tree size 4" in out, out

    _restore(backup)  # the whole database, as it was two seals ago

    assert LogLeaf.objects.count() == 2
    code, out = _monitor(live_server, state, "--leaves")
    assert code == 1, out
    assert "ROLLBACK" in out and "now has 2 entries; it had 4" in out, out
    # Seals after the restore do not hide it: the log grows back to 4 with other entries.
    _seal()
    _seal()
    code, out = _monitor(live_server, state)
    assert code == 1 and "FORK" in out, out
