"""Erase a data subject's personal data (GDPR Art. 17), keeping every chain verifiable.

    manage.py erase_personal_data --project acme --subject jane.doe@example.org \\
        --request-ref DSR-2026-0042 --reason "GDPR Art. 17 request"          # dry run
    manage.py erase_personal_data ... --execute --report erasure.json       # erase
    manage.py erase_personal_data --session ID --events 3,7 --request-ref ... --reason ...

A dry run (the default) lists the sessions and events that would be erased and every export
of the export ledger that already handed those payloads out. ``--execute`` erases them (the
erasure ledger first, in the same transaction) and writes the RFC 8785 report. Re-running is
idempotent: events already erased are reported as such and left alone.
"""

from __future__ import annotations

import getpass
import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.erasure import (
    ErasurePlan,
    erasure_execute,
    erasure_plan,
    erasure_report,
    erasure_report_bytes,
)
from ingestion.errors import IngestionError
from ingestion.models import Project, Session
from ingestion.services import Caller
from policy.subjects import subject_key_derived


def _numbers(text: str) -> list[int]:
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise CommandError("--events takes sequence numbers separated by commas") from exc
    if not numbers or min(numbers) < 0:
        raise CommandError("--events takes sequence numbers separated by commas")
    return numbers


class Command(BaseCommand):
    help = "Erase a data subject's event payloads (dry run unless --execute)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="project name (required with --subject)")
        parser.add_argument(
            "--subject", help="e-mail address, phone number, SSN, card number or IBAN"
        )
        parser.add_argument("--session", type=uuid.UUID, help="one session's id")
        parser.add_argument("--events", type=_numbers, help="sequence numbers, e.g. 3,7")
        parser.add_argument("--request-ref", required=True, help="the request's reference")
        parser.add_argument("--reason", required=True, help="legal basis / reason")
        parser.add_argument("--execute", action="store_true", help="erase (default: dry run)")
        parser.add_argument("--report", type=Path, help="write the JSON report to this file")

    def handle(self, *args, **options) -> None:
        caller = Caller.for_command("erase_personal_data", operator=getpass.getuser())
        try:
            plan = self._plan(options)
            if options["execute"]:
                report = erasure_execute(
                    plan=plan,
                    request_ref=options["request_ref"],
                    reason=options["reason"],
                    caller=caller,
                )
            else:
                from django.utils import timezone

                report = erasure_report(
                    plan=plan,
                    executed=False,
                    request_ref=options["request_ref"],
                    reason=options["reason"],
                    caller=caller,
                    at=timezone.now(),
                )
        except IngestionError as exc:
            raise CommandError(f"{exc.code}: {exc.message} {exc.details or ''}".strip()) from exc
        self._print(plan, report, options["execute"])
        if subject_key_derived():
            self.stderr.write(
                "note: AGENTOPS_SUBJECT_KEY is not set; subject fingerprints use a key derived"
                " from SECRET_KEY"
            )
        if options["report"]:
            options["report"].write_bytes(erasure_report_bytes(report))
            self.stdout.write(f"report written to {options['report']}")

    def _plan(self, options) -> ErasurePlan:
        project = None
        if options["project"]:
            project = Project.objects.filter(name=options["project"]).first()
            if project is None:
                raise CommandError(f"no project named {options['project']!r}")
        session = None
        if options["session"]:
            session = Session.objects.filter(pk=options["session"]).first()
            if session is None or (project is not None and session.project_id != project.pk):
                raise CommandError(f"no session {options['session']}")
        if options["events"] and session is None:
            raise CommandError("--events needs --session")
        if options["subject"] is None and session is None:
            raise CommandError("name a --subject (with --project) or a --session")
        if options["subject"] is not None and project is None:
            raise CommandError("--subject needs --project")
        return erasure_plan(
            project=project,
            subject=options["subject"],
            session=session,
            sequence_numbers=options["events"],
        )

    def _print(self, plan: ErasurePlan, report: dict, executed: bool) -> None:
        verb = "Erased" if executed else "Would erase (dry run)"
        self.stdout.write(
            f"{verb}: {plan.event_count} event(s) in {len(plan.sessions)} session(s);"
            f" {plan.event_count - plan.pending_count} already erased before."
        )
        for entry in report["sessions"]:
            numbers = ", ".join(str(e["sequence_number"]) for e in entry["events"])
            self.stdout.write(f"  session {entry['session_id']}: events {numbers}")
        exports = report["exports_already_handed_out"]
        self.stdout.write(f"Exports that already handed these payloads out: {len(exports)}")
        for export in exports:
            self.stdout.write(
                f"  {export['recorded_at']} {export['format']} {export['file_name']}"
                f" sha256 {export['sha256']} to {export['actor']}"
            )
        if not executed:
            self.stdout.write("Nothing was changed. Run again with --execute to erase.")
