from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("compliance", "0005_export_pairs")]

    operations: list = []
