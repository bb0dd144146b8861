"""Check that every missing payload is a recorded erasure: ``manage.py erasure_audit``.

A withheld payload keeps its hash, so verification passes whether the payload was erased
through the service (with its ledger row) or removed by someone who set the database's
triggers aside. This command tells the two apart: it lists every event whose stored payload
is missing without a row in the erasure ledger, and exits with status 1 if there is one.
"""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.erasure import erasures_unrecorded
from ingestion.models import Session


class Command(BaseCommand):
    help = "List payloads missing without a recorded erasure (exit status 1 if any)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--session", dest="sessions", nargs="+", type=uuid.UUID)

    def handle(self, *args, sessions: list[uuid.UUID] | None, **options) -> None:
        chosen = None if not sessions else Session.objects.filter(pk__in=sessions)
        found = erasures_unrecorded(sessions=chosen)
        for session_id, numbers in found.items():
            self.stdout.write(
                f"UNRECORDED {session_id}: payload of event(s) {', '.join(map(str, numbers))}"
                " missing without an erasure ledger row"
            )
        if found:
            raise CommandError(f"{len(found)} session(s) lost payloads outside the ledger")
        self.stdout.write("every missing payload is a recorded erasure")
