"""On PostgreSQL: an event's session and API key are checked once per statement, not per row.

The two foreign keys of ingestion_event made PostgreSQL look up, and key-share lock, the
session and the API key of every inserted row: two queries per event, about 40 % of the
database's work for the 500-event COPY of a batch. The statement trigger that already reads the
inserted rows to refuse sealed sessions (0003) now also checks that every session and API key
they name exists: one lookup per distinct session and key, whatever the number of rows. A
missing one is refused with the foreign-key error code (Django's IntegrityError, as before),
at the end of the statement instead of at commit.

A foreign key also guards the other side: the row it points at cannot go away or change its
key while referenced. Here that is refused outright, by triggers that do not depend on any
snapshot: sessions were never deletable (0002), and now neither a session's id nor an API
key's id can change, and API keys cannot be deleted or truncated (they are revoked; stored
events keep naming the key that sent them, which the admin already enforced). Since a session
or key that exists once exists for good, the check at insert needs no lock to stay true.

SQLite keeps its foreign keys (it has no statement triggers, and its writers are serialized)
and gets the same refusals for API keys and ids. The model declares the foreign keys with
``db_constraint=False`` so that Django's state matches PostgreSQL; a later migration that
rebuilds ingestion_event on SQLite would drop the SQLite foreign keys with the triggers (0002).
"""

import importlib

from django.db import migrations, models

_sealed_check = importlib.import_module("ingestion.migrations.0003_sealed_check_per_statement")

BATCH_TRIGGER = "ingestion_event_batch_check"

# The foreign keys of 0001, by column: Django's constraint name and the table referenced.
FOREIGN_KEYS = {
    "session_id": (
        "ingestion_event_session_id_5750bd7b_fk_ingestion_session_id",
        "ingestion_session",
    ),
    "api_key_id": (
        "ingestion_event_api_key_id_6751c69e_fk_ingestion_apikey_id",
        "ingestion_apikey",
    ),
}

# Refusals that replace the referenced side of the foreign keys, the same on both databases:
# name -> (table, operation, condition or None, message). Ids are never null, so <> is exact.
REFUSALS = {
    "ingestion_session_id_fixed": (
        "ingestion_session",
        "UPDATE OF id",
        "OLD.id <> NEW.id",
        "append-only: a session''s id cannot change",
    ),
    "ingestion_apikey_id_fixed": (
        "ingestion_apikey",
        "UPDATE OF id",
        "OLD.id <> NEW.id",
        "append-only: an API key''s id cannot change",
    ),
    "ingestion_apikey_no_delete": (
        "ingestion_apikey",
        "DELETE",
        None,
        "append-only: API keys are revoked, never deleted",
    ),
}


def _refusal(name: str, body: str) -> str:
    table, operation, condition, _ = REFUSALS[name]
    when = f" WHEN ({condition})" if condition else ""
    return f"CREATE TRIGGER {name} BEFORE {operation} ON {table} FOR EACH ROW{when} {body}"


POSTGRESQL_FORWARD = [
    """
    CREATE FUNCTION ingestion_event_check_batch() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        session_ids uuid[];
        key_ids text[];
        session_sealed_at timestamptz;
        sessions_found integer := 0;
    BEGIN
        SELECT array_agg(DISTINCT session_id),
               array_agg(DISTINCT api_key_id) FILTER (WHERE api_key_id IS NOT NULL)
          INTO session_ids, key_ids
          FROM inserted_events;
        -- FOR SHARE waits for a transaction that is sealing one of these sessions right now
        -- and then yields the committed row, so an insert racing a seal cannot land behind
        -- the seal. The lock is taken whatever sealed_at holds: a condition on it in WHERE
        -- would be judged on the row as it was before that seal and skip the wait.
        FOR session_sealed_at IN
            SELECT sealed_at FROM ingestion_session WHERE id = ANY (session_ids) FOR SHARE
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
        IF cardinality(key_ids) > (SELECT count(*) FROM ingestion_apikey WHERE id = ANY (key_ids))
        THEN
            RAISE EXCEPTION 'an inserted event names an API key that does not exist'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END
    $$
    """,
    f"DROP TRIGGER {_sealed_check.ROW_TRIGGER} ON ingestion_event",
    "DROP FUNCTION ingestion_event_refuse_sealed_batch()",
    f"""
    CREATE TRIGGER {BATCH_TRIGGER} AFTER INSERT ON ingestion_event
    REFERENCING NEW TABLE AS inserted_events
    FOR EACH STATEMENT EXECUTE FUNCTION ingestion_event_check_batch()
    """,
    *(
        _refusal(name, f"EXECUTE FUNCTION ingestion_refuse('{message}')")
        for name, (_, _, _, message) in REFUSALS.items()
    ),
    """
    CREATE TRIGGER ingestion_apikey_no_truncate BEFORE TRUNCATE ON ingestion_apikey
    FOR EACH STATEMENT EXECUTE FUNCTION ingestion_refuse('append-only: API keys cannot be truncated')
    """,
]

POSTGRESQL_REVERSE = [
    *(
        f"ALTER TABLE ingestion_event ADD CONSTRAINT {name} FOREIGN KEY ({column})"
        f" REFERENCES {table} (id) DEFERRABLE INITIALLY DEFERRED"
        for column, (name, table) in FOREIGN_KEYS.items()
    ),
    "DROP TRIGGER ingestion_apikey_no_truncate ON ingestion_apikey",
    *(f"DROP TRIGGER {name} ON {table}" for name, (table, _, _, _) in REFUSALS.items()),
    f"DROP TRIGGER {BATCH_TRIGGER} ON ingestion_event",
    "DROP FUNCTION ingestion_event_check_batch()",
    # 0003's function and trigger, as they were.
    _sealed_check.SEALED_BATCH_FUNCTION,
    _sealed_check.SEALED_BATCH_TRIGGER,
]

SQLITE_FORWARD = [
    _refusal(name, f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
    for name, (_, _, _, message) in REFUSALS.items()
]

SQLITE_REVERSE = [f"DROP TRIGGER {name}" for name in REFUSALS]


def _run(schema_editor, statements: dict[str, list[str]]) -> None:
    for statement in statements.get(schema_editor.connection.vendor, ()):
        schema_editor.execute(statement, params=None)


def _foreign_keys_drop(schema_editor) -> None:
    """Drop the foreign keys of ingestion_event on its two reference columns, found by column
    rather than by name."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "ingestion_event")
    for name, info in constraints.items():
        if info["foreign_key"] and info["columns"][0] in FOREIGN_KEYS:
            schema_editor.execute(
                f"ALTER TABLE ingestion_event DROP CONSTRAINT {connection.ops.quote_name(name)}",
                params=None,
            )


def check_per_statement(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL_FORWARD, "sqlite": SQLITE_FORWARD})
    if schema_editor.connection.vendor == "postgresql":
        _foreign_keys_drop(schema_editor)


def check_per_row(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE})


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0003_sealed_check_per_statement"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="session",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=models.deletion.PROTECT,
                        related_name="events",
                        to="ingestion.session",
                    ),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="api_key",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.PROTECT,
                        related_name="events",
                        to="ingestion.apikey",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(check_per_statement, check_per_row)],
        ),
    ]
