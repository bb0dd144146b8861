"""Who may do what in the compliance console: reviewers look, nobody edits evidence."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from compliance.models import ExportRecord
from compliance.reviewers import GROUP_NAME
from ingestion.models import Event
from policy.models import Findings
from policy.services import session_findings_evaluate

from .factories import session_recorded, session_sealed

pytestmark = pytest.mark.django_db

PASSWORD = "a long pass phrase 42"
EMAIL = "jane.doe@example.com"  # in the model request of every factory session
EMAIL_MASKED = "j***@example.com"


@pytest.fixture
def reviewer(django_user_model):
    user = django_user_model.objects.create_user("rita", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=GROUP_NAME))
    return user


@pytest.fixture
def session():
    session = session_sealed()
    session_findings_evaluate(session=session)
    return session


@pytest.fixture
def evidence(session):
    """One row of every evidence model, by its admin URL name."""
    export = ExportRecord.objects.create(
        session=session,
        format="json",
        file_name="x.json",
        sha256="0" * 64,
        size_bytes=1,
        exported_at=session.created_at,
        channel="api",
        actor="test",
        sealed=True,
        verification_status="PASS",
    )
    return {
        "ingestion_session": session.pk,
        "ingestion_event": Event.objects.filter(session=session).first().pk,
        "policy_findings": Findings.objects.get(session=session).pk,
        "compliance_exportrecord": export.pk,
    }


# --- the group -------------------------------------------------------------------------------


def test_reviewers_may_view_evidence_and_nothing_more():
    group = Group.objects.get(name=GROUP_NAME)
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
    assert granted == {
        "ingestion.view_session",
        "ingestion.view_event",
        "ingestion.view_project",
        "policy.view_findings",
        "compliance.view_exportrecord",
        # Matters and notes (compliance/0011): reviewers open matters, tag sessions and
        # write notes; all three tables only grow.
        *(
            f"compliance.{a}_{m}"
            for a in ("view", "add")
            for m in ("matter", "mattersession", "note")
        ),
        "compliance.view_accessrecord",  # their own rows of the access ledger
    }


def test_the_raw_payload_permission_exists_and_is_not_granted_by_default(reviewer):
    assert Permission.objects.filter(
        content_type__app_label="compliance", codename="view_raw_payload"
    ).exists()
    assert not reviewer.has_perm("compliance.view_raw_payload")


# --- nobody edits evidence -----------------------------------------------------------------


@pytest.fixture(params=["reviewer", "superuser"])
def user_client(request, client, reviewer, admin_user):
    client.force_login(reviewer if request.param == "reviewer" else admin_user)
    return client


@pytest.mark.parametrize(
    "model",
    ["ingestion_session", "ingestion_event", "policy_findings", "compliance_exportrecord"],
)
def test_no_one_adds_changes_or_deletes_evidence(user_client, evidence, model):
    pk = evidence[model]
    changelist = user_client.get(reverse(f"admin:{model}_changelist"))
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert reverse(f"admin:{model}_add") not in html
    assert 'value="delete_selected"' not in html

    change_url = reverse(f"admin:{model}_change", args=[pk])
    assert user_client.post(change_url, {"agent_id": "forged"}).status_code == 403
    assert user_client.get(reverse(f"admin:{model}_add")).status_code == 403
    assert user_client.post(reverse(f"admin:{model}_add"), {}).status_code == 403
    delete_url = reverse(f"admin:{model}_delete", args=[pk])
    assert user_client.get(delete_url).status_code == 403
    assert user_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert user_client.post(
        reverse(f"admin:{model}_changelist"),
        {"action": "delete_selected", "_selected_action": [pk], "post": "yes"},
    ).status_code in (200, 302)  # no such action: the admin says so, nothing is deleted


def test_the_session_page_offers_no_edit_controls(user_client, session):
    html = user_client.get(reverse("admin:ingestion_session_change", args=[session.pk]))
    text = html.content.decode()
    assert html.status_code == 200
    for control in ('name="_save"', 'name="_continue"', "deletelink", ">Delete<", ">Save<"):
        assert control not in text


def test_nothing_was_changed_by_those_attempts(user_client, evidence, session):
    before = session.agent_id
    user_client.post(
        reverse("admin:ingestion_session_change", args=[session.pk]), {"agent_id": "x"}
    )
    session.refresh_from_db()
    assert session.agent_id == before


# --- personal data in payloads -----------------------------------------------------------------


def session_page(client, session) -> str:
    return client.get(reverse("admin:ingestion_session_change", args=[session.pk])).content.decode()


def test_a_reviewer_sees_personal_data_masked(client, reviewer, session):
    client.force_login(reviewer)
    html = session_page(client, session)
    assert EMAIL not in html
    assert EMAIL_MASKED in html
    assert "Where is order 1000?" in html  # the words around it stay readable


def test_an_open_session_is_masked_before_it_is_evaluated(client, reviewer):
    session = session_recorded(end=False)  # no findings stored yet
    client.force_login(reviewer)
    html = session_page(client, session)
    assert EMAIL not in html
    assert EMAIL_MASKED in html


def test_the_raw_payload_permission_shows_it(client, reviewer, session):
    reviewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="compliance", codename="view_raw_payload")
    )
    client.force_login(reviewer)
    html = session_page(client, session)
    assert EMAIL in html
    assert "unmasked" in html


# --- anonymous visitors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra", "method"),
    [
        ("changelist", (), "get"),
        ("change", (), "get"),
        ("pdf", (), "get"),
        ("pdf_file", (), "get"),
        ("download", ("json",), "post"),
        ("verify", (), "post"),
    ],
)
def test_anonymous_visitors_are_sent_to_the_login(client, session, name, extra, method):
    args = [] if name == "changelist" else [session.pk, *extra]
    url = reverse(f"admin:ingestion_session_{name}", args=args)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    assert not ExportRecord.objects.exists()


def test_a_user_outside_the_staff_is_sent_to_the_login(client, django_user_model, session):
    client.force_login(django_user_model.objects.create_user("visitor", password=PASSWORD))
    response = client.get(reverse("admin:ingestion_session_changelist"))
    assert response.status_code == 302


def test_staff_without_the_view_permission_are_refused(client, django_user_model, session):
    client.force_login(
        django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    )
    assert (
        client.get(reverse("admin:ingestion_session_change", args=[session.pk])).status_code == 403
    )
    assert (
        client.post(reverse("admin:ingestion_session_download", args=[session.pk, "json"]))
    ).status_code == 403


# --- manage.py create_reviewer -------------------------------------------------------------


def create_reviewer(monkeypatch, *args: str, stdin: str = f"{PASSWORD}\n") -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("create_reviewer", *args, stdout=out)
    return out.getvalue()


def test_create_reviewer_makes_a_staff_user_in_the_group(monkeypatch, django_user_model):
    output = create_reviewer(monkeypatch, "lena", "--password-stdin", "--email", "l@example.org")
    user = django_user_model.objects.get(username="lena")
    assert user.is_staff and not user.is_superuser
    assert user.check_password(PASSWORD)
    assert list(user.groups.values_list("name", flat=True)) == [GROUP_NAME]
    assert user.has_perm("ingestion.view_session")
    assert not user.has_perm("compliance.view_raw_payload")
    assert "created reviewer 'lena'" in output


def test_create_reviewer_refuses_an_existing_user(monkeypatch, reviewer):
    with pytest.raises(CommandError, match="already exists"):
        create_reviewer(monkeypatch, "rita", "--password-stdin")


def test_create_reviewer_refuses_a_weak_password(monkeypatch, django_user_model):
    with pytest.raises(CommandError, match="password refused"):
        create_reviewer(monkeypatch, "lena", "--password-stdin", stdin="12345\n")
    assert not django_user_model.objects.filter(username="lena").exists()


def test_create_reviewer_needs_a_terminal_or_stdin(monkeypatch):
    with pytest.raises(CommandError, match="--password-stdin"):
        create_reviewer(monkeypatch, "lena")


def test_create_reviewer_asks_twice_on_a_terminal(monkeypatch, django_user_model):
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    terminal = type("Terminal", (io.StringIO,), {"isatty": lambda self: True})
    monkeypatch.setattr("sys.stdin", terminal())
    call_command("create_reviewer", "lena", stdout=io.StringIO())
    assert django_user_model.objects.get(username="lena").check_password(PASSWORD)
