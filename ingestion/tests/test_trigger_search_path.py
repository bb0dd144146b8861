"""Every trigger function of every app reads the tables it means, whoever fires it.

On PostgreSQL a function runs with its caller's search_path, where pg_temp comes first unless
named: without a fixed search_path and qualified names, a temporary table could stand in for
a table a trigger reads. The triggers and functions are found in the catalog, so those added
by any later migration are checked too. The service role's own attempt is in
tests/security/test_db_roles.py.
"""

from __future__ import annotations

import importlib
import re
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ingestion.models import Session

from .factories import session_with_events

pytestmark = pytest.mark.django_db

search_path_migration = importlib.import_module(
    "ingestion.migrations.0005_trigger_functions_search_path"
)


def _fetch(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _schema() -> str:
    return _fetch("SELECT current_schema()")[0][0]


def trigger_functions() -> dict[str, tuple[list[str] | None, str]]:
    """Every function a trigger of the schema's tables runs, and every function of the schema
    that returns ``trigger`` (one no trigger uses today may get one back by a reverse):
    ``{name: (proconfig, body)}``."""
    rows = _fetch(
        "SELECT p.oid::regprocedure::text, p.proconfig, p.prosrc FROM pg_proc p"
        " WHERE p.oid IN ("
        "   SELECT t.tgfoid FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        "    WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
        " ) OR (p.prorettype = 'trigger'::regtype"
        "       AND p.pronamespace = current_schema()::regnamespace)"
    )
    return {name: (config, body) for name, config, body in rows}


def triggers() -> list[tuple[str, str, str]]:
    """(table, trigger, function) of every trigger of the schema's tables."""
    return _fetch(
        "SELECT c.relname, t.tgname, t.tgfoid::regprocedure::text"
        " FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
        " ORDER BY 1, 2"
    )


def search_path_of(config: list[str] | None) -> list[str] | None:
    """The schemas of a function's ``SET search_path``, unquoted; None when it has none."""
    for setting in config or ():
        name, _, value = setting.partition("=")
        if name == "search_path":
            return [part.strip().strip('"') for part in value.split(",")]
    return None


def unqualified_tables(body: str, tables: list[str]) -> list[str]:
    """The tables of the schema that a function body names without a schema."""
    return [
        table for table in tables if re.search(rf'(?<![\w."]){re.escape(table)}(?![\w"])', body)
    ]


@pytest.mark.postgres
def test_every_trigger_function_has_a_fixed_search_path_ending_in_pg_temp():
    functions = trigger_functions()
    used = {function for _, _, function in triggers()}
    # The catalog is read, not a list: the known functions are there, among any others.
    assert {"ingestion_event_check_batch()", "ingestion_refuse()", "compliance_refuse()"} <= used
    assert used <= set(functions)
    wrong = {
        name: config
        for name, (config, _) in functions.items()
        if search_path_of(config) != [_schema(), "pg_temp"]
    }
    assert wrong == {}


@pytest.mark.postgres
def test_every_trigger_function_names_its_tables_with_their_schema():
    tables = [
        name
        for (name,) in _fetch("SELECT tablename FROM pg_tables WHERE schemaname = %s", [_schema()])
    ]
    unqualified = {
        name: found
        for name, (_, body) in trigger_functions().items()
        if (found := unqualified_tables(body, tables))
    }
    assert unqualified == {}


def test_a_body_naming_a_table_without_its_schema_is_found():
    """The check above can fail: a bare name is found, a qualified one or a longer name not."""
    tables = ["ingestion_session", "ingestion_apikey"]
    body = (
        'SELECT 1 FROM "public".ingestion_session, public.ingestion_apikey, ingestion_session_x;'
        " SELECT 2 FROM ingestion_apikey"
    )
    assert unqualified_tables(body, tables) == ["ingestion_apikey"]
    assert search_path_of(['search_path="my schema", pg_temp']) == ["my schema", "pg_temp"]
    assert search_path_of(["work_mem=1MB"]) is None


@pytest.mark.postgres
def test_the_search_path_names_the_schema_migrated_into():
    """Not always public: the clause is built from current_schema() at migration time."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA agentops_elsewhere")
        cursor.execute("SET LOCAL search_path = agentops_elsewhere")
        schema, clause = search_path_migration.search_path_fixed(connection)
        transaction.set_rollback(True)
    assert schema == '"agentops_elsewhere"'
    assert clause == 'SET search_path = "agentops_elsewhere", pg_temp'


class _Editor:
    connection = connection

    def execute(self, sql: str, params=None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


@pytest.mark.postgres
def test_the_migration_reverses_to_the_earlier_functions_and_back():
    ingestion_functions = ("ingestion_event_check_batch()", "ingestion_refuse()")

    def configs():
        functions = trigger_functions()
        return {name: search_path_of(functions[name][0]) for name in ingestion_functions}

    search_path_migration.soften(None, _Editor())
    assert configs() == dict.fromkeys(ingestion_functions)
    body = trigger_functions()["ingestion_event_check_batch()"][1]
    assert "FROM ingestion_session" in body  # 0004's own text again
    search_path_migration.harden(None, _Editor())
    assert configs() == {name: [_schema(), "pg_temp"] for name in ingestion_functions}


def _seal(session: Session) -> None:
    Session.objects.filter(pk=session.pk).update(
        sealed_at=timezone.now(), evidence_class="PARTIAL_AUTHORITATIVE_EVIDENCE"
    )


def test_on_sqlite_a_temporary_table_does_not_shadow_what_a_trigger_reads():
    """SQLite binds a trigger's table names to the trigger's own schema when it is created."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL: see tests/security/test_db_roles.py")
    session = session_with_events(1)
    _seal(session)
    session_id = Session._meta.pk.get_db_prep_value(session.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE ingestion_session AS SELECT * FROM main.ingestion_session"
        )
        cursor.execute("UPDATE temp.ingestion_session SET sealed_at = NULL")
    try:
        with (
            pytest.raises(IntegrityError, match="append-only: the session is sealed"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(
                "INSERT INTO main.ingestion_event (session_id, sequence_number, event_id,"
                " timestamp_wall, timestamp_monotonic, event_type, source_sdk_ver,"
                " schema_ver, payload_hash, event_hash, chain_authority, authority_id,"
                " received_at) VALUES (%s, 1, %s, 'x', 0, 'ERROR', 'x', 'v0.6', 'x', 'x',"
                " 'server', 'x', '2026-01-25 10:00:00')",
                [session_id, str(uuid.uuid4())],
            )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE temp.ingestion_session")
