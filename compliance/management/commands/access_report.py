"""What one user (or everyone) looked at: ``manage.py access_report --user alice --since ...``.

Reads the access ledger (``compliance.access``), oldest row first::

    manage.py access_report --user alice --since 2026-01-01 [--until 2026-02-01]
                            [--session ID] [--format text|csv]

``--since`` and ``--until`` take a date or an ISO 8601 moment; a moment without an offset is
in the service's time zone. ``--since`` is included; ``--until`` is excluded, but a date alone
means up to the end of that day. CSV goes through ``compliance.csvout`` like every other.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from compliance.access import ACCESS_CSV_HEADER, access_csv_rows, access_records_select
from compliance.csvout import csv_rows


def _moment(text: str, *, option: str, end_of_day: bool = False) -> datetime:
    try:
        # The date first: a bare date would also parse as that day's midnight.
        day = parse_date(text)
        moment = None if day is not None else parse_datetime(text)
    except ValueError:  # well formed, but not a day of the calendar
        moment = day = None
    if day is not None:
        moment = datetime.combine(day + timedelta(days=1 if end_of_day else 0), time.min)
    if moment is None:
        raise CommandError(
            f"{option} {text!r} is not a date (2026-01-31) nor a moment (2026-01-31T14:00:00)"
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = "List the access ledger's rows of a user and/or a session, oldest first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", help="the user's name (as they sign in)")
        parser.add_argument("--since", required=True, help="a date or ISO 8601 moment (included)")
        parser.add_argument("--until", help="a date (included) or ISO 8601 moment (excluded)")
        parser.add_argument("--session", help="one session's id")
        parser.add_argument("--format", choices=("text", "csv"), default="text")

    def handle(self, *args, **options) -> None:
        since = _moment(options["since"], option="--since")
        until = None
        if options["until"]:
            until = _moment(options["until"], option="--until", end_of_day=True)
            if until <= since:
                raise CommandError("--until must come after --since")
        user = None
        if options["user"] is not None:
            User = get_user_model()
            user = User._default_manager.filter(**{User.USERNAME_FIELD: options["user"]}).first()
            if user is None:
                raise CommandError(f"no user named {options['user']!r}")
        session_id = None
        if options["session"] is not None:
            try:
                session_id = uuid.UUID(options["session"])
            except ValueError:
                raise CommandError(
                    f"--session {options['session']!r} is not a session id"
                ) from None
        records = access_records_select(user=user, since=since, until=until, session_id=session_id)
        rows = access_csv_rows(records)
        if options["format"] == "csv":
            for line in csv_rows(ACCESS_CSV_HEADER, rows):
                self.stdout.write(line, ending="")
            return
        count = 0
        for at, username, action, outcome, session, detail, method, path, status, address in rows:
            count += 1
            where = f" session {session}" if session else ""
            what = f" [{detail}]" if detail else ""
            self.stdout.write(
                f"{at.isoformat()}  {username or '(not signed in)'}  {action}  {outcome}"
                f"{where}{what}  {method} {path} -> {status}  from {address or '?'}"
            )
        self.stdout.write(f"{count} record(s)")
