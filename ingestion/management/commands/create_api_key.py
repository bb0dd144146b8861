from django.core.management.base import BaseCommand

from ingestion.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a project (the project is created if needed)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name")
        parser.add_argument("--name", default="default", help="a label for the key")

    def handle(self, *args, project: str, name: str, **options):
        api_key, plaintext = api_key_create(project_name=project, name=name)
        self.stdout.write(plaintext)
        self.stderr.write(
            self.style.WARNING(
                f"API key {api_key.prefix} for project {project!r}: it is shown only this once "
                "and cannot be recovered; store it now."
            )
        )
