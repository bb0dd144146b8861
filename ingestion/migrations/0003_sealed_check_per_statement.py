"""On PostgreSQL: the sealed-session refusal runs once per statement; no index on api_key.

0002's row trigger looked the session up, and share-locked it, once per inserted row: 500
times for a batch the service writes with one COPY. The statement trigger below reads the
inserted rows as a transition table and checks each session they name once, with the same
lock and the same error. SQLite keeps its row trigger: it has no statement triggers, and its
writers are serialized anyway.

Events are never looked up by API key (a session's keys are read through the session), so the
two indexes Django built for that foreign key only slowed every insert. They are dropped on
PostgreSQL only: on SQLite, dropping an index this way would rebuild the table and lose its
triggers (see 0002); there the index stays, unused.
"""

from django.db import migrations, models

ROW_TRIGGER = "ingestion_event_sealed_session"

# The statement check, also restored by 0004's reverse.
SEALED_BATCH_FUNCTION = """
CREATE FUNCTION ingestion_event_refuse_sealed_batch() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    session_sealed_at timestamptz;
BEGIN
    -- FOR SHARE waits for a transaction that is sealing one of these sessions right now
    -- and then yields the committed row, so an insert racing a seal cannot land behind
    -- the seal. The lock is taken whatever sealed_at holds: a condition on it in WHERE
    -- would be judged on the row as it was before that seal and skip the wait.
    FOR session_sealed_at IN
        SELECT sealed_at FROM ingestion_session
         WHERE id IN (SELECT DISTINCT session_id FROM inserted_events)
           FOR SHARE
    LOOP
        IF session_sealed_at IS NOT NULL THEN
            RAISE EXCEPTION 'append-only: the session is sealed, no event can be added'
                USING ERRCODE = 'restrict_violation';
        END IF;
    END LOOP;
    RETURN NULL;
END
$$
"""

SEALED_BATCH_TRIGGER = f"""
CREATE TRIGGER {ROW_TRIGGER} AFTER INSERT ON ingestion_event
REFERENCING NEW TABLE AS inserted_events
FOR EACH STATEMENT EXECUTE FUNCTION ingestion_event_refuse_sealed_batch()
"""

POSTGRESQL_FORWARD = [
    SEALED_BATCH_FUNCTION,
    f"DROP TRIGGER {ROW_TRIGGER} ON ingestion_event",
    SEALED_BATCH_TRIGGER,
]

POSTGRESQL_REVERSE = [
    f"DROP TRIGGER {ROW_TRIGGER} ON ingestion_event",
    "DROP FUNCTION ingestion_event_refuse_sealed_batch()",
    f"""
    CREATE TRIGGER {ROW_TRIGGER} BEFORE INSERT ON ingestion_event
    FOR EACH ROW EXECUTE FUNCTION ingestion_event_refuse_sealed()
    """,
]


def _postgresql(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def check_per_statement(apps, schema_editor):
    if not _postgresql(schema_editor):
        return
    for statement in POSTGRESQL_FORWARD:
        schema_editor.execute(statement, params=None)
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "ingestion_event")
    for name, info in constraints.items():
        if info["index"] and not info["unique"] and info["columns"] == ["api_key_id"]:
            schema_editor.execute(f"DROP INDEX {connection.ops.quote_name(name)}", params=None)


def check_per_row(apps, schema_editor):
    if not _postgresql(schema_editor):
        return
    for statement in POSTGRESQL_REVERSE:
        schema_editor.execute(statement, params=None)
    schema_editor.execute(
        "CREATE INDEX ingestion_event_api_key_id_idx ON ingestion_event (api_key_id)",
        params=None,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0002_append_only_triggers"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="api_key",
                    field=models.ForeignKey(
                        blank=True,
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
