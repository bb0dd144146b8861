"""Stored policy findings are append-only, enforced by the database itself.

policy_findings rows can never be UPDATEd or DELETEd, nor TRUNCATEd on PostgreSQL (SQLite
has no TRUNCATE: "DELETE FROM t" is refused row by row, because SQLite disables its truncate
optimisation for tables with triggers). A later evaluation adds a row; until now only the
model's save() and the service role's privileges said so, and the table owner, or any role
granted more, could rewrite what a report cites.

On PostgreSQL the refusal is a function of this app's own (so that either app's triggers can
be reversed without touching the other's), declared with the fixed search_path every trigger
function of the project has (see ingestion/0005).

SQLite drops a table's triggers when Django rebuilds the table to alter it: a later migration
that alters policy_findings on SQLite must create these triggers again.
tests/security/test_findings_append_only.py fails if they are missing.
"""

import importlib

from django.db import migrations

_rule = importlib.import_module("ingestion.migrations.0005_trigger_functions_search_path")

TABLE = "policy_findings"

# name -> (operation, message); PostgreSQL also refuses TRUNCATE, per statement.
REFUSALS = {
    "policy_findings_no_update": ("UPDATE", "append-only: policy findings cannot be updated"),
    "policy_findings_no_delete": ("DELETE", "append-only: policy findings cannot be deleted"),
}
TRUNCATE_REFUSAL = (
    "policy_findings_no_truncate",
    "append-only: policy findings cannot be truncated",
)


def _postgresql_forward(connection) -> list[str]:
    schema, search_path = _rule.search_path_fixed(connection)
    function = f"{schema}.policy_refuse"
    truncate_name, truncate_message = TRUNCATE_REFUSAL
    return [
        f"""
        CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql {search_path} AS $$
        BEGIN
            RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
        END
        $$
        """,
        *(
            f"CREATE TRIGGER {name} BEFORE {operation} ON {schema}.{TABLE}"
            f" FOR EACH ROW EXECUTE FUNCTION {function}('{message}')"
            for name, (operation, message) in REFUSALS.items()
        ),
        f"CREATE TRIGGER {truncate_name} BEFORE TRUNCATE ON {schema}.{TABLE}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}('{truncate_message}')",
    ]


POSTGRESQL_REVERSE = [
    f"DROP TRIGGER {TRUNCATE_REFUSAL[0]} ON {TABLE}",
    *(f"DROP TRIGGER {name} ON {TABLE}" for name in REFUSALS),
    "DROP FUNCTION policy_refuse()",
]

SQLITE_FORWARD = [
    f"CREATE TRIGGER {name} BEFORE {operation} ON {TABLE}"
    f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
    for name, (operation, message) in REFUSALS.items()
]

SQLITE_REVERSE = [f"DROP TRIGGER {name}" for name in REFUSALS]


def _statements(connection, forward: bool) -> list[str]:
    if connection.vendor == "postgresql":
        return _postgresql_forward(connection) if forward else POSTGRESQL_REVERSE
    if connection.vendor == "sqlite":
        return SQLITE_FORWARD if forward else SQLITE_REVERSE
    # Findings without their guarantee must not exist: refuse to migrate.
    raise NotImplementedError(f"no append-only triggers written for {connection.vendor}")


def create_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection, forward=True):
        schema_editor.execute(statement, params=None)


def drop_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection, forward=False):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("policy", "0001_initial"),
        ("ingestion", "0005_trigger_functions_search_path"),
    ]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
