"""Give the service's database role exactly what the running service needs (PostgreSQL).

Migrations run as the owner of the tables; the web service connects as a separate role that
owns nothing. The owner runs this command after every ``migrate``: it revokes whatever the
role had and grants, on every table of the schema, by this policy:

- evidence tables (events, policy findings, the export ledger): SELECT and INSERT only;
- sessions: SELECT, INSERT, and UPDATE of the chain-head and seal columns only (the triggers
  of migration ingestion/0002 still freeze a sealed session's row);
- API keys: SELECT, INSERT, UPDATE (they are revoked, never deleted: the triggers of
  migration ingestion/0004 refuse it, since events keep naming them);
- ``django_migrations``: SELECT only (written by migrations alone);
- every other table (projects, users and sessions of the admin...): SELECT, INSERT,
  UPDATE, DELETE.

No sequence privilege is needed: identity columns draw their values for any inserting role.

The role can never TRUNCATE, ALTER or DROP a table, nor disable its triggers: those need the
owner (or a superuser), which is why the role must be neither, nor a member of the owner.
Revoking and granting happen in one transaction, so running the command again, even while the
service runs, is safe.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

#: Rows of these models are only ever added (the triggers of their migrations refuse more).
APPEND_ONLY_MODELS = ("ingestion.Event", "policy.Findings", "compliance.ExportRecord")
#: The session fields the service moves: the chain head while appending, the seal at the end.
SESSION_UPDATE_FIELDS = (
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
#: Rows of these models change but are never deleted (their migrations' triggers refuse it).
NEVER_DELETED_MODELS = ("ingestion.ApiKey",)
READ_ONLY_TABLES = ("django_migrations",)

PASSWORD_ENV = "AGENTOPS_SERVICE_DB_PASSWORD"


def _table(label: str) -> str | None:
    try:
        return apps.get_model(label)._meta.db_table
    except LookupError:  # the app is not installed here: nothing to grant on
        return None


def _session_update_columns() -> list[str]:
    meta = apps.get_model("ingestion.Session")._meta
    return [meta.get_field(name).column for name in SESSION_UPDATE_FIELDS]


def privileges_for(table: str) -> list[tuple[str, list[str]]]:
    """The policy for one table: ``(privilege, columns)`` pairs; no columns = the whole row."""
    if table in {_table(label) for label in APPEND_ONLY_MODELS}:
        return [("SELECT", []), ("INSERT", [])]
    if table == _table("ingestion.Session"):
        return [("SELECT", []), ("INSERT", []), ("UPDATE", _session_update_columns())]
    if table in READ_ONLY_TABLES:
        return [("SELECT", [])]
    if table in {_table(label) for label in NEVER_DELETED_MODELS}:
        return [("SELECT", []), ("INSERT", []), ("UPDATE", [])]
    return [("SELECT", []), ("INSERT", []), ("UPDATE", []), ("DELETE", [])]


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
            self._run("GRANT CONNECT ON DATABASE {} TO {}", sql.Identifier(database), role_id)
            self._run("GRANT USAGE ON SCHEMA {} TO {}", sql.Identifier(schema), role_id)
            for table in tables:
                privileges = privileges_for(table)
                self._grant(privileges, sql.Identifier(schema, table), role_id)
                self.stdout.write(f"{table}: {describe(privileges)}")
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
