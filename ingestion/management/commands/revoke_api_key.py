from django.core.management.base import BaseCommand, CommandError

from ingestion.errors import IngestionError
from ingestion.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (the part before the dot). This cannot be undone."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, prefix: str, **options):
        try:
            api_key = api_key_revoke(prefix=prefix)
        except IngestionError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"revoked {api_key.prefix} ({api_key.name}) of {api_key.project}")
