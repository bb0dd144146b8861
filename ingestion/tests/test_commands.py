from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ingestion.models import ApiKey, Project, Session

from .factories import api_key_create, session_with_events

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_key_prints_the_key_once_with_a_warning():
    out, err = _run("create_api_key", "--project", "acme", "--name", "ci")
    plaintext = out.strip()
    api_key = ApiKey.objects.get_from_key(plaintext)
    assert (api_key.name, api_key.project.name) == ("ci", "acme")
    assert "shown only this once" in err
    assert plaintext not in err


def test_create_api_key_reuses_the_project():
    _run("create_api_key", "--project", "acme")
    _run("create_api_key", "--project", "acme")
    assert Project.objects.filter(name="acme").count() == 1
    assert ApiKey.objects.filter(project__name="acme").count() == 2


def test_revoke_api_key():
    api_key, _ = api_key_create()
    out, _ = _run("revoke_api_key", api_key.prefix)
    assert api_key.prefix in out
    assert ApiKey.objects.get(pk=api_key.pk).revoked


def test_revoke_unknown_api_key_fails():
    with pytest.raises(CommandError, match="no API key"):
        _run("revoke_api_key", "nope")


def test_seal_stale_sessions():
    stale = session_with_events(2)
    Session.objects.filter(pk=stale.pk).update(last_event_at=timezone.now() - timedelta(hours=2))
    fresh = session_with_events(2)
    out, _ = _run("seal_stale_sessions", "--idle-minutes", "60")
    assert f"sealed {stale.id} PARTIAL_AUTHORITATIVE_EVIDENCE" in out
    assert "1 session(s) sealed" in out
    assert Session.objects.get(pk=stale.pk).sealed
    assert not Session.objects.get(pk=fresh.pk).sealed


def test_seal_stale_sessions_refuses_a_negative_age():
    with pytest.raises(CommandError):
        _run("seal_stale_sessions", "--idle-minutes", "-1")
