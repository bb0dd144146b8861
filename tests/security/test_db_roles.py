"""Least privilege in the database: the service's role can add evidence and nothing more.

The role is created in the test database (roles are cluster-wide, so each test uses a name of
its own and drops it afterwards), granted by ``manage.py db_grant_service_role``, and then
really logs in: once through Django, running the service end to end, and once through plain
psycopg, trying everything it must not do.
"""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from io import StringIO

import psycopg
import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import Client
from django.urls import Resolver404, resolve

from ingestion import services
from ingestion.management.commands.db_grant_service_role import PASSWORD_ENV
from ingestion.models import Event, Session

from .support import proposal


def _table(label: str) -> str:
    return apps.get_model(label)._meta.db_table


@pytest.fixture
def service_role(evidence_transactional_db, monkeypatch):
    """A fresh login role with the grants of the command; dropped again after the test."""
    role = f"agentops_test_svc_{secrets.token_hex(6)}"
    password = secrets.token_urlsafe(24)
    monkeypatch.setenv(PASSWORD_ENV, password)
    call_command("db_grant_service_role", "--role", role, "--create-login", stdout=StringIO())
    yield role, password
    with connection.cursor() as cursor:
        # DROP OWNED also revokes every privilege the role holds in this database.
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE "{role}"')


@contextmanager
def django_connected_as(role: str, password: str):
    """Swap Django's default connection for one logged in as ``role``.

    Every ORM call, service and test-client request then runs with the role's privileges
    only, exactly as the web service would.
    """
    owner = connections[DEFAULT_DB_ALIAS]
    as_role = type(owner)(
        {**owner.settings_dict, "USER": role, "PASSWORD": password}, alias=DEFAULT_DB_ALIAS
    )
    connections[DEFAULT_DB_ALIAS] = as_role
    try:
        yield
    finally:
        as_role.close()
        connections[DEFAULT_DB_ALIAS] = owner


@contextmanager
def psycopg_connected_as(role: str, password: str):
    params = connection.settings_dict
    with psycopg.connect(
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        dbname=params["NAME"],
        user=role,
        password=password,
        autocommit=True,
    ) as conn:
        yield conn


def _export_route_exists() -> bool:
    try:
        resolve("/api/v1/sessions/00000000-0000-4000-8000-000000000000/export")
    except Resolver404:
        return False
    return True


def _service_path() -> str:
    """Start, append, seal, verify and read back a session through the API; its id."""
    _, key = services.api_key_create(project_name="acme", name="role test")
    client = Client(headers={"Authorization": f"Bearer {key}"}, raise_request_exception=False)
    started = client.post("/api/v1/sessions", {"agent_id": "bot"}, content_type="application/json")
    assert started.status_code == 201, started.content
    session_id = started.json()["session_id"]
    batch = [
        proposal(session_id, 0, "SESSION_START"),
        proposal(session_id, 1),
        proposal(session_id, 2, "SESSION_END"),
    ]
    for path, body in [
        (f"/api/v1/sessions/{session_id}/events", {"events": batch}),
        (f"/api/v1/sessions/{session_id}/seal", {}),
        ("/api/v1/verify", {"session_id": session_id}),
    ]:
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == 200, (path, response.content)
    for path in [f"/api/v1/sessions/{session_id}", f"/api/v1/sessions/{session_id}/events"]:
        assert client.get(path).status_code == 200, path
    if _export_route_exists():
        export = client.get(f"/api/v1/sessions/{session_id}/export", {"format": "json"})
        assert export.status_code == 200, export.content[:300]
    call_command("revoke_api_key", key.split(".")[0], stdout=StringIO())
    assert client.get("/api/v1/sessions").status_code == 401
    return session_id


@pytest.mark.postgres
def test_the_service_runs_end_to_end_as_the_role(service_role):
    with django_connected_as(*service_role):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == service_role[0]
        session_id = _service_path()

    # Read back as the owner: everything the role wrote is there.
    session = Session.objects.get(pk=session_id)
    assert session.sealed
    assert session.evidence_class == "AUTHORITATIVE_EVIDENCE"
    assert Event.objects.filter(session=session).count() == 4  # three events and the seal
    assert apps.get_model("policy.Findings").objects.filter(session=session).exists()
    if _export_route_exists():
        assert apps.get_model("compliance.ExportRecord").objects.filter(session=session).exists()


def _forbidden_statements() -> list[str]:
    event, session = _table("ingestion.Event"), _table("ingestion.Session")
    findings = _table("policy.Findings")
    statements = [
        f"UPDATE {event} SET event_type = 'ERROR'",
        f"DELETE FROM {event}",
        f"TRUNCATE {event}",
        f"ALTER TABLE {event} DISABLE TRIGGER ALL",
        f"ALTER TABLE {event} DISABLE TRIGGER ingestion_event_no_update",
        f"ALTER TABLE {event} ADD COLUMN note text",
        f"DROP TRIGGER ingestion_event_no_update ON {event}",
        f"DROP TABLE {event}",
        f"UPDATE {session} SET agent_id = 'someone else'",
        f"UPDATE {session} SET project_id = project_id",
        f"UPDATE {session} SET created_at = now()",
        f"DELETE FROM {session}",
        f"TRUNCATE {session}",
        f"ALTER TABLE {session} DISABLE TRIGGER ingestion_session_sealed_frozen",
        f"DELETE FROM {_table('ingestion.ApiKey')}",
        f"TRUNCATE {_table('ingestion.ApiKey')}",
        f"UPDATE {findings} SET passed = true",
        f"DELETE FROM {findings}",
        f"TRUNCATE {findings}",
        "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())",
        "DELETE FROM django_migrations",
        # Triggers call this function: replacing it would silently switch them off.
        "CREATE OR REPLACE FUNCTION ingestion_refuse() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RETURN NEW; END $$",
        # The way a superuser skips every trigger at once.
        "SET session_replication_role = replica",
    ]
    if apps.is_installed("compliance"):
        ledger = _table("compliance.ExportRecord")
        statements += [
            f"UPDATE {ledger} SET sha256 = ''",
            f"DELETE FROM {ledger}",
            f"TRUNCATE {ledger}",
            f"ALTER TABLE {ledger} DISABLE TRIGGER ALL",
        ]
    return statements


@pytest.mark.postgres
def test_the_role_cannot_change_erase_or_unguard_evidence(service_role):
    with django_connected_as(*service_role):
        _service_path()  # so that every table has rows to refuse touching

    allowed = []
    with psycopg_connected_as(*service_role) as conn:
        for statement in _forbidden_statements():
            try:
                conn.execute(statement)
            except psycopg.errors.InsufficientPrivilege:
                continue
            allowed.append(statement)
    assert allowed == []


@pytest.mark.postgres
def test_the_triggers_still_guard_what_the_role_may_write(service_role):
    with django_connected_as(*service_role):
        sealed = _service_path()
    event, session = _table("ingestion.Event"), _table("ingestion.Session")

    with psycopg_connected_as(*service_role) as conn:
        # A column the role may update, on a sealed session: the trigger refuses the row.
        with pytest.raises(psycopg.errors.RestrictViolation):
            conn.execute(f"UPDATE {session} SET head_hash = head_hash WHERE id = %s", [sealed])
        # An event appended behind the service's back into the sealed session.
        with pytest.raises(psycopg.errors.RestrictViolation):
            conn.execute(
                f"INSERT INTO {event} (session_id, sequence_number, event_id, timestamp_wall, "
                "timestamp_monotonic, event_type, source_sdk_ver, schema_ver, payload_hash, "
                "event_hash, chain_authority, authority_id, received_at) "
                "VALUES (%s, 99, 'x', 'x', 0, 'ERROR', 'x', 'v0.6', 'x', 'x', 'sdk', 'x', now())",
                [sealed],
            )


def _grants(role: str) -> dict[str, set[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s",
            [role],
        )
        table_rows = cursor.fetchall()
        cursor.execute(
            "SELECT table_name, privilege_type || '(' || column_name || ')' "
            "FROM information_schema.column_privileges WHERE grantee = %s "
            "AND table_name = %s AND privilege_type = 'UPDATE'",
            [role, _table("ingestion.Session")],
        )
        column_rows = cursor.fetchall()
    grants: dict[str, set[str]] = {}
    for table, privilege in table_rows + column_rows:
        grants.setdefault(table, set()).add(privilege)
    return grants


@pytest.mark.postgres
def test_grants_follow_the_policy_and_the_command_is_idempotent(service_role):
    role, _ = service_role
    first = _grants(role)
    call_command("db_grant_service_role", "--role", role, stdout=StringIO())
    assert _grants(role) == first

    session_updates = {
        f"UPDATE({column})"
        for column in (
            "head_sequence",
            "head_hash",
            "event_count",
            "total_drops",
            "has_session_end",
            "last_event_at",
            "sealed_at",
            "evidence_class",
            "verification",
        )
    }
    assert first[_table("ingestion.Event")] == {"SELECT", "INSERT"}
    assert first[_table("policy.Findings")] == {"SELECT", "INSERT"}
    assert first[_table("ingestion.Session")] == {"SELECT", "INSERT"} | session_updates
    assert first["django_migrations"] == {"SELECT"}
    assert first[_table("ingestion.ApiKey")] == {"SELECT", "INSERT", "UPDATE"}
    assert first[_table("ingestion.Project")] == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert not any("TRUNCATE" in grants or "TRIGGER" in grants for grants in first.values())


@pytest.mark.postgres
def test_a_superuser_is_refused_as_the_service_role(db):
    with pytest.raises(CommandError, match=r"superuser|running this command"):
        call_command("db_grant_service_role", "--role", connection.settings_dict["USER"])


@pytest.mark.postgres
def test_a_member_of_the_owner_is_refused_as_the_service_role(db):
    owner = connection.settings_dict["USER"]
    with connection.cursor() as cursor:
        # Inside the test's transaction: the role vanishes with its rollback.
        cursor.execute("CREATE ROLE agentops_test_owner_member")
        cursor.execute(f'GRANT "{owner}" TO agentops_test_owner_member')
    with pytest.raises(CommandError, match="owner"):
        call_command("db_grant_service_role", "--role", "agentops_test_owner_member")


@pytest.mark.postgres
def test_creating_the_login_needs_a_password(db, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(CommandError, match=PASSWORD_ENV):
        call_command("db_grant_service_role", "--role", "agentops_nobody", "--create-login")


def test_the_command_needs_postgresql(db):
    if connection.vendor == "postgresql":
        pytest.skip("checks the refusal on other databases")
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("db_grant_service_role", "--role", "agentops_app")
