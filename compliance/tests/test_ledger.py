"""The export ledger is append-only in the database itself: raw SQL, no ORM safety nets."""

from __future__ import annotations

import importlib

import pytest
from django.db import IntegrityError, connection, transaction

from compliance import services
from compliance.exports.context import Actor
from compliance.models import ExportRecord
from ingestion.errors import AppendOnlyError

from .factories import session_sealed

pytestmark = pytest.mark.django_db

triggers_migration = importlib.import_module(
    "compliance.migrations.0002_ledger_append_only_triggers"
)


@pytest.fixture
def record() -> ExportRecord:
    rendered = services.export_render(
        session=session_sealed(), fmt="jsonl", actor=Actor.for_command("t", operator="me")
    )
    rendered.file.close()
    return rendered.record


def _execute(sql: str, params: list | None = None) -> None:
    # A savepoint per statement: on PostgreSQL a refused statement aborts the transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _row(record: ExportRecord) -> dict:
    return ExportRecord.objects.filter(pk=record.pk).values().get()


@pytest.mark.parametrize(
    "assignment", ["sha256 = 'forged'", "actor = 'someone else'", "verification_status = 'PASS'"]
)
def test_update_of_an_export_record_is_refused(record, assignment):
    before = _row(record)
    with pytest.raises(IntegrityError, match="append-only: export records cannot be updated"):
        _execute(f"UPDATE compliance_exportrecord SET {assignment} WHERE id = %s", [record.pk])
    assert _row(record) == before


def test_delete_of_an_export_record_is_refused(record):
    with pytest.raises(IntegrityError, match="append-only: export records cannot be deleted"):
        _execute("DELETE FROM compliance_exportrecord WHERE id = %s", [record.pk])
    with pytest.raises(IntegrityError, match="append-only: export records cannot be deleted"):
        _execute("DELETE FROM compliance_exportrecord")
    assert ExportRecord.objects.filter(pk=record.pk).exists()


@pytest.mark.postgres
def test_truncate_of_the_ledger_is_refused(record):
    _execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(IntegrityError, match="append-only: export records cannot be truncated"):
        _execute("TRUNCATE compliance_exportrecord")
    assert ExportRecord.objects.filter(pk=record.pk).exists()


def test_the_model_refuses_to_change_or_delete_a_record(record):
    record.actor = "someone else"
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        record.delete()


class _Editor:
    """What the migration functions use of a schema editor, on the test's own transaction.

    The trigger function ``compliance_refuse()`` of this migration also guards the later
    ledgers (access records, matters, notes), whose triggers stay in place here: only this
    migration's triggers are dropped and made again, the function is left as it is."""

    connection = connection

    def execute(self, sql: str, params=None) -> None:
        if "compliance_refuse()" in sql and "TRIGGER" not in sql:
            return
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def test_migration_reverses_and_reapplies_cleanly(record):
    triggers_migration.drop_triggers(None, _Editor())
    _execute("UPDATE compliance_exportrecord SET actor = 'changed' WHERE id = %s", [record.pk])
    triggers_migration.create_triggers(None, _Editor())
    with pytest.raises(IntegrityError, match="append-only"):
        _execute("DELETE FROM compliance_exportrecord")
    assert ExportRecord.objects.get(pk=record.pk).actor == "changed"
