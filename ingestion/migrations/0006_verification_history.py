"""The append-only history of verifications.

A sealed session's row is frozen (0002), so the verdict cached on it at seal time can never
show a change made to the stored events later. Every verification of a stored session
(the seal's own, the console's "Verify now", POST /api/v1/verify, manage.py verify_sessions,
each export) is now kept as one ingestion_verification row; the latest row is the session's
current verdict, the seal's row stays beside it.

ingestion_verification rows can never be UPDATEd or DELETEd, nor TRUNCATEd on PostgreSQL
(SQLite has no TRUNCATE: "DELETE FROM t" is refused row by row, since SQLite disables its
truncate optimisation for tables with triggers). The PostgreSQL function runs with a fixed
search_path (the schema migrated into, then pg_temp), so that no object another role places
earlier on a caller's path is ever resolved inside it.

Sessions sealed before this migration get their seal's verification as their first row,
taken from the session row (``verification``, ``sealed_at``).

SQLite drops a table's triggers when Django rebuilds the table to alter it: a later migration
that alters ingestion_verification on SQLite must create these triggers again.
ingestion/tests/test_verification_history.py fails if they are missing.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

FUNCTION = "ingestion_verification_refuse"

POSTGRESQL_TRIGGERS = [
    f"""
    CREATE TRIGGER ingestion_verification_no_update BEFORE UPDATE ON ingestion_verification
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}('append-only: verifications cannot be updated')
    """,
    f"""
    CREATE TRIGGER ingestion_verification_no_delete BEFORE DELETE ON ingestion_verification
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}('append-only: verifications cannot be deleted')
    """,
    f"""
    CREATE TRIGGER ingestion_verification_no_truncate BEFORE TRUNCATE ON ingestion_verification
    FOR EACH STATEMENT
    EXECUTE FUNCTION {FUNCTION}('append-only: verifications cannot be truncated')
    """,
]

POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS ingestion_verification_no_truncate ON ingestion_verification",
    "DROP TRIGGER IF EXISTS ingestion_verification_no_delete ON ingestion_verification",
    "DROP TRIGGER IF EXISTS ingestion_verification_no_update ON ingestion_verification",
    f"DROP FUNCTION IF EXISTS {FUNCTION}()",
]

SQLITE_FORWARD = [
    """
    CREATE TRIGGER ingestion_verification_no_update BEFORE UPDATE ON ingestion_verification
    BEGIN SELECT RAISE(ABORT, 'append-only: verifications cannot be updated'); END
    """,
    """
    CREATE TRIGGER ingestion_verification_no_delete BEFORE DELETE ON ingestion_verification
    BEGIN SELECT RAISE(ABORT, 'append-only: verifications cannot be deleted'); END
    """,
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS ingestion_verification_no_delete",
    "DROP TRIGGER IF EXISTS ingestion_verification_no_update",
]


def _postgresql_forward(schema_editor) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = connection.ops.quote_name(cursor.fetchone()[0])
    # A function of its own rather than ingestion_refuse of 0002, so that this history can
    # be reversed without touching the events' triggers.
    function = f"""
    CREATE FUNCTION {schema}.{FUNCTION}() RETURNS trigger LANGUAGE plpgsql
    SET search_path = {schema}, pg_temp AS $$
    BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
    END
    $$
    """
    return [function, *POSTGRESQL_TRIGGERS]


def _statements(schema_editor, direction: int) -> list[str]:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        return _postgresql_forward(schema_editor) if direction == 0 else POSTGRESQL_REVERSE
    if vendor == "sqlite":
        return SQLITE_FORWARD if direction == 0 else SQLITE_REVERSE
    # A history without its guarantee must not exist: refuse to migrate.
    raise NotImplementedError(f"no append-only triggers written for {vendor}")


def create_triggers(apps, schema_editor):
    for statement in _statements(schema_editor, 0):
        schema_editor.execute(statement, params=None)


def drop_triggers(apps, schema_editor):
    for statement in _statements(schema_editor, 1):
        schema_editor.execute(statement, params=None)


def seal_verifications_record(apps, schema_editor):
    """The seal-time verification of every session sealed before the history existed."""
    Session = apps.get_model("ingestion", "Session")
    Verification = apps.get_model("ingestion", "Verification")
    sealed = Session.objects.filter(sealed_at__isnull=False, verification__isnull=False)
    batch = []
    for session in sealed.order_by("sealed_at", "pk").iterator(chunk_size=500):
        report = session.verification
        passed = report.get("status") == "PASS"
        batch.append(
            Verification(
                session_id=session.pk,
                verified_at=session.sealed_at,
                trigger="seal",
                actor="the ingestion service, at seal (recorded before the history existed)",
                status="PASS" if passed else "FAIL",
                evidence_class=(passed and report.get("evidence_class")) or "FAILED",
                report=report,
                event_count=report.get("event_count") or session.event_count,
                last_sequence_number=session.head_sequence,
                last_event_hash=session.head_hash,
            )
        )
        if len(batch) >= 500:
            Verification.objects.bulk_create(batch)
            batch = []
    Verification.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0005_trigger_functions_search_path"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Verification",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("verified_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "trigger",
                    models.CharField(
                        choices=[
                            ("seal", "Seal"),
                            ("console", "Verify now (console)"),
                            ("api", "POST /api/v1/verify"),
                            ("command", "manage.py verify_sessions"),
                            ("export", "Export"),
                        ],
                        max_length=16,
                    ),
                ),
                ("actor", models.CharField(max_length=300)),
                (
                    "status",
                    models.CharField(choices=[("PASS", "Pass"), ("FAIL", "Fail")], max_length=4),
                ),
                (
                    "evidence_class",
                    models.CharField(
                        choices=[
                            ("AUTHORITATIVE_EVIDENCE", "Authoritative"),
                            ("PARTIAL_AUTHORITATIVE_EVIDENCE", "Partial Authoritative"),
                            ("NON_AUTHORITATIVE_EVIDENCE", "Non Authoritative"),
                            ("FAILED", "Failed"),
                        ],
                        max_length=40,
                    ),
                ),
                ("report", models.JSONField()),
                ("event_count", models.BigIntegerField()),
                ("last_sequence_number", models.BigIntegerField(blank=True, null=True)),
                ("last_event_hash", models.CharField(blank=True, max_length=64, null=True)),
                (
                    "api_key",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="verifications",
                        to="ingestion.apikey",
                    ),
                ),
                (
                    "session",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="verifications",
                        to="ingestion.session",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="agentops_verifications",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["session", "-verified_at", "-id"], name="verification_latest_idx"
                    )
                ],
            },
        ),
        migrations.RunPython(seal_verifications_record, migrations.RunPython.noop),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
