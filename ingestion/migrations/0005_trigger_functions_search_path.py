"""Trigger functions that no session can redirect; API keys whose identity cannot change.

On PostgreSQL a function runs with the search_path of whoever fires it, and pg_temp comes
first in it unless it is named: a connection that created a TEMPORARY table called
``ingestion_session`` made the reference check of 0004 read that table instead of the real
one, and so could add events to a sealed session or to one that does not exist. Every trigger
function of this app now names its tables with their schema AND is declared with
``SET search_path = <schema>, pg_temp``: pg_catalog is searched first, the tables' schema next,
the connection's temporary objects last, whatever the connection set. The schema is the one
the migration runs in (``current_schema()``), so a deployment on a schema other than
``public`` gets its own name written in.

How: the two functions that read tables are created again (CREATE OR REPLACE) with qualified
bodies, written below as templates that take the schema; these bodies are now the source of
truth for those functions. The functions that read no table (``ingestion_refuse``) only get
their search_path fixed (ALTER FUNCTION). ``ingestion_event_refuse_sealed`` (0002) has had no
trigger since 0003, but 0003's reverse gives it one back, so it is hardened too. The reverse
restores the earlier definitions from 0002's and 0004's own SQL, imported, not copied.
Functions added by later migrations follow the same convention: ``search_path_fixed()`` gives
the clause and the schema (ingestion/tests/test_trigger_search_path.py checks every trigger
function found in the catalog).

Also, on both databases, an API key can no longer be un-revoked (the library already refused
it in Python) nor change its project, prefix, hash or creation time: the service role may
update an API key (to revoke it), and these columns are what makes it the key it is.

SQLite has no search_path and no temporary tables visible to a trigger of the main schema
(a trigger only ever names tables of its own schema), so only the API key refusals apply there.
"""

import importlib

from django.db import migrations

_append_only = importlib.import_module("ingestion.migrations.0002_append_only_triggers")
_references = importlib.import_module("ingestion.migrations.0004_references_checked_per_statement")


def search_path_fixed(connection) -> tuple[str, str]:
    """The schema the migration runs in, and the ``SET search_path`` clause naming it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
    if schema is None:
        raise RuntimeError("no schema of the search_path exists: nowhere to find the tables")
    quoted = connection.ops.quote_name(schema)
    return quoted, f"SET search_path = {quoted}, pg_temp"


# Templates: {schema} is the quoted schema, {search_path} the clause of search_path_fixed().
CHECK_BATCH_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.ingestion_event_check_batch() RETURNS trigger
LANGUAGE plpgsql {search_path} AS $$
DECLARE
    session_ids uuid[];
    key_ids text[];
    session_sealed_at timestamptz;
    sessions_found integer := 0;
BEGIN
    -- inserted_events is the statement's transition table: it is not a table of any schema.
    SELECT array_agg(DISTINCT session_id),
           array_agg(DISTINCT api_key_id) FILTER (WHERE api_key_id IS NOT NULL)
      INTO session_ids, key_ids
      FROM inserted_events;
    -- FOR SHARE waits for a transaction that is sealing one of these sessions right now
    -- and then yields the committed row, so an insert racing a seal cannot land behind
    -- the seal. The lock is taken whatever sealed_at holds: a condition on it in WHERE
    -- would be judged on the row as it was before that seal and skip the wait.
    FOR session_sealed_at IN
        SELECT sealed_at FROM {schema}.ingestion_session WHERE id = ANY (session_ids) FOR SHARE
    LOOP
        IF session_sealed_at IS NOT NULL THEN
            RAISE EXCEPTION 'append-only: the session is sealed, no event can be added'
                USING ERRCODE = 'restrict_violation';
        END IF;
        sessions_found := sessions_found + 1;
    END LOOP;
    IF sessions_found < cardinality(session_ids) THEN
        RAISE EXCEPTION 'an inserted event names a session that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF cardinality(key_ids) > (
        SELECT count(*) FROM {schema}.ingestion_apikey WHERE id = ANY (key_ids)
    ) THEN
        RAISE EXCEPTION 'an inserted event names an API key that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$
"""

REFUSE_SEALED_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.ingestion_event_refuse_sealed() RETURNS trigger
LANGUAGE plpgsql {search_path} AS $$
DECLARE
    session_sealed_at timestamptz;
BEGIN
    -- FOR SHARE: see ingestion_event_check_batch.
    SELECT sealed_at INTO session_sealed_at
      FROM {schema}.ingestion_session WHERE id = NEW.session_id FOR SHARE;
    IF session_sealed_at IS NOT NULL THEN
        RAISE EXCEPTION 'append-only: the session is sealed, no event can be added'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$
"""

#: Functions that read no table: only their search_path is fixed.
TABLELESS_FUNCTIONS = ("ingestion_refuse()",)


def _earlier(module, function: str) -> str:
    """An earlier migration's CREATE FUNCTION statement, made to replace the current one."""
    (statement,) = (s for s in module.POSTGRESQL_FORWARD if f"CREATE FUNCTION {function}(" in s)
    return statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


# API key columns: the key is revoked for good, and what identifies it never changes.
# name -> (table, operation, condition, message), the same on both databases; none of these
# columns is ever null, so <> is exact.
KEY_REFUSALS = {
    "ingestion_apikey_revoked_for_good": (
        "ingestion_apikey",
        "UPDATE OF revoked",
        "OLD.revoked AND NOT NEW.revoked",
        "append-only: a revoked API key cannot be restored",
    ),
    "ingestion_apikey_identity_fixed": (
        "ingestion_apikey",
        "UPDATE OF project_id, prefix, hashed_key, created",
        "OLD.project_id <> NEW.project_id OR OLD.prefix <> NEW.prefix"
        " OR OLD.hashed_key <> NEW.hashed_key OR OLD.created <> NEW.created",
        "append-only: an API key''s project, prefix, hash and creation time cannot change",
    ),
}


def _key_refusal(name: str, table_prefix: str, body: str) -> str:
    table, operation, condition, _ = KEY_REFUSALS[name]
    return (
        f"CREATE TRIGGER {name} BEFORE {operation} ON {table_prefix}{table}"
        f" FOR EACH ROW WHEN ({condition}) {body}"
    )


def _postgresql_forward(connection) -> list[str]:
    schema, search_path = search_path_fixed(connection)
    return [
        CHECK_BATCH_FUNCTION.format(schema=schema, search_path=search_path),
        REFUSE_SEALED_FUNCTION.format(schema=schema, search_path=search_path),
        *(f"ALTER FUNCTION {schema}.{f} {search_path}" for f in TABLELESS_FUNCTIONS),
        *(
            _key_refusal(
                name,
                f"{schema}.",
                f"EXECUTE FUNCTION {schema}.ingestion_refuse('{message}')",
            )
            for name, (_, _, _, message) in KEY_REFUSALS.items()
        ),
    ]


def _postgresql_reverse(connection) -> list[str]:
    return [
        *(f"DROP TRIGGER {name} ON {table}" for name, (table, _, _, _) in KEY_REFUSALS.items()),
        *(f"ALTER FUNCTION {f} RESET search_path" for f in TABLELESS_FUNCTIONS),
        _earlier(_append_only, "ingestion_event_refuse_sealed"),
        _earlier(_references, "ingestion_event_check_batch"),
    ]


SQLITE_FORWARD = [
    _key_refusal(name, "", f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
    for name, (_, _, _, message) in KEY_REFUSALS.items()
]

SQLITE_REVERSE = [f"DROP TRIGGER {name}" for name in KEY_REFUSALS]


def _run(schema_editor, forward: bool) -> None:
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        statements = (_postgresql_forward if forward else _postgresql_reverse)(connection)
    elif connection.vendor == "sqlite":
        statements = SQLITE_FORWARD if forward else SQLITE_REVERSE
    else:
        raise NotImplementedError(f"no append-only triggers written for {connection.vendor}")
    for statement in statements:
        schema_editor.execute(statement, params=None)


def harden(apps, schema_editor):
    _run(schema_editor, forward=True)


def soften(apps, schema_editor):
    _run(schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0004_references_checked_per_statement"),
    ]

    operations = [migrations.RunPython(harden, soften)]
