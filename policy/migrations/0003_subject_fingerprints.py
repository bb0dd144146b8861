"""Keyed subject fingerprints, and findings whose previews an erasure can take back.

- ``policy_subjectfingerprint``: one keyed fingerprint (HMAC-SHA-256, ``policy.subjects``) per
  piece of personal data per stored event, so that a data subject's events are found without
  keeping the value. Rows are only added: UPDATE and DELETE are refused (and TRUNCATE on
  PostgreSQL), like the findings they go with. Existing sessions get theirs from
  ``manage.py subject_fingerprints_record`` (it reads the stored payloads and needs the key,
  which a migration must not depend on).
- ``policy_findings`` stays append-only but for one change, tied to the erasure ledger
  (ingestion/0009): the masked ``preview`` of each PII finding of an erased event, and of
  each argument of an erased TOOL_CALL in the tool audit, may become null. Every other
  column, every other element and every other key must stay exactly as they were: the new
  ``pii_findings`` and ``tool_audit`` must equal the old ones with exactly those previews
  nulled, for the events of this session that the ledger names (on PostgreSQL: ledger rows
  of the same transaction; on SQLite, which has no transaction id in SQL: any ledger row).
  The finding itself (kind, path, sequence number, event id) remains.

SQLite compares the columns of policy_findings as of this migration; a later migration that
adds one must recreate the trigger. tests/security/test_erasure_triggers_policy.py fails if
the triggers are missing.
"""

import importlib

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

_rule = importlib.import_module("ingestion.migrations.0005_trigger_functions_search_path")
_findings = importlib.import_module("policy.migrations.0002_findings_append_only")

UPDATE_TRIGGER = "policy_findings_no_update"
UPDATE_REFUSAL = (
    "append-only: policy findings cannot be updated; only the previews of erased events"
    " may be withdrawn"
)
FINDINGS_COLUMNS = (
    "id",
    "session_id",
    "policy_name",
    "policy_sha256",
    "evaluated_at",
    "passed",
    "event_count",
    "pii_count",
    "rules_failed",
    "summary",
    "rule_results",
)
FP_REFUSALS = {
    "policy_fingerprint_no_update": ("UPDATE", "append-only: fingerprints cannot be updated"),
    "policy_fingerprint_no_delete": ("DELETE", "append-only: fingerprints cannot be deleted"),
}
FP_TRUNCATE = ("policy_fingerprint_no_truncate", "append-only: fingerprints cannot be truncated")


def _postgresql_forward(connection) -> list[str]:
    schema, search_path = _rule.search_path_fixed(connection)
    return [
        f"""
        CREATE FUNCTION {schema}.policy_findings_erase_only() RETURNS trigger
        LANGUAGE plpgsql {search_path} AS $$
        DECLARE
            erased bigint[];
            expected_pii jsonb;
            expected_audit jsonb;
        BEGIN
            erased := ARRAY(
                SELECT sequence_number FROM {schema}.ingestion_erasure
                 WHERE session_id = OLD.session_id AND transaction_id = txid_current()
            );
            IF cardinality(erased) > 0
               AND (to_jsonb(NEW) - 'pii_findings' - 'tool_audit')
                   = (to_jsonb(OLD) - 'pii_findings' - 'tool_audit')
            THEN
                SELECT coalesce(jsonb_agg(
                           CASE WHEN (f ->> 'sequence_number')::bigint = ANY (erased)
                                THEN jsonb_set(f, '{{preview}}', 'null') ELSE f END
                           ORDER BY i), '[]'::jsonb)
                  INTO expected_pii
                  FROM jsonb_array_elements(OLD.pii_findings) WITH ORDINALITY AS x (f, i);
                expected_audit := OLD.tool_audit;
                IF jsonb_typeof(OLD.tool_audit -> 'calls') = 'array' THEN
                    SELECT jsonb_set(OLD.tool_audit, '{{calls}}', coalesce(jsonb_agg(
                               CASE WHEN (c ->> 'call_sequence_number')::bigint = ANY (erased)
                                     AND jsonb_typeof(c -> 'args') = 'array'
                                    THEN jsonb_set(c, '{{args}}', (
                                        SELECT coalesce(jsonb_agg(
                                                   jsonb_set(a, '{{preview}}', 'null')
                                                   ORDER BY k), '[]'::jsonb)
                                          FROM jsonb_array_elements(c -> 'args')
                                               WITH ORDINALITY AS y (a, k)))
                                    ELSE c END
                               ORDER BY i), '[]'::jsonb))
                      INTO expected_audit
                      FROM jsonb_array_elements(OLD.tool_audit -> 'calls')
                           WITH ORDINALITY AS x (c, i);
                END IF;
                IF NEW.pii_findings = expected_pii AND NEW.tool_audit = expected_audit THEN
                    RETURN NEW;
                END IF;
            END IF;
            RAISE EXCEPTION '{UPDATE_REFUSAL}' USING ERRCODE = 'restrict_violation';
        END
        $$
        """,  # noqa: S608 - constants of this migration, no input
        # A refusal of its own rather than 0002's policy_refuse, so that either can be
        # reversed without the other.
        f"""
        CREATE FUNCTION {schema}.policy_fingerprint_refuse() RETURNS trigger
        LANGUAGE plpgsql {search_path} AS $$
        BEGIN
            RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
        END
        $$
        """,
        f"DROP TRIGGER {UPDATE_TRIGGER} ON {schema}.policy_findings",
        f"CREATE TRIGGER {UPDATE_TRIGGER} BEFORE UPDATE ON {schema}.policy_findings"
        f" FOR EACH ROW EXECUTE FUNCTION {schema}.policy_findings_erase_only()",
        *(
            f"CREATE TRIGGER {name} BEFORE {operation} ON {schema}.policy_subjectfingerprint"
            f" FOR EACH ROW EXECUTE FUNCTION {schema}.policy_fingerprint_refuse('{message}')"
            for name, (operation, message) in FP_REFUSALS.items()
        ),
        f"CREATE TRIGGER {FP_TRUNCATE[0]} BEFORE TRUNCATE ON {schema}.policy_subjectfingerprint"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {schema}.policy_fingerprint_refuse('{FP_TRUNCATE[1]}')",
    ]


def _original_update_trigger(connection) -> str:
    if connection.vendor == "postgresql":
        statements = _findings._postgresql_forward(connection)
    else:
        statements = _findings.SQLITE_FORWARD
    (statement,) = (s for s in statements if f"CREATE TRIGGER {UPDATE_TRIGGER} " in s)
    return statement


def _postgresql_reverse(connection) -> list[str]:
    return [
        f"DROP TRIGGER {FP_TRUNCATE[0]} ON policy_subjectfingerprint",
        *(f"DROP TRIGGER {name} ON policy_subjectfingerprint" for name in FP_REFUSALS),
        f"DROP TRIGGER {UPDATE_TRIGGER} ON policy_findings",
        _original_update_trigger(connection),
        "DROP FUNCTION policy_findings_erase_only()",
        "DROP FUNCTION policy_fingerprint_refuse()",
    ]


_SQLITE_ERASED = (
    "EXISTS (SELECT 1 FROM ingestion_erasure e WHERE e.session_id = OLD.session_id"
    " AND e.sequence_number = json_extract({value}, '$.{field}'))"
)
_SQLITE_EXPECTED_PII = f"""
    (SELECT json_group_array(CASE WHEN {
    _SQLITE_ERASED.format(value="f.value", field="sequence_number")
}
                                  THEN json_set(f.value, '$.preview', json('null'))
                                  ELSE json(f.value) END)
       FROM json_each(OLD.pii_findings) f)
"""  # noqa: S608 - constants of this migration, no input
_SQLITE_EXPECTED_AUDIT = f"""
    CASE WHEN json_type(OLD.tool_audit, '$.calls') = 'array' THEN
        json_set(OLD.tool_audit, '$.calls', json((
            SELECT json_group_array(
                CASE WHEN {_SQLITE_ERASED.format(value="c.value", field="call_sequence_number")}
                          AND json_type(c.value, '$.args') = 'array'
                     THEN json_set(c.value, '$.args', json((
                         SELECT json_group_array(json_set(a.value, '$.preview', json('null')))
                           FROM json_each(c.value, '$.args') a)))
                     ELSE json(c.value) END)
              FROM json_each(OLD.tool_audit, '$.calls') c)))
    ELSE json(OLD.tool_audit) END
"""  # noqa: S608 - constants of this migration, no input
_SQLITE_UNCHANGED = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in FINDINGS_COLUMNS)


def _sqlite_forward() -> list[str]:
    return [
        f"DROP TRIGGER {UPDATE_TRIGGER}",
        f"""
        CREATE TRIGGER {UPDATE_TRIGGER} BEFORE UPDATE ON policy_findings
        WHEN NOT (
            {_SQLITE_UNCHANGED}
            AND EXISTS (SELECT 1 FROM ingestion_erasure WHERE session_id = OLD.session_id)
            AND json(NEW.pii_findings) IS {_SQLITE_EXPECTED_PII}
            AND json(NEW.tool_audit) IS {_SQLITE_EXPECTED_AUDIT}
        )
        BEGIN SELECT RAISE(ABORT, '{UPDATE_REFUSAL}'); END
        """,  # noqa: S608 - constants of this migration, no input
        *(
            f"CREATE TRIGGER {name} BEFORE {operation} ON policy_subjectfingerprint"
            f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
            for name, (operation, message) in FP_REFUSALS.items()
        ),
    ]


def _sqlite_reverse(connection) -> list[str]:
    return [
        *(f"DROP TRIGGER {name}" for name in FP_REFUSALS),
        f"DROP TRIGGER {UPDATE_TRIGGER}",
        _original_update_trigger(connection),
    ]


def _run(schema_editor, forward: bool) -> None:
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        statements = _postgresql_forward(connection) if forward else _postgresql_reverse(connection)
    elif connection.vendor == "sqlite":
        statements = _sqlite_forward() if forward else _sqlite_reverse(connection)
    else:
        raise NotImplementedError(f"no append-only triggers written for {connection.vendor}")
    for statement in statements:
        schema_editor.execute(statement, params=None)


def create_triggers(apps, schema_editor):
    _run(schema_editor, forward=True)


def drop_triggers(apps, schema_editor):
    _run(schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [("policy", "0002_findings_append_only"), ("ingestion", "0009_erasure_ledger")]

    operations = [
        migrations.CreateModel(
            name="SubjectFingerprint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sequence_number", models.BigIntegerField()),
                ("kind", models.CharField(max_length=16)),
                ("fingerprint", models.CharField(max_length=64)),
                ("recorded_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "session",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="subject_fingerprints",
                        to="ingestion.session",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["fingerprint"], name="fingerprint_value_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("session", "sequence_number", "kind", "fingerprint"),
                        name="fingerprint_event_uniq",
                    )
                ],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
