from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("compliance", "0006_export_jobs")]

    operations: list = []
