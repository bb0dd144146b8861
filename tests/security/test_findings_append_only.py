"""Stored policy findings are append-only in the database itself: raw SQL, no ORM safety nets."""

from __future__ import annotations

import importlib

import pytest
from django.db import IntegrityError, connection, transaction

from ingestion.tests.factories import session_with_events
from policy.models import Findings

pytestmark = pytest.mark.django_db

findings_migration = importlib.import_module("policy.migrations.0002_findings_append_only")


def _execute(sql: str, params: list | None = None) -> None:
    # A savepoint per statement: on PostgreSQL a refused statement aborts the transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _findings() -> Findings:
    return Findings.objects.create(
        session=session_with_events(1),
        policy_name="baseline",
        policy_sha256="0" * 64,
        passed=True,
        event_count=1,
        pii_count=0,
        rules_failed=0,
    )


def _stored() -> list[tuple]:
    return list(Findings.objects.order_by("pk").values_list())


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE policy_findings SET passed = NOT passed", "cannot be updated"),
        ("UPDATE policy_findings SET summary = '{}' WHERE id = %s", "cannot be updated"),
        ("DELETE FROM policy_findings WHERE id = %s", "cannot be deleted"),
        ("DELETE FROM policy_findings", "cannot be deleted"),
    ],
)
def test_stored_findings_cannot_be_changed_nor_deleted(statement, refusal):
    findings = _findings()
    before = _stored()
    with pytest.raises(IntegrityError, match=f"append-only: policy findings {refusal}"):
        _execute(statement, [findings.pk] if "%s" in statement else None)
    assert _stored() == before


@pytest.mark.postgres
def test_stored_findings_cannot_be_truncated():
    _findings()
    before = _stored()
    _execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE waits for no pending check
    with pytest.raises(IntegrityError, match="append-only: policy findings cannot be truncated"):
        _execute("TRUNCATE policy_findings CASCADE")
    assert _stored() == before


def test_a_new_evaluation_adds_a_row():
    first = _findings()
    Findings.objects.create(
        session=first.session,
        policy_name="baseline",
        policy_sha256="1" * 64,
        passed=False,
        event_count=1,
        pii_count=0,
        rules_failed=1,
    )
    assert Findings.objects.filter(session=first.session).count() == 2


class _Editor:
    connection = connection

    def execute(self, sql: str, params=None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def test_the_migration_reverses_and_reapplies_cleanly():
    findings = _findings()
    findings_migration.drop_triggers(None, _Editor())
    _execute("UPDATE policy_findings SET rules_failed = 7 WHERE id = %s", [findings.pk])
    findings_migration.create_triggers(None, _Editor())
    with pytest.raises(IntegrityError, match="append-only"):
        _execute("DELETE FROM policy_findings")
    assert Findings.objects.get(pk=findings.pk).rules_failed == 7
