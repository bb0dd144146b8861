"""Record the subject fingerprints of stored sessions (``policy.subjects``).

Sessions evaluated before fingerprints existed, or after AGENTOPS_SUBJECT_KEY changed, have
none (or ones under the old key): this reads their stored payloads again and records them.
Fingerprints already stored are skipped, so running it twice changes nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from ingestion.models import Session
from ingestion.selectors import session_envelopes
from policy import subjects
from policy.services import scanner_for_project


class Command(BaseCommand):
    help = "Record subject fingerprints of stored sessions (after an upgrade or a key change)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="only this project's sessions")

    def handle(self, *args, project: str | None, **options) -> None:
        sessions = Session.objects.select_related("project").order_by("created_at", "pk")
        if project:
            sessions = sessions.filter(project__name=project)
        count = recorded = 0
        for session in sessions.iterator(chunk_size=200):
            found = subjects.events_fingerprints(
                scanner=scanner_for_project(project=session.project),
                events=session_envelopes(session=session),
            )
            recorded += subjects.session_fingerprints_record(session=session, fingerprints=found)
            count += 1
        self.stdout.write(f"{count} session(s) read, {recorded} fingerprint(s) found")
