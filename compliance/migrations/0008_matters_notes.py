from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("compliance", "0007_access_ledger")]

    operations: list = []
