"""The database cache table shared by all workers (``dbcache://agentops_cache``).

Rate limits count in the default cache; a cache local to each gunicorn worker would give every
worker a budget of its own. Django's ``createcachetable`` defines the table; running it here
gives every database (and every test database) the table through ``migrate``.
"""

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

TABLE = "agentops_cache"


def table_create(apps, schema_editor):
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, TABLE, dry_run=False)


def table_drop(apps, schema_editor):
    quote_name = schema_editor.connection.ops.quote_name
    schema_editor.execute(f"DROP TABLE IF EXISTS {quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0006_verification_history"),
    ]

    operations = [
        migrations.RunPython(table_create, table_drop, elidable=False),
    ]
