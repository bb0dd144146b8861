from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("policy", "0002_findings_append_only"), ("ingestion", "0009_erasure_ledger")]

    operations: list = []
