"""The access ledger: what the console records, who reads it, and that no one rewrites it.

Runs on SQLite and, with DATABASE_URL, on PostgreSQL; the append-only rule is tested with
raw SQL on both.
"""

from __future__ import annotations

import csv
import importlib
import io
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from compliance.access import RECORDED
from compliance.models import AccessAction, AccessOutcome, AccessRecord
from compliance.reviewers import ADMINISTRATORS_GROUP_NAME, GROUP_NAME
from ingestion.errors import AppendOnlyError
from ingestion.management.commands.db_grant_service_role import privileges_for
from ingestion.models import Event
from policy.models import Findings
from policy.services import session_findings_evaluate

from .factories import session_sealed

pytestmark = pytest.mark.django_db

migration = importlib.import_module("compliance.migrations.0010_access_ledger")

PASSWORD = "a long pass phrase 42"
EMAIL = "jane.doe@example.com"  # in the model request of every factory session


@pytest.fixture
def reviewer(django_user_model):
    user = django_user_model.objects.create_user("rita", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=GROUP_NAME))
    return user


@pytest.fixture
def administrator(django_user_model):
    user = django_user_model.objects.create_user("ada", password=PASSWORD, is_staff=True)
    user.groups.add(
        Group.objects.get(name=GROUP_NAME), Group.objects.get(name=ADMINISTRATORS_GROUP_NAME)
    )
    return user


@pytest.fixture
def session():
    session = session_sealed()
    session_findings_evaluate(session=session)
    return session


@pytest.fixture
def as_reviewer(client, reviewer):
    client.force_login(reviewer)
    return client


def only_record(**filters) -> AccessRecord:
    (record,) = AccessRecord.objects.filter(**filters)
    return record


def record_of(user, action=None) -> AccessRecord:
    records = AccessRecord.objects.filter(user=user)
    if action is not None:
        records = records.filter(action=action)
    (record,) = records
    return record


# --- append-only, in the database --------------------------------------------------------


@pytest.fixture
def row(reviewer) -> AccessRecord:
    return AccessRecord.objects.create(
        user=reviewer,
        username=reviewer.username,
        action=AccessAction.VIEW_SESSION,
        outcome=AccessOutcome.ALLOWED,
        session_id=uuid.uuid4(),
        view_name="admin:ingestion_session_change",
        path="/admin/",
        method="GET",
        status_code=200,
        client_address="127.0.0.1",
    )


def _execute(sql: str, params: list | None = None) -> None:
    # A savepoint per statement: on PostgreSQL a refused statement aborts the transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.parametrize(
    "assignment", ["username = 'someone else'", "outcome = 'allowed'", "user_id = NULL"]
)
def test_raw_update_of_an_access_record_is_refused(row, assignment):
    before = AccessRecord.objects.filter(pk=row.pk).values().get()
    with pytest.raises(IntegrityError, match="append-only: access records cannot be updated"):
        _execute(f"UPDATE compliance_accessrecord SET {assignment} WHERE id = %s", [row.pk])
    assert AccessRecord.objects.filter(pk=row.pk).values().get() == before


def test_raw_delete_of_access_records_is_refused(row):
    with pytest.raises(IntegrityError, match="append-only: access records cannot be deleted"):
        _execute("DELETE FROM compliance_accessrecord WHERE id = %s", [row.pk])
    with pytest.raises(IntegrityError, match="append-only: access records cannot be deleted"):
        _execute("DELETE FROM compliance_accessrecord")
    assert AccessRecord.objects.filter(pk=row.pk).exists()


@pytest.mark.postgres
def test_truncate_of_the_access_ledger_is_refused(row):
    _execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred check may be pending at TRUNCATE
    with pytest.raises(IntegrityError, match="append-only: access records cannot be truncated"):
        _execute("TRUNCATE compliance_accessrecord")
    assert AccessRecord.objects.filter(pk=row.pk).exists()


def test_the_model_refuses_to_change_or_delete_a_record(row):
    row.username = "someone else"
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()


class _Editor:
    connection = connection

    def execute(self, sql: str, params=None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def test_the_trigger_migration_reverses_and_reapplies(row):
    migration.drop_triggers(None, _Editor())
    _execute("UPDATE compliance_accessrecord SET username = 'changed' WHERE id = %s", [row.pk])
    migration.create_triggers(None, _Editor())
    with pytest.raises(IntegrityError, match="append-only"):
        _execute("DELETE FROM compliance_accessrecord")
    assert AccessRecord.objects.get(pk=row.pk).username == "changed"


def test_the_service_role_may_only_read_and_add_access_records():
    assert privileges_for("compliance_accessrecord") == [("SELECT", []), ("INSERT", [])]


def test_a_user_who_has_looked_at_evidence_cannot_be_deleted(row, reviewer):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        reviewer.delete()


# --- what is recorded -----------------------------------------------------------------------


def test_viewing_a_session_page_is_recorded(as_reviewer, reviewer, session):
    url = reverse("admin:ingestion_session_change", args=[session.pk])
    assert as_reviewer.get(url, REMOTE_ADDR="203.0.113.7").status_code == 200
    record = record_of(reviewer)
    assert record.action == AccessAction.VIEW_SESSION
    assert record.outcome == AccessOutcome.ALLOWED
    assert record.session_id == session.pk
    assert (record.username, record.method, record.status_code) == ("rita", "GET", 200)
    assert record.path == url
    assert record.client_address == "203.0.113.7"
    assert abs(record.at - timezone.now()) < timedelta(minutes=1)


def test_a_timeline_page_is_recorded_with_its_number(as_reviewer, reviewer, session):
    url = reverse("admin:ingestion_session_change", args=[session.pk])
    as_reviewer.get(url, {"page": "2"})
    record = record_of(reviewer)
    assert (record.action, record.detail) == (AccessAction.VIEW_TIMELINE, "page 2")


def test_a_nul_character_in_the_request_does_not_cost_the_page(as_reviewer, reviewer, session):
    # PostgreSQL refuses NUL in text: stored as is, the row would fail and the page with it.
    url = reverse("admin:ingestion_session_change", args=[session.pk])
    assert as_reviewer.get(url, {"page": "2\x00"}).status_code == 200
    assert record_of(reviewer).detail == "page 2\ufffd"


def test_an_events_link_records_the_timeline_page_it_leads_to_once(as_reviewer, reviewer, session):
    event = Event.objects.filter(session=session).first()
    response = as_reviewer.get(reverse("admin:ingestion_event_change", args=[event.pk]))
    assert response.status_code == 302
    assert not AccessRecord.objects.exists()  # the redirect alone: its target is recorded
    as_reviewer.get(response["Location"])
    assert record_of(reviewer).action == AccessAction.VIEW_TIMELINE


def test_reading_the_transcript_is_recorded(as_reviewer, reviewer, session):
    url = reverse("admin:ingestion_session_transcript", args=[session.pk])
    assert as_reviewer.get(url).status_code == 200
    record = record_of(reviewer)
    assert (record.action, record.session_id) == (AccessAction.VIEW_TRANSCRIPT, session.pk)


def test_a_matters_page_and_its_export_are_recorded(as_reviewer, reviewer, session):
    from compliance.matters import matter_create, matter_session_tag

    matter = matter_create(name="Acme v. Example", user=reviewer)
    matter_session_tag(matter=matter, session=session, user=reviewer)
    as_reviewer.get(reverse("admin:compliance_matter_change", args=[matter.pk]))
    assert record_of(reviewer).action == AccessAction.VIEW_MATTER
    response = as_reviewer.post(reverse("admin:compliance_matter_export", args=[matter.pk]))
    assert response.status_code == 200
    if response.streaming:
        b"".join(response.streaming_content)
    assert record_of(reviewer, AccessAction.DOWNLOAD).outcome == AccessOutcome.ALLOWED


def test_viewing_a_finding_is_recorded_with_its_session(as_reviewer, reviewer, session):
    findings = Findings.objects.get(session=session)
    as_reviewer.get(reverse("admin:policy_findings_change", args=[findings.pk]))
    record = record_of(reviewer)
    assert record.action == AccessAction.VIEW_FINDING
    assert record.session_id == session.pk
    assert record.detail == f"findings {findings.pk}"


def test_verify_now_is_recorded(as_reviewer, reviewer, session):
    response = as_reviewer.post(reverse("admin:ingestion_session_verify", args=[session.pk]))
    assert response.status_code == 302
    record = record_of(reviewer)
    assert (record.action, record.outcome) == (AccessAction.VIEW_VERIFICATION, "allowed")
    assert (record.method, record.session_id) == ("POST", session.pk)


def test_a_download_is_recorded_with_its_export_record(as_reviewer, reviewer, session):
    url = reverse("admin:ingestion_session_download", args=[session.pk, "json"])
    response = as_reviewer.post(url)
    assert response.status_code == 200
    b"".join(response.streaming_content)
    record = record_of(reviewer)
    assert record.action == AccessAction.DOWNLOAD
    assert record.session_id == session.pk
    # A reviewer without the raw-payload permission gets a masked copy: the row says so.
    assert record.detail == f"json, export record {response['X-AgentOps-Export-Id']}, masked"


def test_the_pdf_shown_inline_is_recorded_as_a_download(as_reviewer, reviewer, session):
    response = as_reviewer.get(reverse("admin:ingestion_session_pdf_file", args=[session.pk]))
    assert response.status_code == 200
    b"".join(response.streaming_content)
    record = record_of(reviewer)
    assert record.action == AccessAction.DOWNLOAD
    assert record.detail.startswith("export record ")


def test_a_search_is_recorded_with_its_terms_masked(as_reviewer, reviewer, session):
    url = reverse("admin:ingestion_session_changelist")
    response = as_reviewer.get(url, {"q": EMAIL}, follow=True)
    assert response.status_code == 200
    record = record_of(reviewer)  # the masking redirect itself is not a second row
    assert record.action == AccessAction.SEARCH
    assert record.detail.startswith("q=") and "@example.com" in record.detail
    assert "jane.doe" not in record.detail
    assert record.path == url  # no query string: the terms live masked in detail only


def test_a_search_by_a_reader_of_raw_payloads_is_stored_masked_all_the_same(
    client, admin_user, session
):
    client.force_login(admin_user)
    client.get(reverse("admin:ingestion_session_changelist"), {"q": EMAIL})
    record = record_of(admin_user)
    assert record.action == AccessAction.SEARCH
    assert "jane.doe" not in record.detail


def test_filters_count_as_search_terms_and_paging_does_not(as_reviewer, reviewer, session):
    url = reverse("admin:ingestion_session_changelist")
    as_reviewer.get(url, {"p": "1", "o": "1"})
    assert not AccessRecord.objects.exists()  # the list looked at, nothing searched
    as_reviewer.get(url, {"sealed": "yes", "p": "1"})
    assert record_of(reviewer).detail == "sealed=yes"


def test_the_bulk_zip_export_is_recorded_as_a_download(as_reviewer, reviewer, session):
    response = as_reviewer.post(
        reverse("admin:ingestion_session_changelist"),
        {"action": "export_zip", "_selected_action": [str(session.pk)]},
    )
    assert response.status_code == 200
    b"".join(response.streaming_content)
    record = record_of(reviewer)
    assert record.action == AccessAction.DOWNLOAD
    assert record.detail == f"export_zip of 1: {session.pk}"


# --- refused attempts ------------------------------------------------------------------------


def test_a_visitor_not_signed_in_is_recorded_as_refused(client, session):
    url = reverse("admin:ingestion_session_change", args=[session.pk])
    response = client.get(url)
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]
    record = only_record()
    assert (record.outcome, record.user, record.username) == ("refused", None, "")
    assert (record.action, record.session_id) == (AccessAction.VIEW_SESSION, session.pk)


def test_a_staff_user_without_the_permission_is_recorded_as_refused(
    client, django_user_model, session
):
    stranger = django_user_model.objects.create_user("sam", password=PASSWORD, is_staff=True)
    client.force_login(stranger)
    assert (
        client.get(reverse("admin:ingestion_session_change", args=[session.pk])).status_code == 403
    )
    record = record_of(stranger)
    assert (record.outcome, record.status_code) == ("refused", 403)


def test_a_session_that_does_not_exist_is_recorded_as_refused(as_reviewer, reviewer):
    missing = uuid.uuid4()
    url = reverse("admin:ingestion_session_verify", args=[missing])
    assert as_reviewer.post(url).status_code == 404
    record = record_of(reviewer)
    assert (record.outcome, record.status_code, record.session_id) == ("refused", 404, missing)


def test_a_refusal_on_a_page_outside_the_registry_is_recorded(as_reviewer, reviewer, session):
    assert "admin:ingestion_session_erase" not in RECORDED
    response = as_reviewer.get(reverse("admin:ingestion_session_erase", args=[session.pk]))
    assert response.status_code == 403
    record = record_of(reviewer)
    assert (record.action, record.outcome) == (AccessAction.OTHER, AccessOutcome.REFUSED)
    assert record.view_name == "admin:ingestion_session_erase"


def test_pages_that_show_no_evidence_are_not_recorded(as_reviewer, client):
    as_reviewer.get(reverse("admin:index"))
    client.logout()
    client.get(reverse("admin:index"))  # asked to sign in: not an attempt on evidence
    assert not AccessRecord.objects.exists()


def test_the_client_address_behind_a_trusted_proxy_is_the_one_it_saw(
    as_reviewer, reviewer, session, settings
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    as_reviewer.get(
        reverse("admin:ingestion_session_change", args=[session.pk]),
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.4, 192.0.2.9",
    )
    assert record_of(reviewer).client_address == "192.0.2.9"


# --- when the row cannot be written -------------------------------------------------------------


@pytest.fixture
def ledger_unwritable():
    """The ledger's table gone for the rest of the test (the test's transaction is rolled
    back afterwards): every insert fails in the database itself."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE compliance_accessrecord")


def test_an_allowed_page_is_withheld_when_its_access_cannot_be_recorded(
    as_reviewer, session, ledger_unwritable, caplog
):
    response = as_reviewer.get(reverse("admin:ingestion_session_change", args=[session.pk]))
    assert response.status_code == 503
    assert b"could not record your access" in response.content
    assert EMAIL.encode() not in response.content
    assert "access ledger: could not record GET" in caplog.text


def test_a_refusal_is_answered_as_it_was_when_it_cannot_be_recorded(
    client, session, ledger_unwritable, caplog
):
    url = reverse("admin:ingestion_session_change", args=[session.pk])
    assert client.get(url).status_code == 302  # to the sign-in page, as without the ledger
    assert "access ledger: could not record GET" in caplog.text


# --- who reads the ledger -------------------------------------------------------------------------


def test_the_groups_hold_the_ledgers_permissions(reviewer, administrator):
    assert reviewer.has_perm("compliance.view_accessrecord")
    assert not reviewer.has_perm("compliance.browse_access_ledger")
    assert administrator.has_perm("compliance.browse_access_ledger")


@pytest.fixture
def two_readers(client, reviewer, administrator, session):
    """Both have looked at the session page once."""
    url = reverse("admin:ingestion_session_change", args=[session.pk])
    for user in (reviewer, administrator):
        client.force_login(user)
        client.get(url)
    client.logout()
    return client


def _listed(client) -> str:
    response = client.get(reverse("admin:compliance_accessrecord_changelist"))
    assert response.status_code == 200
    return response.content.decode()


def test_a_reviewer_sees_their_own_rows_and_no_one_elses(two_readers, reviewer):
    two_readers.force_login(reviewer)
    html = _listed(two_readers)
    assert "rita" in html and ">ada<" not in html
    assert "Download as CSV" not in html
    csv_url = reverse("admin:compliance_accessrecord_csv")
    assert two_readers.get(csv_url).status_code == 403
    refused = AccessRecord.objects.get(action=AccessAction.EXPORT_CSV)
    assert (refused.user, refused.outcome) == (reviewer, "refused")


def test_an_administrator_sees_everyones_rows(two_readers, administrator):
    two_readers.force_login(administrator)
    html = _listed(two_readers)
    assert ">rita<" in html and ">ada<" in html
    assert "Download as CSV" in html


def test_the_ledger_is_read_only_even_for_a_superuser(client, admin_user, row):
    client.force_login(admin_user)
    assert client.get(reverse("admin:compliance_accessrecord_add")).status_code == 403
    change = reverse("admin:compliance_accessrecord_change", args=[row.pk])
    assert client.post(change, {"username": "forged"}).status_code == 403
    delete = reverse("admin:compliance_accessrecord_delete", args=[row.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AccessRecord.objects.get(pk=row.pk).username == "rita"


def test_the_list_filters_by_user_and_by_session(two_readers, administrator, reviewer, session):
    two_readers.force_login(administrator)
    url = reverse("admin:compliance_accessrecord_changelist")
    by_user = two_readers.get(url, {"user__id__exact": reviewer.pk})
    assert by_user.context["cl"].result_count == 1
    by_session = two_readers.get(url, {"session": str(session.pk)})
    assert by_session.context["cl"].result_count == 2
    assert two_readers.get(url, {"session": "not-a-uuid"}).status_code == 400


def test_the_csv_export_holds_the_filtered_rows_escaped_and_is_recorded(
    two_readers, administrator, reviewer, django_user_model, session
):
    sneaky = django_user_model.objects.create_user("=HYPERLINK(1)", password=PASSWORD)
    AccessRecord.objects.create(
        user=sneaky,
        username=sneaky.username,
        action=AccessAction.SEARCH,
        outcome=AccessOutcome.REFUSED,
        view_name="admin:ingestion_session_changelist",
        path="/admin/",
        method="GET",
        status_code=302,
    )
    two_readers.force_login(administrator)
    url = reverse("admin:compliance_accessrecord_csv")
    response = two_readers.get(url, {"session": str(session.pk)})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="agentops-access')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["at", "user", "action", "outcome"]
    assert sorted(r[1] for r in rows[1:]) == ["ada", "rita"]
    everything = b"".join(two_readers.get(url).streaming_content).decode()
    assert "'=HYPERLINK(1)" in everything
    exports = AccessRecord.objects.filter(action=AccessAction.EXPORT_CSV, user=administrator)
    assert [e.detail for e in exports.order_by("pk")] == [f"session={session.pk}", ""]


# --- manage.py access_report, create_reviewer --admin --------------------------------------------


def report(*args: str) -> str:
    out = io.StringIO()
    call_command("access_report", *args, stdout=out)
    return out.getvalue()


def test_the_report_lists_one_users_rows_in_a_period(two_readers, reviewer, session):
    today = timezone.localdate().isoformat()
    text = report("--user", "rita", "--since", today, "--until", today)
    assert "rita  View session page  allowed" in text and "ada" not in text
    assert f"session {session.pk}" in text
    assert text.endswith("1 record(s)\n")
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert report("--user", "rita", "--since", tomorrow).endswith("0 record(s)\n")


def test_the_report_as_csv_for_one_session(two_readers, session):
    text = report("--since", "2020-01-01", "--session", str(session.pk), "--format", "csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "at"
    assert sorted(r[1] for r in rows[1:]) == ["ada", "rita"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody", "--since", "2026-01-01"], "no user named 'nobody'"),
        (["--since", "yesterday"], "--since 'yesterday' is not a date"),
        (["--since", "2026-02-30"], "--since '2026-02-30' is not a date"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "--until must come after --since"),
        (["--since", "2026-01-01", "--session", "abc"], "--session 'abc' is not a session id"),
    ],
)
def test_the_report_refuses_bad_arguments_clearly(args, message):
    with pytest.raises(CommandError, match=message):
        report(*args)


def test_create_reviewer_admin_makes_a_compliance_administrator(monkeypatch, django_user_model):
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    out = io.StringIO()
    call_command("create_reviewer", "ada2", "--admin", "--password-stdin", stdout=out)
    user = django_user_model.objects.get(username="ada2")
    assert {g.name for g in user.groups.all()} == {GROUP_NAME, ADMINISTRATORS_GROUP_NAME}
    assert user.has_perm("compliance.browse_access_ledger")
    assert ADMINISTRATORS_GROUP_NAME in out.getvalue()
