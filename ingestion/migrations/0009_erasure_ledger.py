"""The erasure ledger, and the one change an event may ever undergo: its payload withheld.

- ``ingestion_erasure`` rows can never be UPDATEd or DELETEd (nor TRUNCATEd on PostgreSQL).
  A ledger row can only name an event that exists with that sequence number, event id and
  payload hash: the ledger never records a hash the chain does not hold.
- ``ingestion_event``: the blanket UPDATE refusal of 0002 becomes a refusal of every UPDATE
  but one. ``payload_jcs`` may go from a text to NULL, every other column staying exactly
  as it was (so no chain field is ever writable), and only when the ledger holds a row for
  that very event (session, sequence number, event id, payload hash). On PostgreSQL that
  row must have been inserted by the same transaction: the ledger's insert trigger writes
  ``txid_current()`` into ``transaction_id`` whatever the inserter sent, and the event
  trigger compares it with its own transaction. SQLite exposes no transaction id to SQL, so
  there a ledger row of any transaction counts; as ledger rows can never be removed, the
  ledger still names every withheld payload.
- Withholding an already withheld payload (NULL to NULL) is refused too: it is not an erasure.

The columns compared on SQLite are those of ingestion_event as of this migration; a later
migration that adds a column to ingestion_event must recreate this trigger with it (on
PostgreSQL the comparison covers every column, as a row). SQLite drops a table's triggers when
Django rebuilds it: ingestion/tests/test_erasure_triggers.py fails if they are missing.
"""

import importlib

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

_append_only = importlib.import_module("ingestion.migrations.0002_append_only_triggers")
_rule = importlib.import_module("ingestion.migrations.0005_trigger_functions_search_path")

UPDATE_TRIGGER = "ingestion_event_no_update"
UPDATE_REFUSAL = (
    "append-only: events cannot be updated; only a payload erased under an erasure ledger"
    " row for that event may be withheld"
)

#: ingestion_event's columns but payload_jcs, as of this migration (SQLite compares them).
EVENT_COLUMNS = (
    "id",
    "session_id",
    "sequence_number",
    "event_id",
    "timestamp_wall",
    "timestamp_monotonic",
    "event_type",
    "source_sdk_ver",
    "schema_ver",
    "payload_hash",
    "prev_event_hash",
    "event_hash",
    "chain_authority",
    "authority_id",
    "received_at",
    "api_key_id",
)

LEDGER_REFUSALS = {
    "ingestion_erasure_no_update": ("UPDATE", "append-only: the erasure ledger cannot be updated"),
    "ingestion_erasure_no_delete": ("DELETE", "append-only: the erasure ledger cannot be deleted"),
}
LEDGER_TRUNCATE = (
    "ingestion_erasure_no_truncate",
    "append-only: the erasure ledger cannot be truncated",
)
LEDGER_UNKNOWN_EVENT = "an erasure ledger row must name a stored event and its payload hash"


def _ledger_matches(schema: str, alias: str, extra: str = "") -> str:
    """SQL: a ledger row exists for the event ``alias`` (OLD) names."""
    return (
        f"EXISTS (SELECT 1 FROM {schema}ingestion_erasure e"  # noqa: S608
        f" WHERE e.session_id = {alias}.session_id"
        f" AND e.sequence_number = {alias}.sequence_number"
        f" AND e.event_id = {alias}.event_id AND e.payload_hash = {alias}.payload_hash{extra})"
    )


def _postgresql_forward(connection) -> list[str]:
    schema, search_path = _rule.search_path_fixed(connection)
    same_transaction = " AND e.transaction_id = txid_current()"
    return [
        f"""
        CREATE FUNCTION {schema}.ingestion_event_erase_only() RETURNS trigger
        LANGUAGE plpgsql {search_path} AS $$
        BEGIN
            IF OLD.payload_jcs IS NOT NULL AND NEW.payload_jcs IS NULL
               AND (to_jsonb(NEW) - 'payload_jcs') = (to_jsonb(OLD) - 'payload_jcs')
               AND {_ledger_matches(f"{schema}.", "OLD", same_transaction)}
            THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION '{UPDATE_REFUSAL}' USING ERRCODE = 'restrict_violation';
        END
        $$
        """,
        f"""
        CREATE FUNCTION {schema}.ingestion_erasure_stamp() RETURNS trigger
        LANGUAGE plpgsql {search_path} AS $$
        BEGIN
            IF NOT EXISTS (
                SELECT 1 FROM {schema}.ingestion_event v
                 WHERE v.session_id = NEW.session_id AND v.sequence_number = NEW.sequence_number
                   AND v.event_id = NEW.event_id AND v.payload_hash = NEW.payload_hash
            ) THEN
                RAISE EXCEPTION '{LEDGER_UNKNOWN_EVENT}' USING ERRCODE = 'restrict_violation';
            END IF;
            NEW.transaction_id := txid_current();
            RETURN NEW;
        END
        $$
        """,  # noqa: S608 - constants of this migration, no input
        # A refusal of its own rather than 0002's ingestion_refuse, so that either can be
        # reversed without the other.
        f"""
        CREATE FUNCTION {schema}.ingestion_erasure_refuse() RETURNS trigger
        LANGUAGE plpgsql {search_path} AS $$
        BEGIN
            RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
        END
        $$
        """,
        f"DROP TRIGGER {UPDATE_TRIGGER} ON {schema}.ingestion_event",
        f"""
        CREATE TRIGGER {UPDATE_TRIGGER} BEFORE UPDATE ON {schema}.ingestion_event
        FOR EACH ROW EXECUTE FUNCTION {schema}.ingestion_event_erase_only()
        """,
        f"""
        CREATE TRIGGER ingestion_erasure_stamp BEFORE INSERT ON {schema}.ingestion_erasure
        FOR EACH ROW EXECUTE FUNCTION {schema}.ingestion_erasure_stamp()
        """,
        *(
            f"CREATE TRIGGER {name} BEFORE {operation} ON {schema}.ingestion_erasure"
            f" FOR EACH ROW EXECUTE FUNCTION {schema}.ingestion_erasure_refuse('{message}')"
            for name, (operation, message) in LEDGER_REFUSALS.items()
        ),
        f"CREATE TRIGGER {LEDGER_TRUNCATE[0]} BEFORE TRUNCATE ON {schema}.ingestion_erasure"
        f" FOR EACH STATEMENT"
        f" EXECUTE FUNCTION {schema}.ingestion_erasure_refuse('{LEDGER_TRUNCATE[1]}')",
    ]


def _original_update_trigger(vendor: str) -> str:
    (statement,) = (
        s
        for s in getattr(_append_only, f"{vendor.upper()}_FORWARD")
        if f"CREATE TRIGGER {UPDATE_TRIGGER} " in s
    )
    return statement


POSTGRESQL_REVERSE = [
    f"DROP TRIGGER {LEDGER_TRUNCATE[0]} ON ingestion_erasure",
    *(f"DROP TRIGGER {name} ON ingestion_erasure" for name in LEDGER_REFUSALS),
    "DROP TRIGGER ingestion_erasure_stamp ON ingestion_erasure",
    f"DROP TRIGGER {UPDATE_TRIGGER} ON ingestion_event",
    _original_update_trigger("postgresql"),
    "DROP FUNCTION ingestion_erasure_stamp()",
    "DROP FUNCTION ingestion_erasure_refuse()",
    "DROP FUNCTION ingestion_event_erase_only()",
]

_UNCHANGED = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in EVENT_COLUMNS)

SQLITE_FORWARD = [
    f"DROP TRIGGER {UPDATE_TRIGGER}",
    f"""
    CREATE TRIGGER {UPDATE_TRIGGER} BEFORE UPDATE ON ingestion_event
    WHEN NOT (
        OLD.payload_jcs IS NOT NULL AND NEW.payload_jcs IS NULL AND {_UNCHANGED}
        AND {_ledger_matches("", "OLD")}
    )
    BEGIN SELECT RAISE(ABORT, '{UPDATE_REFUSAL}'); END
    """,
    f"""
    CREATE TRIGGER ingestion_erasure_stamp BEFORE INSERT ON ingestion_erasure
    WHEN NOT EXISTS (
        SELECT 1 FROM ingestion_event v
         WHERE v.session_id = NEW.session_id AND v.sequence_number = NEW.sequence_number
           AND v.event_id = NEW.event_id AND v.payload_hash = NEW.payload_hash
    )
    BEGIN SELECT RAISE(ABORT, '{LEDGER_UNKNOWN_EVENT}'); END
    """,  # noqa: S608 - constants of this migration, no input
    *(
        f"CREATE TRIGGER {name} BEFORE {operation} ON ingestion_erasure"
        f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
        for name, (operation, message) in LEDGER_REFUSALS.items()
    ),
]

SQLITE_REVERSE = [
    *(f"DROP TRIGGER {name}" for name in LEDGER_REFUSALS),
    "DROP TRIGGER ingestion_erasure_stamp",
    f"DROP TRIGGER {UPDATE_TRIGGER}",
    _original_update_trigger("sqlite"),
]


def _run(schema_editor, forward: bool) -> None:
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        statements = _postgresql_forward(connection) if forward else POSTGRESQL_REVERSE
    elif connection.vendor == "sqlite":
        statements = SQLITE_FORWARD if forward else SQLITE_REVERSE
    else:
        # A ledger without its guarantee must not exist: refuse to migrate.
        raise NotImplementedError(f"no erasure triggers written for {connection.vendor}")
    for statement in statements:
        schema_editor.execute(statement, params=None)


def create_triggers(apps, schema_editor):
    _run(schema_editor, forward=True)


def drop_triggers(apps, schema_editor):
    _run(schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0008_event_id_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Erasure",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sequence_number", models.BigIntegerField()),
                ("event_id", models.CharField(max_length=36)),
                ("payload_hash", models.CharField(max_length=64)),
                ("erased_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "request_ref",
                    models.CharField(max_length=200, verbose_name="request reference"),
                ),
                (
                    "reason",
                    models.CharField(max_length=500, verbose_name="legal basis / reason"),
                ),
                ("actor", models.CharField(max_length=300)),
                (
                    "transaction_id",
                    models.BigIntegerField(blank=True, editable=False, null=True),
                ),
                (
                    "session",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="erasures",
                        to="ingestion.session",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="agentops_erasures",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "erasure",
                "verbose_name_plural": "erasure ledger",
                "permissions": [
                    ("erase_personal_data", "Can erase personal data (withhold payloads)")
                ],
                "indexes": [
                    models.Index(fields=["request_ref"], name="erasure_request_idx"),
                    models.Index(fields=["-erased_at"], name="erasure_erased_at_idx"),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("session", "sequence_number"),
                        name="erasure_session_sequence_uniq",
                    )
                ],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
