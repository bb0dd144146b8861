from django.apps import AppConfig


class IngestionConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ingestion"

    def ready(self) -> None:
        # Registers the OpenAPI description of the Bearer API-key scheme.
        # In production a missing or unreadable sealing key stops the process at start-up.
        from . import keys
        from .api import schema  # noqa: F401

        keys.startup_check()
