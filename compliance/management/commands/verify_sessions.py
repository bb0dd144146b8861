"""``manage.py verify_sessions``: recompute stored chains and name what no longer verifies."""

from __future__ import annotations

import getpass
import uuid

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import statements
from compliance.exports.context import Actor
from compliance.services import sessions_verify


class Command(BaseCommand):
    help = (
        "Recompute every stored chain (or the given sessions') from the database and name each "
        "session and event that no longer verifies. Exit status 1 if any session fails. "
        "-v 2 also lists the sessions that pass."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--session",
            dest="sessions",
            nargs="+",
            action="extend",
            type=uuid.UUID,
            metavar="UUID",
            help="only these sessions",
        )

    def handle(self, *args, sessions: list[uuid.UUID] | None, verbosity: int, **options) -> None:
        checked = passed = empty = 0
        failed = []
        seen = set()
        actor = Actor.for_command("verify_sessions", operator=getpass.getuser())
        for check in sessions_verify(session_ids=sessions, actor=actor):
            session = check.session
            seen.add(session.pk)
            checked += 1
            if check.report is None and statements.session_without_events(
                head_sequence=session.head_sequence, events_read=0
            ):
                empty += 1
                self.stdout.write(f"NO EVENTS {session.pk}: {statements.NO_EVENTS}")
                continue
            if check.report is None:
                # The service accepted events that are no longer stored: removed behind its back.
                failed.append(session.pk)
                self.stdout.write(
                    f"FAIL {session.pk} (agent {session.agent_id}, project "
                    f"{session.project.name}): the service accepted events up to sequence "
                    f"{session.head_sequence}, but none is stored [EMPTY_LOG]"
                )
                continue
            report = check.report
            if not check.failed:
                passed += 1
                if verbosity >= 2:
                    self.stdout.write(f"PASS {session.pk} {report['evidence_class']}")
                continue
            failed.append(session.pk)
            violations = report["violations"]
            self.stdout.write(
                f"FAIL {session.pk} (agent {session.agent_id}, project {session.project.name}): "
                f"{len(violations)} violation(s)"
            )
            for violation in violations:
                where = (
                    f"event #{violation['sequence_number']}"
                    if violation["sequence_number"] is not None
                    else "session"
                )
                if violation["event_id"] is not None:
                    where += f" ({violation['event_id']})"
                self.stdout.write(f"  {where} {violation['type']}: {violation['message']}")
        missing = sorted(str(pk) for pk in set(sessions or ()) - seen)
        for pk in missing:
            self.stderr.write(f"NOT FOUND {pk}")
        self.stdout.write(
            f"{checked} session(s) checked: {passed} passed, {len(failed)} failed, "
            f"{empty} with no events (nothing to verify)"
        )
        if failed or missing:
            raise CommandError(
                f"{len(failed)} session(s) failed verification"
                + (f", {len(missing)} not found" if missing else ""),
                returncode=1,
            )
