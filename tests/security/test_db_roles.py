"""Least privilege in the database: the service's role can add evidence and nothing more.

The role is created in the test database (roles are cluster-wide, so each test uses a name of
its own and drops it afterwards), granted by ``manage.py db_grant_service_role``, and then
really logs in: once through Django, running the service (and the admin console) end to end,
and once through plain psycopg, trying everything it must not do: change or erase evidence,
un-revoke or move an API key, make anyone a superuser, create objects that could stand in for
what a trigger reads, or switch the triggers off.
"""

from __future__ import annotations

import secrets
import uuid
from contextlib import contextmanager
from io import StringIO

import psycopg
import pytest
from django.apps import apps
from django.contrib.admin.utils import quote
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import Client
from django.urls import Resolver404, resolve, reverse
from psycopg import sql as psql

from ingestion import services
from ingestion.management.commands.db_grant_service_role import PASSWORD_ENV
from ingestion.models import ApiKey, Event, Session
from ingestion.tests.test_trigger_search_path import search_path_of, trigger_functions

from .support import proposal


def _table(label: str) -> str:
    return apps.get_model(label)._meta.db_table


def _model_exists(label: str) -> bool:
    try:
        apps.get_model(label)
    except LookupError:
        return False
    return True


def _schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]


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
    findings, api_key = _table("policy.Findings"), _table("ingestion.ApiKey")
    user, schema = _table("auth.User"), _schema()
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
        # An API key is revoked, renamed or given an expiry; what identifies it stays.
        *(
            f"UPDATE {api_key} SET {column} = {column}"
            for column in ("project_id", "hashed_key", "prefix", "created", "id")
        ),
        f"DELETE FROM {_table('ingestion.Project')}",
        # Users, groups and permissions belong to the owner: nobody is made a superuser.
        f"UPDATE {user} SET is_superuser = true",
        f"UPDATE {user} SET is_staff = true",
        f"UPDATE {user} SET password = 'pbkdf2_sha256$1$salt$hash'",
        f"UPDATE {user} SET username = username",
        f"INSERT INTO {user} (password, is_superuser, username, first_name, last_name, email,"
        " is_staff, is_active, date_joined) VALUES ('x', true, 'intruder', '', '', '', true,"
        " true, now())",
        f"DELETE FROM {user}",
        f"INSERT INTO {_table('auth.User_groups')} (user_id, group_id)"
        f" SELECT u.id, g.id FROM {user} u, {_table('auth.Group')} g",
        f"INSERT INTO {_table('auth.User_user_permissions')} (user_id, permission_id)"
        f" SELECT u.id, p.id FROM {user} u, {_table('auth.Permission')} p",
        f"INSERT INTO {_table('auth.Group_permissions')} (group_id, permission_id)"
        f" SELECT g.id, p.id FROM {_table('auth.Group')} g, {_table('auth.Permission')} p",
        f"INSERT INTO {_table('auth.Group')} (name) VALUES ('intruders')",
        f"INSERT INTO {_table('auth.Permission')} (name, content_type_id, codename)"
        f" SELECT 'x', id, 'x' FROM {_table('contenttypes.ContentType')}",
        f"UPDATE {_table('contenttypes.ContentType')} SET model = model",
        f"UPDATE {_table('admin.LogEntry')} SET change_message = ''",
        f"DELETE FROM {_table('admin.LogEntry')}",
        # Nothing of the role's may stand in for what a trigger reads (see also the
        # shadowing test below): no temporary object, nothing in the schema, no schema.
        f"CREATE TEMP TABLE {session} (id uuid, sealed_at timestamptz)",
        "CREATE FUNCTION pg_temp.cardinality(anyarray) RETURNS integer LANGUAGE sql AS 'SELECT 0'",
        f"CREATE TABLE {schema}.agentops_intruder (id integer)",
        f"CREATE FUNCTION {schema}.agentops_intruder() RETURNS integer LANGUAGE sql AS 'SELECT 0'",
        "CREATE SCHEMA agentops_intruder",
        # Triggers call this function: replacing it would silently switch them off.
        "CREATE OR REPLACE FUNCTION ingestion_refuse() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RETURN NEW; END $$",
        # The way a superuser skips every trigger at once.
        "SET session_replication_role = replica",
    ]
    if _model_exists("ingestion.Verification"):
        verification = _table("ingestion.Verification")
        statements += [
            f"UPDATE {verification} SET actor = ''",
            f"DELETE FROM {verification}",
            f"TRUNCATE {verification}",
        ]
    if _model_exists("ingestion.Erasure"):
        erasures, fingerprints = _table("ingestion.Erasure"), _table("policy.SubjectFingerprint")
        statements += [
            f"UPDATE {event} SET payload_hash = payload_hash",
            f"UPDATE {event} SET event_hash = event_hash, payload_jcs = NULL",
            f"UPDATE {findings} SET summary = summary",
            f"UPDATE {erasures} SET request_ref = ''",
            f"DELETE FROM {erasures}",
            f"TRUNCATE {erasures}",
            f"ALTER TABLE {erasures} DISABLE TRIGGER ALL",
            f"UPDATE {fingerprints} SET kind = ''",
            f"DELETE FROM {fingerprints}",
        ]
    log_columns = {
        "ingestion.LogLeaf": "leaf",
        "ingestion.LogNode": "hash",
        "ingestion.TreeHead": "key_id",
    }
    for label, column in log_columns.items():
        if _model_exists(label):
            table = _table(label)
            statements += [
                f"UPDATE {table} SET {column} = ''",
                f"DELETE FROM {table}",
                f"TRUNCATE {table}",
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
    session = _table("ingestion.Session")

    revoked = ApiKey.objects.get(revoked=True)

    with psycopg_connected_as(*service_role) as conn:
        # A column the role may update, on a sealed session: the trigger refuses the row.
        with pytest.raises(psycopg.errors.RestrictViolation):
            conn.execute(f"UPDATE {session} SET head_hash = head_hash WHERE id = %s", [sealed])
        # An event appended behind the service's back into the sealed session.
        with pytest.raises(psycopg.errors.RestrictViolation):
            _event_insert(conn, sealed)
        # A column the role may update (to revoke a key): a revoked key stays revoked.
        with pytest.raises(psycopg.errors.RestrictViolation):
            conn.execute(
                f"UPDATE {_table('ingestion.ApiKey')} SET revoked = false WHERE id = %s",
                [revoked.pk],
            )
    assert ApiKey.objects.get(pk=revoked.pk).revoked


def _event_insert(conn, session_id, api_key_id: str | None = None) -> None:
    """A raw event row, as someone writing behind the service's back would add it (into the
    schema's table, whatever temporary table the connection has)."""
    event = f"{_schema()}.{_table('ingestion.Event')}"
    conn.execute(
        f"INSERT INTO {event} (session_id, sequence_number, event_id, timestamp_wall,"
        " timestamp_monotonic, event_type, source_sdk_ver, schema_ver,"
        " payload_hash, event_hash, chain_authority, authority_id, received_at, api_key_id)"
        " VALUES (%s, 99, 'x', 'x', 0, 'ERROR', 'x', 'v0.6', 'x', 'x', 'sdk', 'x', now(), %s)",
        [session_id, api_key_id],
    )


@pytest.mark.postgres
def test_no_temporary_table_of_the_role_stands_in_for_what_a_trigger_reads(service_role):
    """Even with TEMPORARY granted back (a deployment where the revocation did not hold),
    the trigger functions read the schema's tables: copies of every table, loosened where
    a trigger looks (a sealed session open again, a missing session and key present), are
    ignored, and so is a temporary function named like one the triggers call."""
    role, _ = service_role
    with django_connected_as(*service_role):
        sealed = _service_path()
    project = Session.objects.get(pk=sealed).project
    opened, _ = services.session_start(project=project, agent_id="open")
    missing_session = uuid.uuid4()
    schema = _schema()
    with connection.cursor() as cursor:
        cursor.execute(
            f'GRANT TEMPORARY ON DATABASE "{connection.settings_dict["NAME"]}" TO "{role}"'
        )
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema])
        tables = [name for (name,) in cursor.fetchall()]
        cursor.execute(
            "SELECT tablename, format('%%I.%%I', schemaname, tablename)::regclass::oid"
            " FROM pg_tables WHERE schemaname = %s",
            [schema],
        )
        real = dict(cursor.fetchall())
    session, api_key = _table("ingestion.Session"), _table("ingestion.ApiKey")
    functions = trigger_functions()

    with psycopg_connected_as(*service_role) as conn:
        for table in tables:
            conn.execute(
                psql.SQL("CREATE TEMP TABLE {} AS TABLE {}").format(
                    psql.Identifier(table), psql.Identifier(schema, table)
                )
            )
        conn.execute(f"UPDATE pg_temp.{session} SET sealed_at = NULL")
        conn.execute(f"INSERT INTO pg_temp.{session} (id) VALUES (%s)", [missing_session])
        conn.execute(f"INSERT INTO pg_temp.{api_key} (id) VALUES ('NoSuch.key')")
        conn.execute(
            "CREATE FUNCTION pg_temp.cardinality(anyarray) RETURNS integer"
            " LANGUAGE sql AS 'SELECT 0'"
        )

        with pytest.raises(psycopg.errors.RestrictViolation, match="session is sealed"):
            _event_insert(conn, sealed)
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="session that does not"):
            _event_insert(conn, missing_session)
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="API key that does not"):
            _event_insert(conn, opened.pk, "NoSuch.key")

        # Every trigger function, found in the catalog: under its own search_path, in this
        # very session, every table name still names the schema's table.
        for name, (config, _) in functions.items():
            assert search_path_of(config) == [schema, "pg_temp"], name
            (search_path,) = (c.partition("=")[2] for c in config if c.startswith("search_path="))
            with conn.transaction():
                conn.execute("SELECT set_config('search_path', %s, true)", [search_path])
                resolved = dict(
                    conn.execute(
                        "SELECT name, to_regclass(quote_ident(name))::oid"
                        " FROM unnest(%s::text[]) AS name",
                        [tables],
                    ).fetchall()
                )
            assert resolved == real, name
    assert (
        not Event.objects.filter(session_id__in=[sealed, missing_session, opened.pk])
        .filter(sequence_number=99)
        .exists()
    )


def _grants(role: str) -> dict[str, set[str]]:
    """Table and column privileges granted to the role itself, by table: "SELECT",
    "UPDATE(column)"."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s",
            [role],
        )
        table_rows = cursor.fetchall()
        # Column grants only, not the columns a table grant covers.
        cursor.execute(
            "SELECT c.relname, acl.privilege_type || '(' || a.attname || ')'"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid,"
            " aclexplode(a.attacl) acl"
            " WHERE acl.grantee = %s::regrole"
            " AND c.relnamespace = current_schema()::regnamespace",
            [role],
        )
        column_rows = cursor.fetchall()
    grants: dict[str, set[str]] = {}
    for table, privilege in table_rows + column_rows:
        grants.setdefault(table, set()).add(privilege)
    return grants


def _may_create(role: str) -> dict[str, bool]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT has_database_privilege(%s, current_database(), 'TEMPORARY'),"
            " has_database_privilege(%s, current_database(), 'CREATE'),"
            " has_schema_privilege(%s, current_schema(), 'CREATE')",
            [role, role, role],
        )
        temporary, database, schema = cursor.fetchone()
    return {"temporary": temporary, "database": database, "schema": schema}


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
    append_only = {"SELECT", "INSERT"}
    read_write = {"SELECT", "INSERT", "UPDATE", "DELETE"}
    expected = {
        "ingestion.Event": append_only | {"UPDATE(payload_jcs)"},
        "ingestion.Erasure": append_only,
        "policy.Findings": append_only | {"UPDATE(pii_findings)", "UPDATE(tool_audit)"},
        "policy.SubjectFingerprint": append_only,
        "ingestion.Session": append_only | session_updates,
        "ingestion.ApiKey": append_only
        | {"UPDATE(name)", "UPDATE(expiry_date)", "UPDATE(revoked)"},
        "ingestion.Project": {"SELECT", "INSERT", "UPDATE"},
        "auth.User": {"SELECT", "UPDATE(last_login)"},
        "sessions.Session": read_write,
        "admin.LogEntry": append_only,
        "auth.Group": {"SELECT"},
        "auth.Group_permissions": {"SELECT"},
        "auth.Permission": {"SELECT"},
        "auth.User_groups": {"SELECT"},
        "auth.User_user_permissions": {"SELECT"},
        "contenttypes.ContentType": {"SELECT"},
        "compliance.ExportJob": {"SELECT", "INSERT", "UPDATE"},
        "django_tasks_database.DBTaskResult": read_write,
    }
    for label, privileges in expected.items():
        assert first[_table(label)] == privileges, label
    assert first["django_migrations"] == {"SELECT"}
    if _model_exists("ingestion.Verification"):
        assert first[_table("ingestion.Verification")] == append_only
    for label in ("ingestion.LogLeaf", "ingestion.LogNode", "ingestion.TreeHead"):
        if _model_exists(label):
            assert first[_table(label)] == append_only, label
    if "agentops_cache" in first:
        assert first["agentops_cache"] == read_write
    assert not any("TRUNCATE" in grants or "TRIGGER" in grants for grants in first.values())
    assert _may_create(role) == {"temporary": False, "database": False, "schema": False}


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("grant", "named"),
    [
        ('GRANT TEMPORARY ON DATABASE "{database}" TO "{to}"', "TEMPORARY"),
        ('GRANT CREATE ON SCHEMA "{schema}" TO "{to}"', "CREATE on schema"),
        ('GRANT SET ON PARAMETER session_replication_role TO "{to}"', "session_replication_role"),
    ],
)
def test_the_command_refuses_a_role_that_could_still_unguard_the_triggers(
    service_role, grant, named
):
    """Held through another role, a privilege survives the revocation from the role itself."""
    role, _ = service_role
    member_of = f"{role}_other"
    database = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{member_of}"')
        cursor.execute(grant.format(database=database, schema=_schema(), to=member_of))
        cursor.execute(f'GRANT "{member_of}" TO "{role}"')
    try:
        with pytest.raises(CommandError, match=named):
            call_command("db_grant_service_role", "--role", role, stdout=StringIO())
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{member_of}"')
            cursor.execute(f'DROP ROLE "{member_of}"')


@pytest.mark.postgres
def test_a_table_the_policy_does_not_name_is_only_readable(service_role):
    """A table added later is classified in the policy before the service may write to it."""
    role, _ = service_role
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE agentops_unclassified (id integer)")
    try:
        out = StringIO()
        call_command("db_grant_service_role", "--role", role, stdout=out)
        assert _grants(role)["agentops_unclassified"] == {"SELECT"}
        assert "agentops_unclassified: SELECT  (not in the policy: read only)" in out.getvalue()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE agentops_unclassified")


@pytest.mark.postgres
def test_the_admin_console_works_as_the_role(service_role):
    """Log in (last_login, a django_session row), revoke a key on its admin page (an update
    of the columns the role may write, an admin log entry), be refused moving it to another
    project with a form error, log out."""
    User = apps.get_model("auth.User")
    User.objects.create_superuser("admin", "admin@example.com", "a long admin password")
    key, _ = services.api_key_create(project_name="acme", name="to revoke")
    other, _ = services.api_key_create(project_name="globex", name="other")
    change = reverse("admin:ingestion_apikey_change", args=[quote(key.pk)])
    form = {"name": key.name, "expiry_date_0": "", "expiry_date_1": "", "_save": "Save"}

    with django_connected_as(*service_role):
        client = Client(raise_request_exception=True)
        login = client.post(
            reverse("admin:login"),
            {"username": "admin", "password": "a long admin password", "next": "/admin/"},
        )
        assert login.status_code == 302, login.content[:500]
        assert client.get(change).status_code == 200
        moved = client.post(change, {**form, "project": other.project_id})
        assert moved.status_code == 200
        assert "stays with its project" in moved.content.decode()
        revoked = client.post(change, {**form, "project": key.project_id, "revoked": "on"})
        assert revoked.status_code == 302, revoked.content[:500]
        session_key = client.session.session_key
        assert client.post(reverse("admin:logout")).status_code == 200

    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.revoked and stored.project_id == key.project_id
    assert stored.hashed_key == key.hashed_key
    assert User.objects.get(username="admin").last_login is not None
    assert apps.get_model("admin.LogEntry").objects.filter(object_id=key.pk).exists()
    assert not apps.get_model("sessions.Session").objects.filter(pk=session_key).exists()


@pytest.mark.postgres
def test_a_password_hashed_with_other_settings_logs_in_as_the_role(service_role):
    """Django re-hashes a password made with another iteration count at login and saves it;
    the role may not write passwords, so that save would answer the login with a 500."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password

    class Older(PBKDF2PasswordHasher):
        iterations = 1000

    User = apps.get_model("auth.User")
    user = User.objects.create_superuser("old", "old@example.com", "unused")
    User.objects.filter(pk=user.pk).update(
        password=make_password("an old password", hasher=Older())
    )
    stored = User.objects.get(pk=user.pk).password

    with django_connected_as(*service_role):
        client = Client(raise_request_exception=True)
        login = client.post(
            reverse("admin:login"),
            {"username": "old", "password": "an old password", "next": "/admin/"},
        )
        assert login.status_code == 302, login.content[:500]

    assert User.objects.get(pk=user.pk).password == stored


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


@pytest.mark.postgres
def test_the_role_erases_behind_the_ledger_and_not_otherwise(service_role):
    from compliance import erasure

    with django_connected_as(*service_role):
        session_id = _service_path()
        session = Session.objects.get(pk=session_id)
        with connection.cursor() as cursor, pytest.raises(Exception, match="ledger row"):
            cursor.execute(
                f"UPDATE {_table('ingestion.Event')} SET payload_jcs = NULL"
                " WHERE session_id = %s AND sequence_number = 1",
                [session.pk],
            )
        plan = erasure.erasure_plan(session=session, sequence_numbers=[1])
        erasure.erasure_execute(
            plan=plan,
            request_ref="DSR-1",
            reason="Art. 17",
            caller=services.Caller.for_command("test", operator="role"),
        )
    event = Event.objects.get(session_id=session_id, sequence_number=1)
    assert event.payload_jcs is None
    assert apps.get_model("ingestion.Erasure").objects.filter(session_id=session_id).count() == 1
