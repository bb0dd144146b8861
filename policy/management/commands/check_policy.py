"""``manage.py check_policy FILE``: validate a policy file before deploying it."""

import sys

from django.core.management.base import BaseCommand

from policy.rules import PolicyError, policy_load


class Command(BaseCommand):
    help = "Validate a YAML policy file; print FILE:LINE: rule: message for each problem."
    # Checking a file needs neither the database nor the URL configuration.
    requires_system_checks = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="path of the policy file")

    def handle(self, *args, file: str, **options) -> None:
        try:
            policy = policy_load(path=file)
        except PolicyError as exc:
            for problem in exc.problems:
                self.stdout.write(str(problem))
            # A plain exit status, as linters give, so scripts and CI can gate on it.
            sys.exit(1)
        self.stdout.write(f"OK: {policy.name} ({policy.text_sha256})")
