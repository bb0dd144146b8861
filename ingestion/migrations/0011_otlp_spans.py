from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0010_transparency_log")]

    operations: list = []
