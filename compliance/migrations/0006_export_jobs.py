"""Export jobs: exports made in the background (compliance.jobs)."""

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0005_export_pairs"),
        ("ingestion", "0002_append_only_triggers"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ExportJob",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "format",
                    models.CharField(
                        choices=[
                            ("json", "Compliance JSON"),
                            ("jsonl", "JSONL event log"),
                            ("pdf", "PDF report"),
                        ],
                        max_length=8,
                    ),
                ),
                ("redact", models.BooleanField(default=False)),
                (
                    "channel",
                    models.CharField(
                        choices=[
                            ("api", "API"),
                            ("admin", "Admin console"),
                            ("command", "Management command"),
                        ],
                        max_length=16,
                    ),
                ),
                ("actor", models.CharField(max_length=300)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("done", "Ready"),
                            ("failed", "Failed"),
                        ],
                        default="queued",
                        max_length=8,
                    ),
                ),
                ("stage", models.CharField(default="queued", max_length=40)),
                ("done", models.BigIntegerField(default=0)),
                ("total", models.BigIntegerField(default=0)),
                ("attempt", models.PositiveIntegerField(default=1)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("error", models.TextField(blank=True, default="")),
                ("file_path", models.CharField(blank=True, default="", max_length=500)),
                ("file_name", models.CharField(blank=True, default="", max_length=200)),
                ("sha256", models.CharField(blank=True, default="", max_length=64)),
                ("size_bytes", models.BigIntegerField(blank=True, null=True)),
                ("ledger", models.JSONField(blank=True, default=dict)),
                (
                    "api_key",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="export_jobs",
                        to="ingestion.apikey",
                    ),
                ),
                (
                    "session",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="export_jobs",
                        to="ingestion.session",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="agentops_export_jobs",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "export job",
                "indexes": [
                    models.Index(fields=["state", "heartbeat_at"], name="export_job_state_idx")
                ],
            },
        ),
    ]
