"""The export ledger records a compliance JSON handed out inside its PDF, and masked copies.

On SQLite, adding a column with a default makes Django rebuild the table, which drops its
triggers (see 0002); they are created again after each rebuild, in both directions.
"""

import importlib

from django.db import migrations, models

_triggers = importlib.import_module("compliance.migrations.0002_ledger_append_only_triggers")


def _sqlite_triggers_restore(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return  # PostgreSQL adds the columns in place and keeps its triggers
    for statement in (*_triggers.SQLITE_REVERSE, *_triggers.SQLITE_FORWARD):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0004_trigger_functions_search_path"),
    ]

    operations = [
        # Reversed last: after the columns are removed (another rebuild).
        migrations.RunPython(migrations.RunPython.noop, _sqlite_triggers_restore),
        migrations.AddField(
            model_name="exportrecord",
            name="attached_to_pdf",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="exportrecord",
            name="redacted",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(_sqlite_triggers_restore, migrations.RunPython.noop),
    ]
