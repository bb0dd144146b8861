from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("compliance", "0008_matters_notes")]

    operations: list = []
