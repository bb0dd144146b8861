"""Erasure in the console: only data protection officers erase; the dry run, the
confirmation that needs a request reference, the note in place of an erased payload, and the
erasure ledger browsable read-only."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from compliance.reviewers import DPO_GROUP_NAME, reviewer_create
from compliance.tests.test_erasure import EMAIL, _session_with_subject
from ingestion.erasure_models import Erasure
from ingestion.models import Event
from ingestion.tests.factories import project_create

pytestmark = pytest.mark.django_db

PASSWORD = "a long pass phrase 42"


def _erase_url(session) -> str:
    return reverse("admin:ingestion_session_erase", args=[session.pk])


@pytest.fixture
def session():
    return _session_with_subject(project_create("acme"))


@pytest.fixture
def dpo_client(client):
    client.force_login(reviewer_create(username="dora", password=PASSWORD, dpo=True))
    return client


def test_create_reviewer_dpo_puts_the_user_in_the_dpo_group(monkeypatch):
    monkeypatch.setattr("sys.stdin", StringIO(PASSWORD + "\n"))
    call_command("create_reviewer", "dan", "--dpo", "--password-stdin", stdout=StringIO())
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="dan")
    assert user.groups.filter(name=DPO_GROUP_NAME).exists()


@pytest.mark.parametrize("who", ["reviewer", "superuser"])
def test_reviewers_and_superusers_without_the_permission_cannot_erase(
    client, django_user_model, session, who
):
    if who == "superuser":
        user = django_user_model.objects.create_superuser("root", password=PASSWORD)
    else:
        user = reviewer_create(username="rita", password=PASSWORD)
    client.force_login(user)
    page = client.get(reverse("admin:ingestion_session_change", args=[session.pk]))
    assert page.status_code == 200
    assert "Erase personal data" not in page.content.decode()
    response = client.post(
        _erase_url(session), {"events": "1", "request_ref": "R", "reason": "Art. 17"}
    )
    assert response.status_code == 403
    assert Erasure.objects.count() == 0


def test_a_dpo_sees_the_dry_run_then_must_give_a_request_reference(dpo_client, session):
    page = dpo_client.get(reverse("admin:ingestion_session_change", args=[session.pk]))
    assert "Erase personal data…" in page.content.decode()
    dry = dpo_client.get(_erase_url(session), {"subject": EMAIL, "reason": "Art. 17"})
    text = dry.content.decode()
    assert dry.status_code == 200
    assert "Dry run: 1 event(s) would be erased" in text and "Event 1 (TOOL_CALL)" in text
    assert Erasure.objects.count() == 0
    refused = dpo_client.post(_erase_url(session), {"subject": EMAIL, "reason": "Art. 17"})
    assert refused.status_code == 200
    assert "needs the request" in refused.content.decode()
    assert Erasure.objects.count() == 0
    done = dpo_client.post(
        _erase_url(session), {"subject": EMAIL, "request_ref": "DSR-9", "reason": "Art. 17"}
    )
    assert done.status_code == 302
    (row,) = Erasure.objects.all()
    assert row.request_ref == "DSR-9" and row.user.username == "dora"
    assert Event.objects.get(session=session, sequence_number=1).payload_jcs is None
    page = dpo_client.get(reverse("admin:ingestion_session_change", args=[session.pk]))
    text = page.content.decode()
    assert "payload erased on" in text and "under request DSR-9" in text
    assert EMAIL.lower() not in text.lower()
    assert "(erased)" in text  # the finding stays, its masked preview does not
    erased = Erasure.objects.filter(session=session).count()
    # On the timeline's line and in its details; no "personal data" badge for a payload gone.
    assert text.count("payload erased on") == 2 * erased
    assert "! personal data" not in text


def test_the_erasure_ledger_is_browsable_and_read_only(dpo_client, session):
    dpo_client.post(_erase_url(session), {"events": "1", "request_ref": "DSR-1", "reason": "x"})
    row = Erasure.objects.get()
    listing = dpo_client.get(reverse("admin:ingestion_erasure_changelist"))
    assert listing.status_code == 200 and "DSR-1" in listing.content.decode()
    detail = dpo_client.get(reverse("admin:ingestion_erasure_change", args=[row.pk]))
    assert detail.status_code == 200
    assert dpo_client.post(
        reverse("admin:ingestion_erasure_delete", args=[row.pk])
    ).status_code in (
        403,
        302,
    )
    assert Erasure.objects.filter(pk=row.pk).exists()
    assert dpo_client.get(reverse("admin:ingestion_erasure_add")).status_code == 403
