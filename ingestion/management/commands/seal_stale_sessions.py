from django.core.management.base import BaseCommand, CommandError

from ingestion.services import sessions_seal_stale


class Command(BaseCommand):
    help = "Seal open sessions that have received no event for the given number of minutes."

    def add_arguments(self, parser):
        parser.add_argument("--idle-minutes", type=int, required=True)

    def handle(self, *args, idle_minutes: int, **options):
        if idle_minutes < 0:
            raise CommandError("--idle-minutes must be 0 or more")
        sealed = sessions_seal_stale(idle_minutes=idle_minutes)
        for session in sealed:
            self.stdout.write(f"sealed {session.id} {session.evidence_class}")
        self.stdout.write(f"{len(sealed)} session(s) sealed")
