"""``manage.py export_sessions --since <day> --until <day>``: exactly the sessions of that day."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from ingestion import services as ingestion_services
from ingestion.models import Session

from .factories import session_recorded

pytestmark = pytest.mark.django_db


def _sealed_at(project, moment: datetime) -> Session:
    session = session_recorded(project=project)
    Session.objects.filter(pk=session.pk).update(created_at=moment)
    ingestion_services.session_seal(session=session)
    return session


def _exported(out, *args: str) -> set[str]:
    call_command(
        "export_sessions",
        "--out",
        str(out),
        "--no-progress",
        "--format",
        "jsonl",
        "--project",
        "day",
        *args,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    manifest = json.loads((out / "manifest.json").read_bytes())
    return {entry["session_id"] for entry in manifest["sessions"]}


def test_a_day_given_as_until_is_included_whole(tmp_path):
    key, _ = ingestion_services.api_key_create(project_name="day", name="k")
    project = key.project
    before = _sealed_at(project, datetime(2026, 3, 4, 23, 59, 59, tzinfo=UTC))
    morning = _sealed_at(project, datetime(2026, 3, 5, 0, 0, tzinfo=UTC))
    evening = _sealed_at(project, datetime(2026, 3, 5, 23, 59, 59, 999999, tzinfo=UTC))
    after = _sealed_at(project, datetime(2026, 3, 6, 0, 0, tzinfo=UTC))

    day = {str(morning.pk), str(evening.pk)}
    assert _exported(tmp_path / "a", "--since", "2026-03-05", "--until", "2026-03-05") == day
    assert _exported(tmp_path / "b", "--until", "2026-03-05") == day | {str(before.pk)}
    assert _exported(tmp_path / "c", "--since", "2026-03-06") == {str(after.pk)}
    # A datetime stays an exclusive bound.
    assert _exported(tmp_path / "d", "--until", "2026-03-05T23:59:59.999999Z") == {
        str(before.pk),
        str(morning.pk),
    }
