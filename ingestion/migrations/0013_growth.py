from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0012_otlp_speed")]

    operations: list = []
