"""Give the service's database role exactly what the running service does (PostgreSQL).

Migrations run as the owner of the tables; the web service connects as a separate role that
owns nothing. The owner runs this command after every ``migrate``: in one transaction it
revokes whatever the role had and grants, on every table of the schema, what ``POLICY`` below
says, printing the result table by table. A table the policy does not name gets SELECT only
(and is flagged): a new table is classified here before the service may write to it.

What the running service writes, and so the policy: evidence rows (events, verifications,
policy findings, the export ledger, the access ledger, the erasure ledger, subject
fingerprints, the transparency log's leaves, subtrees and tree heads) are only added, but
for erasure (an event's payload and the findings' previews of it, behind the ledger);
sessions move their chain head and seal;
API keys are created, revoked, renamed or given an expiry (``api_key_create``,
``api_key_revoke``, the admin's key pages); projects are created and renamed; the admin
console logs users in (``auth_user.last_login``, ``django_session``) and records its changes
(``django_admin_log``); the database cache (``agentops_cache``) is read and written. Users,
groups and permissions are never written by the service: ``createsuperuser``,
``changepassword``, ``create_reviewer`` and ``migrate`` run as the owner (DATABASE_URL naming
the owner), while ``create_api_key``, ``revoke_api_key`` and ``seal_stale_sessions`` may run as
the service role. So the role cannot make anyone a superuser, nor set a password.

The role also loses TEMPORARY on the database and CREATE on the schema, both revoked from
PUBLIC too, since every role holds what PUBLIC holds: a temporary table could shadow a table
a trigger function reads, and an object created in the schema could stand in for one. (The
trigger functions are hardened against both anyway, see migration ingestion/0005.) Revoking
from PUBLIC takes TEMPORARY from every other role of the database as well: grant it back by
name to a role that needs it, never to the service role.

No sequence privilege is needed: identity columns draw their values for any inserting role.
The role can never TRUNCATE, ALTER or DROP a table, disable its triggers, nor set
``session_replication_role`` to skip them: those need the owner or a superuser, which is why
the role must be neither, nor a member of the owner. The command refuses to finish (and
changes nothing) if the role, through a role it belongs to, still holds TEMPORARY or CREATE, or
SET on session_replication_role (grantable since PostgreSQL 15).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from ingestion.services.sessions import HEAD_FIELDS

#: A privilege on the whole row, or ("UPDATE", fields) on those fields' columns only.
Privilege = str | tuple[str, tuple[str, ...]]

READ = ("SELECT",)
APPEND_ONLY = ("SELECT", "INSERT")
READ_WRITE = ("SELECT", "INSERT", "UPDATE", "DELETE")

#: The session fields the service moves: the chain head while appending, the seal at the end.
SESSION_UPDATE_FIELDS = (*HEAD_FIELDS, "sealed_at", "evidence_class", "verification")

#: Model label ("app.Model", an auto-created many-to-many table as "app.Model_field") or
#: table name -> privileges. Labels of apps that are not installed are skipped.
POLICY: dict[str, tuple[Privilege, ...]] = {
    # Evidence: rows are only ever added (their migrations' triggers refuse more). Erasure
    # withholds a payload and the previews derived from it: the triggers of ingestion/0009
    # and policy/0003 allow exactly that, behind a row of the erasure ledger.
    "ingestion.Event": ("SELECT", "INSERT", ("UPDATE", ("payload_jcs",))),
    "ingestion.Verification": APPEND_ONLY,
    "ingestion.Erasure": APPEND_ONLY,
    "policy.Findings": ("SELECT", "INSERT", ("UPDATE", ("pii_findings", "tool_audit"))),
    "policy.SubjectFingerprint": APPEND_ONLY,
    "ingestion.SpanReceipt": APPEND_ONLY,
    "compliance.ExportRecord": APPEND_ONLY,
    # Matters, their tags and untags, reviewers' notes (compliance/0011).
    "compliance.Matter": APPEND_ONLY,
    "compliance.MatterSession": APPEND_ONLY,
    "compliance.Note": APPEND_ONLY,
    "compliance.AccessRecord": APPEND_ONLY,
    # The transparency log: leaves, complete subtrees and signed tree heads (ingestion/0010).
    "ingestion.LogLeaf": APPEND_ONLY,
    "ingestion.LogNode": APPEND_ONLY,
    "ingestion.TreeHead": APPEND_ONLY,
    # The triggers of ingestion/0002 still freeze a sealed session's row.
    "ingestion.Session": ("SELECT", "INSERT", ("UPDATE", SESSION_UPDATE_FIELDS)),
    # Never deleted (events name them), never moved, never un-revoked (ingestion/0004, 0005).
    "ingestion.ApiKey": ("SELECT", "INSERT", ("UPDATE", ("name", "expiry_date", "revoked"))),
    # Never deleted: a project's sessions are evidence.
    "ingestion.Project": ("SELECT", "INSERT", "UPDATE"),
    # The admin console: logging in, its sessions, its log of changes.
    "auth.User": ("SELECT", ("UPDATE", ("last_login",))),
    "sessions.Session": READ_WRITE,
    "admin.LogEntry": APPEND_ONLY,
    "agentops_cache": READ_WRITE,
    # Export jobs (compliance.jobs): the web service queues them, the export worker runs them;
    # the queue is django-tasks' table. Neither is evidence (the ledger is).
    "compliance.ExportJob": ("SELECT", "INSERT", "UPDATE"),
    "django_tasks_database.DBTaskResult": READ_WRITE,
    # Written by migrate and the owner's commands only.
    "auth.Group": READ,
    "auth.Group_permissions": READ,
    "auth.Permission": READ,
    "auth.User_groups": READ,
    "auth.User_user_permissions": READ,
    "contenttypes.ContentType": READ,
    "django_migrations": READ,
    # The API key library's own model: installed for its admin and hashing, never used.
    "rest_framework_api_key.APIKey": READ,
}

PASSWORD_ENV = "AGENTOPS_SERVICE_DB_PASSWORD"


def _model(label: str):
    if "." not in label:
        return None  # a table without a model
    try:
        return apps.get_model(label)
    except LookupError:  # the app is not installed here, or the model does not exist yet
        return None


def _rules() -> dict[str, list[tuple[str, list[str]]]]:
    """The policy by table name: ``(privilege, columns)`` pairs; no columns = the whole row."""
    rules = {}
    for label, privileges in POLICY.items():
        model = _model(label)
        if model is None and "." in label:
            continue
        table = model._meta.db_table if model else label
        resolved = []
        for privilege in privileges:
            if isinstance(privilege, str):
                resolved.append((privilege, []))
            else:
                name, fields = privilege
                resolved.append((name, [model._meta.get_field(f).column for f in fields]))
        rules[table] = resolved
    return rules


def privileges_for(table: str) -> list[tuple[str, list[str]]]:
    """What the role gets on one table; SELECT only for a table the policy does not name."""
    return _rules().get(table, [("SELECT", [])])


def describe(privileges: list[tuple[str, list[str]]]) -> str:
    return ", ".join(
        f"{name} ({', '.join(columns)})" if columns else name for name, columns in privileges
    )


class Command(BaseCommand):
    help = (
        "Grant the service's PostgreSQL role the least privileges the service needs "
        "(run as the table owner after migrate; idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--role", required=True, help="the role the web service logs in as")
        parser.add_argument(
            "--create-login",
            action="store_true",
            help=f"create the role (LOGIN) if missing; its password is read from ${PASSWORD_ENV}",
        )

    def handle(self, *args, role: str, create_login: bool, **options):
        if connection.vendor != "postgresql":
            raise CommandError("db_grant_service_role needs PostgreSQL (DATABASE_URL=postgres://)")
        from psycopg import sql  # the PostgreSQL driver; imported only where it is used

        self._sql = sql
        with transaction.atomic(), connection.cursor() as cursor:
            self._cursor = cursor
            if create_login:
                self._login_ensure(role)
            self._role_check(role)
            schema, database, tables = self._catalogue()
            role_id = sql.Identifier(role)
            self._run(
                "REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}", sql.Identifier(schema), role_id
            )
            self._run(
                "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}",
                sql.Identifier(schema),
                role_id,
            )
            for grantee in (sql.SQL("PUBLIC"), role_id):
                self._run(
                    "REVOKE CREATE, TEMPORARY ON DATABASE {} FROM {}",
                    sql.Identifier(database),
                    grantee,
                )
                self._run("REVOKE CREATE ON SCHEMA {} FROM {}", sql.Identifier(schema), grantee)
            self._run("GRANT CONNECT ON DATABASE {} TO {}", sql.Identifier(database), role_id)
            self._run("GRANT USAGE ON SCHEMA {} TO {}", sql.Identifier(schema), role_id)
            rules = _rules()
            for table in tables:
                privileges = privileges_for(table)
                self._grant(privileges, sql.Identifier(schema, table), role_id)
                unnamed = "" if table in rules else "  (not in the policy: read only)"
                self.stdout.write(f"{table}: {describe(privileges)}{unnamed}")
            self._unguard_check(role, schema, database)
        self.stdout.write(self.style.SUCCESS(f"{role}: privileges granted on {len(tables)} tables"))

    # --------------------------------------------------------------------------------------

    def _run(self, template: str, *parts) -> None:
        # Identifiers and literals are quoted by psycopg, never pasted into the text.
        statement = self._sql.SQL(template).format(*parts)
        self._cursor.execute(statement.as_string(connection.connection))

    def _grant(self, privileges: list[tuple[str, list[str]]], table, role) -> None:
        sql = self._sql
        clauses = []
        for name, columns in privileges:
            clause = sql.SQL(name)  # one of the constant privilege names of the policy
            if columns:
                clause = sql.SQL("{} ({})").format(
                    clause, sql.SQL(", ").join(map(sql.Identifier, columns))
                )
            clauses.append(clause)
        self._run("GRANT {} ON TABLE {} TO {}", sql.SQL(", ").join(clauses), table, role)

    def _fetch(self, query: str, params: Iterable = ()) -> list[tuple]:
        self._cursor.execute(query, list(params))
        return self._cursor.fetchall()

    def _login_ensure(self, role: str) -> None:
        password = os.environ.get(PASSWORD_ENV, "")
        if not password:
            raise CommandError(f"--create-login needs the role's password in ${PASSWORD_ENV}")
        exists = self._fetch("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        # Setting the password again on an existing role keeps it in step with the environment.
        verb = "ALTER ROLE {} WITH LOGIN PASSWORD {}"
        if not exists:
            verb = "CREATE ROLE {} LOGIN PASSWORD {}"
        self._run(verb, self._sql.Identifier(role), self._sql.Literal(password))

    def _role_check(self, role: str) -> None:
        found = self._fetch(
            "SELECT rolsuper, rolbypassrls, rolname = current_user "
            "FROM pg_roles WHERE rolname = %s",
            [role],
        )
        if not found:
            raise CommandError(f"no role {role!r}: create it, or pass --create-login")
        superuser, bypass_rls, is_current = found[0]
        if is_current:
            raise CommandError(f"{role!r} is the role running this command (the owner)")
        if superuser or bypass_rls:
            raise CommandError(f"{role!r} is a superuser: privileges would not restrict it")
        # Owning a table, or being a member of its owner, would give back everything revoked.
        owners = self._fetch(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = current_schema() "
            "AND pg_has_role(%s, tableowner, 'MEMBER')",
            [role],
        )
        if owners:
            names = ", ".join(owner for (owner,) in owners)
            raise CommandError(f"{role!r} is or acts as the owner of tables ({names})")

    def _unguard_check(self, role: str, schema: str, database: str) -> None:
        """Refuse to finish while the role may still create objects or switch the triggers
        off: a grant to a role it belongs to, or one the running user could not revoke."""
        checks = [
            (f"TEMPORARY on database {database}", "has_database_privilege(%s, %s, 'TEMPORARY')"),
            (f"CREATE on database {database}", "has_database_privilege(%s, %s, 'CREATE')"),
            (f"CREATE on schema {schema}", "has_schema_privilege(%s, %s, 'CREATE')"),
        ]
        params = [role, database, role, database, role, schema]
        if connection.pg_version >= 150000:  # SET on a parameter can be granted since 15
            checks.append(
                (
                    "SET on session_replication_role",
                    "has_parameter_privilege(%s, 'session_replication_role', 'SET')",
                )
            )
            params.append(role)
        found = self._fetch("SELECT " + ", ".join(query for _, query in checks), params)[0]
        held = [name for (name, _), holds in zip(checks, found, strict=True) if holds]
        if held:
            raise CommandError(
                f"{role!r} still holds {', '.join(held)} after the revocation: it comes from a"
                " role it is a member of, or was granted by a role other than the one running"
                " this command; revoke it there and run again"
            )

    def _catalogue(self) -> tuple[str, str, list[str]]:
        schema, database = self._fetch("SELECT current_schema(), current_database()")[0]
        tables = [
            name
            for (name,) in self._fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
                [schema],
            )
        ]
        return schema, database, tables
