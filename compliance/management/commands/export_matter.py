"""``manage.py export_matter "<name>" --out DIR``: a matter's sessions in one zip and a manifest."""

from __future__ import annotations

import getpass
import os
import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import matters
from compliance.exports.context import Actor
from ingestion.errors import IngestionError


class Command(BaseCommand):
    help = (
        "Export every session of a matter into OUT/agentops-matter-<name>-<time>.zip: each "
        "session's compliance JSON (entered in the export ledger) and manifest.json (RFC 8785) "
        "naming the matter, its sessions and notes, each file's SHA-256, who exported and when. "
        "The same code as the console's Export matter, without its size bound."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the matter's name (any case)")
        parser.add_argument("--out", required=True, type=Path, help="output folder")

    def handle(self, *args, name: str, out: Path, **options) -> None:
        try:
            matter = matters.matter_get(name=name)
        except IngestionError as exc:
            raise CommandError(f"{exc.code}: no matter named {name!r}") from None
        actor = Actor.for_command("export_matter", operator=getpass.getuser())
        out.mkdir(parents=True, exist_ok=True)
        partial = out / f".matter-{uuid.uuid4().hex}.zip.partial"
        try:
            with open(partial, "wb") as target:
                made = matters.matter_export_write(
                    matter=matter, actor=actor, target=target, bounded=False
                )
                target.flush()
                os.fsync(target.fileno())
            path = out / made.file_name
            os.replace(partial, path)
        except IngestionError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        finally:
            partial.unlink(missing_ok=True)
        summary = made.manifest["summary"]
        self.stdout.write(
            f"{path}: {summary['sessions']} session(s), {summary['files']} file(s), "
            f"{summary['flagged']} flagged"
        )
        if summary["flagged"]:
            raise CommandError(f"{summary['flagged']} session(s) failed verification")
