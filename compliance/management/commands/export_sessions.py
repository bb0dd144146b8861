"""``manage.py export_sessions --out DIR``: sessions exported into folders, with a manifest."""

from __future__ import annotations

import getpass
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from compliance import services, statements
from compliance.exports.context import Actor
from compliance.models import ExportFormat
from ingestion.models import EvidenceClass, Project, Session
from ingestion.selectors import sessions_for_project


def _moment(value: str, *, end_of_day: bool) -> datetime:
    """A date (its start, or the start of the next day) or an ISO datetime, in UTC.

    The date is tried first: ``parse_datetime`` also reads a bare date, as its midnight, which
    would make ``--until <day>`` leave that day out.
    """
    day = parse_date(value)
    if day is not None:
        return datetime.combine(day + timedelta(days=end_of_day), time(), tzinfo=UTC)
    moment = parse_datetime(value)
    if moment is None:
        raise ValueError(f"not a date or datetime: {value!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _formats(value: str) -> list[str]:
    chosen = [part.strip() for part in value.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(ExportFormat.values))
    if unknown or not chosen:
        raise ValueError(f"formats are a comma-separated subset of {','.join(ExportFormat.values)}")
    return chosen


class Command(BaseCommand):
    help = (
        "Export sessions into OUT/<session id>/ (one file per format) and write OUT/manifest.json "
        "(RFC 8785) listing every file with its SHA-256 and verification status. Files already "
        "present as a recorded export of the session's current chain are kept, with the "
        "verification recorded when they were written (verify_sessions re-checks the "
        "database); anything else is (re)written. A PDF comes with the compliance JSON it "
        "cites and carries it. Sessions that fail verification are exported and flagged, and "
        "make the command exit with status 1. A session that was started and never received "
        "an event is exported and reported as such (NO EVENTS), without failing the command: "
        "there is nothing to verify, which is not a sign of tampering."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="output folder")
        parser.add_argument(
            "--format",
            dest="formats",
            type=_formats,
            default=list(ExportFormat.values),
            help="comma-separated: json,jsonl,pdf (default: all three)",
        )
        parser.add_argument(
            "--since",
            type=lambda v: _moment(v, end_of_day=False),
            help="sessions created on or after this date (or ISO datetime), UTC",
        )
        parser.add_argument(
            "--until",
            type=lambda v: _moment(v, end_of_day=True),
            help="sessions created up to this date included (or before this ISO datetime), UTC",
        )
        parser.add_argument("--evidence-class", choices=EvidenceClass.values)
        parser.add_argument("--agent", help="agent id")
        parser.add_argument("--project", help="project name")
        parser.add_argument(
            "--session",
            dest="sessions",
            nargs="+",
            action="extend",
            type=uuid.UUID,
            metavar="UUID",
            help="only these sessions",
        )
        parser.add_argument(
            "--jobs", type=int, default=1, help="sessions exported at once (threads)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options) -> None:
        out: Path = options["out"]
        jobs: int = options["jobs"]
        if jobs < 1:
            raise CommandError("--jobs must be 1 or more")
        sessions = self._sessions(options)
        actor = Actor.for_command("export_sessions", operator=getpass.getuser())
        out.mkdir(parents=True, exist_ok=True)

        results: list[services.SessionFiles] = []
        errors: list[tuple[Session, Exception]] = []
        progress = tqdm(
            total=len(sessions),
            unit="session",
            desc="export",
            file=sys.stderr,
            disable=options["no_progress"],
        )

        def export(session: Session) -> services.SessionFiles:
            return services.session_files_export(
                session=session,
                folder=out / str(session.pk),
                formats=options["formats"],
                actor=actor,
            )

        def export_in_thread(session: Session) -> services.SessionFiles:
            try:
                return export(session)
            finally:
                connection.close()  # the worker thread's own connection

        with progress:
            if jobs == 1:
                for session in sessions:
                    try:
                        results.append(export(session))
                    except Exception as exc:  # reported below; the other sessions go on
                        errors.append((session, exc))
                    progress.update()
            else:
                with ThreadPoolExecutor(max_workers=jobs) as pool:
                    futures = {pool.submit(export_in_thread, s): s for s in sessions}
                    for future in as_completed(futures):
                        try:
                            results.append(future.result())
                        except Exception as exc:
                            errors.append((futures[future], exc))
                        progress.update()

        manifest = services.export_manifest_write(
            out_dir=out, results=results, generated_by=actor.name
        )
        self._report(results, errors, manifest, out)

    def _sessions(self, options: dict) -> list[Session]:
        project = None
        if options["project"] is not None:
            project = Project.objects.filter(name=options["project"]).first()
            if project is None:
                raise CommandError(f"no project named {options['project']!r}")
        session_ids = options["sessions"] or None
        sessions = list(
            sessions_for_project(
                project=project,
                agent_id=options["agent"],
                evidence_class=options["evidence_class"],
                created_after=options["since"],
                created_before=options["until"],
                session_ids=session_ids,
                newest_first=False,
            )
        )
        if session_ids is not None:
            missing = sorted(str(i) for i in set(session_ids) - {s.pk for s in sessions})
            if missing:
                raise CommandError(f"no such session (or filtered out): {', '.join(missing)}")
        return sessions

    def _report(self, results, errors, manifest, out: Path) -> None:
        written = sum(not f.skipped for r in results for f in r.files)
        kept = sum(f.skipped for r in results for f in r.files)
        flagged = [r for r in results if r.failed]
        without_events = [r for r in results if r.no_events]
        for result in sorted(without_events, key=lambda r: str(r.session.pk)):
            self.stdout.write(f"NO EVENTS {result.session.pk}: {statements.NO_EVENTS}")
        for result in sorted(flagged, key=lambda r: str(r.session.pk)):
            self.stdout.write(
                f"FLAGGED {result.session.pk}: verification {result.verification_status} "
                "(exported; see manifest.json)"
            )
        for session, exc in errors:
            self.stderr.write(f"ERROR {session.pk}: {type(exc).__name__}: {exc}")
        self.stdout.write(
            f"{len(results)} session(s) exported to {out}: {written} file(s) written, "
            f"{kept} already present; {len(flagged)} flagged; {len(without_events)} with no "
            f"events; manifest lists "
            f"{manifest['summary']['sessions']} session(s)"
        )
        if flagged or errors:
            raise CommandError(
                f"{len(flagged)} session(s) failed verification, {len(errors)} could not be "
                "exported",
                returncode=1,
            )
