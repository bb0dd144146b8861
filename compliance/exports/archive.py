"""Several sessions exported into one zip, with a manifest (the admin's "Export selected")."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from ingestion.models import Session

from .. import services
from ..models import ExportFormat
from .context import Actor

ZIP_MAX_SESSIONS = 25  # each session's PDF takes a moment; larger sets: manage.py export_sessions
ZIP_FORMATS = (ExportFormat.JSON.value, ExportFormat.PDF.value)


def sessions_zip_write(
    *,
    sessions: Iterable[Session],
    actor: Actor,
    target: IO[bytes],
    redact: bool = False,
    formats: Iterable[str] = ZIP_FORMATS,
    manifest_extra: Mapping[str, Any] | None = None,
) -> dict:
    """Export each session as compliance JSON and PDF into a zip written to ``target``.

    Every file is recorded in the export ledger as it is made; ``manifest.json`` (RFC 8785)
    lists each file's SHA-256 and the verification status at export time. ``redact`` makes
    every file a masked copy (for a reader without ``compliance.view_raw_payload``); a
    session that cannot be masked raises ``services.RedactionImpossible``. ``formats`` and
    ``manifest_extra`` (more top-level members of the manifest) serve a matter's export.
    Returns the manifest.
    """
    with tempfile.TemporaryDirectory(prefix="agentops-zip-") as tmp:
        folder = Path(tmp)
        results = [
            services.session_files_export(
                session=session, folder=folder, formats=formats, actor=actor, redact=redact
            )
            for session in sessions
        ]
        manifest = services.export_manifest_write(
            out_dir=folder, results=results, generated_by=actor.name, extra=manifest_extra
        )
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.write(folder / services.MANIFEST_NAME, services.MANIFEST_NAME)
            for result in results:
                for exported in result.files:
                    archive.write(exported.path, exported.path.relative_to(folder).as_posix())
    return manifest
