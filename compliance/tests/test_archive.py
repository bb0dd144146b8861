"""Several sessions in one zip (``compliance.exports.archive``)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from compliance.exports import archive
from compliance.models import ExportRecord

from .factories import ACTOR, session_sealed

pytestmark = pytest.mark.django_db


def test_each_session_is_zipped_as_json_and_pdf_with_a_manifest_of_their_hashes():
    sessions = [session_sealed(), session_sealed()]
    target = io.BytesIO()
    manifest = archive.sessions_zip_write(sessions=sessions, actor=ACTOR, target=target)
    with zipfile.ZipFile(target) as zipped:
        names = set(zipped.namelist())
        assert json.loads(zipped.read("manifest.json")) == manifest
        listed = [entry for session in manifest["sessions"] for entry in session["files"]]
        for entry in listed:
            assert hashlib.sha256(zipped.read(entry["path"])).hexdigest() == entry["sha256"]
    assert names == {"manifest.json"} | {entry["path"] for entry in listed}
    assert {entry["format"] for entry in listed} == set(archive.ZIP_FORMATS)
    assert ExportRecord.objects.filter(session__in=sessions).count() == 4


def test_a_masked_zip_records_every_file_as_redacted():
    session = session_sealed()
    archive.sessions_zip_write(sessions=[session], actor=ACTOR, target=io.BytesIO(), redact=True)
    assert set(ExportRecord.objects.filter(session=session).values_list("redacted", flat=True)) == {
        True
    }
