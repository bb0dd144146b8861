"""Shipped empty: this number was reserved before its content was written. It stays empty
for databases that already applied it; the content came in later migrations."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0011_otlp_spans")]

    operations: list = []
