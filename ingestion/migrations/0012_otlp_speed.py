from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0011_otlp_spans")]

    operations: list = []
