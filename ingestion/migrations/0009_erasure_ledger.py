from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0008_event_id_index")]

    operations: list = []
