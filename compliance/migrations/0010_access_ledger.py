"""The access ledger (compliance.access_models): append-only, and who may read it.

Its rows can never be UPDATEd or DELETEd, nor TRUNCATEd on PostgreSQL, as in the export
ledger (0002): the same trigger function ``compliance_refuse``, already declared with a fixed
search_path (0004), called by its schema-qualified name on the schema-qualified table. SQLite
refuses "DELETE FROM t" row by row (no truncate optimisation for a table with triggers); a
later migration that makes Django rebuild this table on SQLite must create the triggers again
(compliance/tests/test_access_ledger.py fails if they are missing).

Who reads it: the new group "Compliance administrators" views every row and exports the list
as CSV (``browse_access_ledger``); the reviewers' group (0003) gets the view permission, and
the console shows each reviewer their own rows only. Django makes the default permissions
only after every migration has run (post_migrate), so they are made here; post_migrate then
finds them.
"""

import importlib

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

_rule = importlib.import_module("ingestion.migrations.0005_trigger_functions_search_path")
_reviewers = importlib.import_module("compliance.migrations.0003_compliance_reviewers")

TABLE = "compliance_accessrecord"
ADMINISTRATORS = "Compliance administrators"
REVIEWERS = _reviewers.GROUP_NAME

# trigger name -> (operation, message), the same words on both databases.
REFUSALS = {
    "compliance_access_no_update": ("UPDATE", "append-only: access records cannot be updated"),
    "compliance_access_no_delete": ("DELETE", "append-only: access records cannot be deleted"),
}
TRUNCATE_REFUSAL = (
    "compliance_access_no_truncate",
    "append-only: access records cannot be truncated",
)


def _postgresql_forward(connection) -> list[str]:
    schema, _ = _rule.search_path_fixed(connection)
    statements = [
        f"CREATE TRIGGER {name} BEFORE {operation} ON {schema}.{TABLE} FOR EACH ROW"
        f" EXECUTE FUNCTION {schema}.compliance_refuse('{message}')"
        for name, (operation, message) in REFUSALS.items()
    ]
    name, message = TRUNCATE_REFUSAL
    statements.append(
        f"CREATE TRIGGER {name} BEFORE TRUNCATE ON {schema}.{TABLE} FOR EACH STATEMENT"
        f" EXECUTE FUNCTION {schema}.compliance_refuse('{message}')"
    )
    return statements


def _postgresql_reverse(connection) -> list[str]:
    names = [TRUNCATE_REFUSAL[0], *reversed(REFUSALS)]
    return [f"DROP TRIGGER IF EXISTS {name} ON {TABLE}" for name in names]


SQLITE_FORWARD = [
    f"CREATE TRIGGER {name} BEFORE {operation} ON {TABLE}"
    f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
    for name, (operation, message) in REFUSALS.items()
]

SQLITE_REVERSE = [f"DROP TRIGGER IF EXISTS {name}" for name in reversed(REFUSALS)]


def _run(schema_editor, forward: bool) -> None:
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        statements = (_postgresql_forward if forward else _postgresql_reverse)(connection)
    elif connection.vendor == "sqlite":
        statements = SQLITE_FORWARD if forward else SQLITE_REVERSE
    else:
        # A ledger without its guarantee must not exist: refuse to migrate.
        raise NotImplementedError(f"no append-only triggers written for {connection.vendor}")
    for statement in statements:
        schema_editor.execute(statement, params=None)


def create_triggers(apps, schema_editor):
    _run(schema_editor, forward=True)


def drop_triggers(apps, schema_editor):
    _run(schema_editor, forward=False)


def _permissions(apps, db):
    view = _reviewers._permission(
        apps, db, "compliance", "accessrecord", "view_accessrecord", "Can view access record"
    )
    browse = _reviewers._permission(
        apps,
        db,
        "compliance",
        "accessrecord",
        "browse_access_ledger",
        "Can browse everyone's access records and export them",
    )
    return view, browse


def groups_grant(apps, schema_editor):
    db = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    view, browse = _permissions(apps, db)
    administrators, _ = Group.objects.using(db).get_or_create(name=ADMINISTRATORS)
    administrators.permissions.add(view, browse)
    reviewers, _ = Group.objects.using(db).get_or_create(name=REVIEWERS)
    reviewers.permissions.add(view)


def groups_revoke(apps, schema_editor):
    db = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    Group.objects.using(db).filter(name=ADMINISTRATORS).delete()
    view, _ = _permissions(apps, db)
    for reviewers in Group.objects.using(db).filter(name=REVIEWERS):
        reviewers.permissions.remove(view)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0009_saved_filters"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AccessRecord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
                ("username", models.CharField(blank=True, default="", max_length=150)),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("view_session", "View session page"),
                            ("view_timeline", "View timeline page"),
                            ("view_transcript", "View transcript"),
                            ("view_matter", "View matter"),
                            ("view_finding", "View finding"),
                            ("verify", "Verification"),
                            ("view_pdf", "View PDF report"),
                            ("download", "Download"),
                            ("view_export_job", "View export job"),
                            ("search", "Search"),
                            ("export_csv", "Export list as CSV"),
                            ("other", "Other console page"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("allowed", "Allowed"),
                            ("refused", "Refused"),
                            ("failed", "Failed (server error)"),
                        ],
                        max_length=8,
                    ),
                ),
                ("session_id", models.UUIDField(blank=True, null=True)),
                ("detail", models.CharField(blank=True, default="", max_length=500)),
                ("view_name", models.CharField(max_length=200)),
                ("path", models.CharField(max_length=500)),
                ("method", models.CharField(max_length=10)),
                ("status_code", models.PositiveSmallIntegerField()),
                ("client_address", models.CharField(blank=True, default="", max_length=64)),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="agentops_access_records",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "access record",
                "verbose_name_plural": "access records",
                "permissions": [
                    (
                        "browse_access_ledger",
                        "Can browse everyone's access records and export them",
                    )
                ],
                "indexes": [
                    models.Index(fields=["user", "-at"], name="access_user_idx"),
                    models.Index(fields=["session_id", "-at"], name="access_session_idx"),
                    models.Index(fields=["-at"], name="access_at_idx"),
                ],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
        migrations.RunPython(groups_grant, groups_revoke),
    ]
