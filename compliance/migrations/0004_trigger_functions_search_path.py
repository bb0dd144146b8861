"""On PostgreSQL: the ledger's trigger function runs with a fixed search_path.

A function runs with the search_path of whoever fires it, pg_temp first unless it is named.
``compliance_refuse`` reads no table, so nothing can be shadowed in it today; it is declared
with ``SET search_path = <schema>, pg_temp`` all the same, so that every trigger function of
the project follows one rule (checked over the whole catalog by
ingestion/tests/test_trigger_search_path.py) and an edit that makes it read a table stays
safe. ALTER FUNCTION rather than a new body: the body does not change. The clause and the
schema (the migration's ``current_schema()``) come from ingestion's migration that set the
rule. SQLite has no search_path: nothing to do there.
"""

import importlib

from django.db import migrations

_rule = importlib.import_module("ingestion.migrations.0005_trigger_functions_search_path")

FUNCTIONS = ("compliance_refuse()",)


def harden(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    schema, search_path = _rule.search_path_fixed(connection)
    for function in FUNCTIONS:
        schema_editor.execute(f"ALTER FUNCTION {schema}.{function} {search_path}", params=None)


def soften(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for function in FUNCTIONS:
        schema_editor.execute(f"ALTER FUNCTION {function} RESET search_path", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0003_compliance_reviewers"),
        ("ingestion", "0005_trigger_functions_search_path"),
    ]

    operations = [migrations.RunPython(harden, soften)]
