from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0009_erasure_ledger")]

    operations: list = []
