"""``manage.py create_reviewer USERNAME``: a staff user in the "Compliance reviewers" group.

The password is asked for twice on a terminal, or read from the first line of standard input
with ``--password-stdin`` (for scripts: it never appears in the process list or the shell
history).
"""

from __future__ import annotations

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from compliance.reviewers import (
    ADMINISTRATORS_GROUP_NAME,
    DPO_GROUP_NAME,
    GROUP_NAME,
    ReviewerError,
    reviewer_create,
)


class Command(BaseCommand):
    help = f"Create a staff user in the {GROUP_NAME!r} group (view-only console access)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--dpo",
            action="store_true",
            help='also a data protection officer: may erase personal data ("Data protection'
            ' officers" group)',
        )
        parser.add_argument(
            "--admin",
            action="store_true",
            help=f"also a compliance administrator: browses and exports everyone's access records"
            f" ({ADMINISTRATORS_GROUP_NAME!r} group)",
        )
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input",
        )

    def handle(
        self,
        *args,
        username: str,
        email: str,
        password_stdin: bool,
        dpo: bool = False,
        admin: bool = False,
        **options,
    ):
        password = self._password_read(from_stdin=password_stdin)
        try:
            reviewer_create(username=username, password=password, email=email, dpo=dpo, admin=admin)
        except ReviewerError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"created reviewer {username!r} in the group {GROUP_NAME!r}")
        if dpo:
            self.stdout.write(f"{username!r} is also in the group {DPO_GROUP_NAME!r}")
        if admin:
            self.stdout.write(f"{username!r} is also in the group {ADMINISTRATORS_GROUP_NAME!r}")

    def _password_read(self, *, from_stdin: bool) -> str:
        if from_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            if not sys.stdin.isatty():
                raise CommandError("no terminal to ask for the password: use --password-stdin")
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password (again): ") != password:
                raise CommandError("the two passwords differ")
        if not password:
            raise CommandError("the password is empty")
        return password
