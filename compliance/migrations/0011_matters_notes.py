"""Matters, their tagged sessions and reviewers' notes: three tables that only grow.

Each table refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) by a trigger, as the export
ledger does (0002): on PostgreSQL through the ledger's own ``compliance_refuse()``, whose
search_path 0004 fixed, with the tables and the function named with their schema; on SQLite
through ``RAISE(ABORT)``. Untagging a session is a new row, so nothing ever needs an UPDATE.

The indexes and constraints are part of ``CreateModel``: on SQLite a later AddConstraint
rebuilds the table and drops its triggers, so any later migration that alters one of these
tables on SQLite must create its triggers again (compliance/tests/test_matters.py fails if
they are missing).

The "Compliance reviewers" group (0003) may view matters, open one, tag and untag sessions
and write notes: the ``view_`` and ``add_`` permissions of the three models, made here since
Django makes default permissions only after every migration has run.
"""

import importlib

import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

_search_path = importlib.import_module("ingestion.migrations.0005_trigger_functions_search_path")
_reviewers = importlib.import_module("compliance.migrations.0003_compliance_reviewers")

#: table -> what its refusals call its rows
APPEND_ONLY_TABLES = {
    "compliance_matter": "matters",
    "compliance_mattersession": "matter tags",
    "compliance_note": "notes",
}

#: (model, verbose name) of each model; reviewers get its view_ and add_ permissions.
REVIEWER_MODELS = [
    ("matter", "matter"),
    ("mattersession", "matter tag"),
    ("note", "note"),
]


def _short(table: str) -> str:
    return table.removeprefix("compliance_")


def _postgresql_forward(schema: str) -> list[str]:
    statements = []
    for table, rows in APPEND_ONLY_TABLES.items():
        for operation, scope in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            verb = {"UPDATE": "updated", "DELETE": "deleted", "TRUNCATE": "truncated"}[operation]
            statements.append(
                f"CREATE TRIGGER compliance_{_short(table)}_no_{operation.lower()}"
                f" BEFORE {operation} ON {schema}.{table} FOR EACH {scope}"
                f" EXECUTE FUNCTION {schema}.compliance_refuse("
                f"'append-only: {rows} cannot be {verb}')"
            )
    return statements


def _postgresql_reverse(schema: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS compliance_{_short(table)}_no_{operation} ON {schema}.{table}"
        for table in APPEND_ONLY_TABLES
        for operation in ("truncate", "delete", "update")
    ]


def _sqlite_forward() -> list[str]:
    return [
        f"CREATE TRIGGER compliance_{_short(table)}_no_{operation.lower()}"
        f" BEFORE {operation} ON {table}"
        f" BEGIN SELECT RAISE(ABORT, 'append-only: {rows} cannot be {verb}'); END"
        for table, rows in APPEND_ONLY_TABLES.items()
        for operation, verb in (("UPDATE", "updated"), ("DELETE", "deleted"))
    ]


def _sqlite_reverse() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS compliance_{_short(table)}_no_{operation}"
        for table in APPEND_ONLY_TABLES
        for operation in ("delete", "update")
    ]


def _statements(connection, forward: bool) -> list[str]:
    if connection.vendor == "postgresql":
        schema, _ = _search_path.search_path_fixed(connection)
        return (_postgresql_forward if forward else _postgresql_reverse)(schema)
    if connection.vendor == "sqlite":
        return _sqlite_forward() if forward else _sqlite_reverse()
    # Evidence without its guarantee must not exist: refuse to migrate.
    raise NotImplementedError(f"no append-only triggers written for {connection.vendor}")


def create_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection, forward=True):
        schema_editor.execute(statement, params=None)


def drop_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection, forward=False):
        schema_editor.execute(statement, params=None)


def reviewers_matters_grant(apps, schema_editor):
    """The group may see matters, tag sessions and write notes (a new database, or the
    group made again by 0003's function after a test emptied every table)."""
    db = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    permissions = [
        _reviewers._permission(
            apps, db, "compliance", model, f"{action}_{model}", f"{label} {verbose}"
        )
        for model, verbose in REVIEWER_MODELS
        for action, label in (("view", "Can view"), ("add", "Can add"))
    ]
    group, _ = Group.objects.using(db).get_or_create(name=_reviewers.GROUP_NAME)
    group.permissions.add(*permissions)


def reviewers_matters_revoke(apps, schema_editor):
    db = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.using(db).filter(name=_reviewers.GROUP_NAME).first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.using(db).filter(
                content_type__app_label="compliance",
                content_type__model__in=[model for model, _ in REVIEWER_MODELS],
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0010_access_ledger"),
        ("ingestion", "0011_otlp_spans"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Matter",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=200)),
                ("description", models.TextField(blank=True, max_length=2000)),
                ("created_by_name", models.CharField(max_length=150)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="agentops_matters",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "matter",
                "verbose_name_plural": "matters",
                "ordering": ("-created_at", "-pk"),
                "constraints": [
                    models.UniqueConstraint(
                        django.db.models.functions.text.Lower("name"),
                        name="compliance_matter_name_ci_unique",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("name", ""), _negated=True),
                        name="compliance_matter_name_not_empty",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="MatterSession",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "action",
                    models.CharField(
                        choices=[("tag", "Tagged"), ("untag", "Untagged")], max_length=8
                    ),
                ),
                ("actor_name", models.CharField(max_length=150)),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
                ("reason", models.CharField(blank=True, max_length=500)),
                (
                    "actor",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="agentops_matter_tags",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "matter",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tag_events",
                        to="compliance.matter",
                    ),
                ),
                (
                    "session",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="matter_tag_events",
                        to="ingestion.session",
                    ),
                ),
            ],
            options={
                "verbose_name": "matter tag",
                "verbose_name_plural": "matter tags",
                "indexes": [
                    models.Index(fields=["matter", "session", "-id"], name="matter_tag_pair_idx"),
                    models.Index(fields=["session", "-id"], name="matter_tag_session_idx"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("action__in", ["tag", "untag"])),
                        name="compliance_mattersession_action_known",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="Note",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("author_name", models.CharField(max_length=150)),
                ("text", models.TextField(max_length=10000)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "author",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="agentops_notes",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "matter",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="notes",
                        to="compliance.matter",
                    ),
                ),
                (
                    "session",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reviewer_notes",
                        to="ingestion.session",
                    ),
                ),
            ],
            options={
                "verbose_name": "note",
                "verbose_name_plural": "notes",
                "ordering": ("created_at", "pk"),
                "indexes": [
                    models.Index(fields=["matter", "created_at"], name="note_matter_idx"),
                    models.Index(fields=["session", "created_at"], name="note_session_idx"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("matter__isnull", False), ("session__isnull", True)),
                            models.Q(("matter__isnull", True), ("session__isnull", False)),
                            _connector="OR",
                        ),
                        name="compliance_note_one_subject",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("text", ""), _negated=True),
                        name="compliance_note_text_not_empty",
                    ),
                ],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
        migrations.RunPython(reviewers_matters_grant, reviewers_matters_revoke),
    ]
