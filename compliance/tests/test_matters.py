"""Matters and notes: the rules of the services, the append-only tables (raw SQL, on both
databases), the reviewers' permissions, the console's forms, and a matter's zip verified."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest
from agentops_sdk.chain import canonicalize
from agentops_sdk.verify import verify_file
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compliance import matters
from compliance.matter_models import Matter, MatterSession, Note
from compliance.models import ExportRecord
from compliance.reviewers import GROUP_NAME
from ingestion import keys
from ingestion.errors import AppendOnlyError, IngestionError
from tests.security.test_db_roles import (
    django_connected_as,
    psycopg_connected_as,
    service_role,
)

from .factories import ACTOR, session_sealed

__all__ = ["service_role"]  # a fixture of the security suite, used below

pytestmark = pytest.mark.django_db

migration = importlib.import_module("compliance.migrations.0011_matters_notes")


@pytest.fixture
def reviewer():
    user = get_user_model().objects.create_user("rita", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=GROUP_NAME))
    return user


@pytest.fixture
def client_of(reviewer) -> Client:
    client = Client()
    client.force_login(reviewer)
    return client


def _code(call) -> str:
    with pytest.raises(IngestionError) as caught:
        call()
    return caught.value.code


# --------------------------------------------------------------------------------------
# The services' rules
# --------------------------------------------------------------------------------------


def test_matter_names_are_unique_whatever_their_case(reviewer):
    matter = matters.matter_create(name="  Acme  v.  Beta ", user=reviewer)
    assert matter.name == "Acme v. Beta"
    assert matter.created_by_name == "rita"
    assert _code(lambda: matters.matter_create(name="ACME V. BETA", user=reviewer)) == (
        "MATTER_EXISTS"
    )
    assert matters.matter_get(name="acme v. beta") == matter


def test_the_database_refuses_a_second_name_differing_only_in_case(reviewer):
    matters.matter_create(name="Acme", user=reviewer)
    with pytest.raises(IntegrityError), transaction.atomic():
        Matter.objects.create(name="aCME", created_by=reviewer, created_by_name="rita")


@pytest.mark.parametrize("name", ["", "   ", "two\nlines", "x" * 201, None, 7])
def test_a_bad_matter_name_is_refused(reviewer, name):
    assert _code(lambda: matters.matter_create(name=name, user=reviewer)) == "MATTER_NAME_INVALID"
    assert not Matter.objects.exists()


def test_tag_untag_and_tag_again_keep_every_row(reviewer):
    session = session_sealed()
    matter = matters.matter_create(name="Case 1", user=reviewer)
    matters.matter_session_tag(matter=matter, session=session, user=reviewer)
    assert _code(
        lambda: matters.matter_session_tag(matter=matter, session=session, user=reviewer)
    ) == ("MATTER_ALREADY_TAGGED")
    assert [t.session for t in matters.matter_sessions(matter=matter)] == [session]

    matters.matter_session_untag(matter=matter, session=session, user=reviewer, reason="wrong")
    assert list(matters.matter_sessions(matter=matter)) == []
    assert list(matters.session_matters(session=session)) == []
    assert _code(
        lambda: matters.matter_session_untag(matter=matter, session=session, user=reviewer)
    ) == ("MATTER_NOT_TAGGED")

    matters.matter_session_tag(matter=matter, session=session, user=reviewer)
    history = [(e.action, e.actor_name, e.reason) for e in matters.matter_history(matter=matter)]
    assert history == [("tag", "rita", ""), ("untag", "rita", "wrong"), ("tag", "rita", "")]
    assert [t.matter for t in matters.session_matters(session=session)] == [matter]


def test_a_session_may_be_in_several_matters(reviewer):
    session = session_sealed()
    first = matters.matter_create(name="First", user=reviewer)
    second = matters.matter_create(name="Second", user=reviewer)
    for matter in (first, second):
        matters.matter_session_tag(matter=matter, session=session, user=reviewer)
    matters.matter_session_untag(matter=first, session=session, user=reviewer)
    assert [t.matter for t in matters.session_matters(session=session)] == [second]


@pytest.mark.parametrize("value", ["not-a-uuid", "", None, "00000000-0000-0000-0000-000000000000"])
def test_tagging_an_unknown_session_is_refused(reviewer, value):
    matter = matters.matter_create(name="Case", user=reviewer)
    assert _code(lambda: matters.session_lookup(value)) == "SESSION_NOT_FOUND"
    assert _code(
        lambda: matters.matter_session_tag(matter=matter, session=value, user=reviewer)
    ) == ("SESSION_NOT_FOUND")
    assert not MatterSession.objects.exists()


def test_a_note_is_attributed_and_kept_as_written(reviewer):
    matter = matters.matter_create(name="Case", user=reviewer)
    note = matters.note_add(user=reviewer, text="  First look:\r\nall fine  ", matter=matter)
    assert (note.author, note.author_name, note.text) == (reviewer, "rita", "First look:\nall fine")
    reviewer.username = "rita.renamed"
    reviewer.save()
    note.refresh_from_db()
    assert note.author_name == "rita"  # the name it was written under


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": ""},
        {"text": "   "},
        {"text": None},
        {"text": "x" * 10_001},
        {"text": "nul \x00 inside"},
        {"text": "on nothing", "matter": None},
        {"text": "on both", "both": True},
    ],
)
def test_a_bad_note_is_refused(reviewer, kwargs):
    matter = matters.matter_create(name="Case", user=reviewer)
    session = session_sealed() if kwargs.pop("both", False) else None
    subject = {"matter": kwargs.pop("matter", matter)}
    if session is not None:
        subject["session"] = session
    assert _code(lambda: matters.note_add(user=reviewer, **subject, **kwargs)) == "NOTE_INVALID"
    assert not Note.objects.exists()


def test_the_database_refuses_a_note_on_no_subject(reviewer):
    with pytest.raises(IntegrityError), transaction.atomic():
        Note.objects.create(author=reviewer, author_name="rita", text="orphan")


# --------------------------------------------------------------------------------------
# Append-only, by the database: raw SQL on PostgreSQL and SQLite
# --------------------------------------------------------------------------------------


@pytest.fixture
def rows(reviewer) -> dict[str, int]:
    session = session_sealed()
    matter = matters.matter_create(name="Case", user=reviewer)
    tag = matters.matter_session_tag(matter=matter, session=session, user=reviewer)
    note = matters.note_add(user=reviewer, text="kept", session=session)
    return {
        "compliance_matter": matter.pk,
        "compliance_mattersession": tag.pk,
        "compliance_note": note.pk,
    }


ASSIGNMENTS = {
    "compliance_matter": "name = 'Renamed'",
    "compliance_mattersession": "action = 'untag'",
    "compliance_note": "text = 'rewritten'",
}


def _execute(sql: str, params: list | None = None) -> None:
    # A savepoint per statement: on PostgreSQL a refused statement aborts the transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _snapshot(table: str, pk: int) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()


@pytest.mark.parametrize("table", list(migration.APPEND_ONLY_TABLES))
def test_update_by_raw_sql_is_refused(rows, table):
    before = _snapshot(table, rows[table])
    rows_word = migration.APPEND_ONLY_TABLES[table]
    with pytest.raises(IntegrityError, match=f"append-only: {rows_word} cannot be updated"):
        _execute(f"UPDATE {table} SET {ASSIGNMENTS[table]} WHERE id = %s", [rows[table]])
    assert _snapshot(table, rows[table]) == before


@pytest.mark.parametrize("table", list(migration.APPEND_ONLY_TABLES))
def test_delete_by_raw_sql_is_refused(rows, table):
    rows_word = migration.APPEND_ONLY_TABLES[table]
    with pytest.raises(IntegrityError, match=f"append-only: {rows_word} cannot be deleted"):
        _execute(f"DELETE FROM {table} WHERE id = %s", [rows[table]])
    with pytest.raises(IntegrityError, match=f"append-only: {rows_word} cannot be deleted"):
        _execute(f"DELETE FROM {table}")
    assert _snapshot(table, rows[table]) is not None


@pytest.mark.postgres
@pytest.mark.parametrize("table", list(migration.APPEND_ONLY_TABLES))
def test_truncate_is_refused_on_postgresql(rows, table):
    _execute("SET CONSTRAINTS ALL IMMEDIATE")
    rows_word = migration.APPEND_ONLY_TABLES[table]
    with pytest.raises(IntegrityError, match=f"append-only: {rows_word} cannot be truncated"):
        _execute(f"TRUNCATE {table} CASCADE")
    assert _snapshot(table, rows[table]) is not None


def test_the_models_refuse_to_change_or_delete(rows):
    for model in (Matter, MatterSession, Note):
        obj = model.objects.get()
        with pytest.raises(AppendOnlyError):
            obj.save()
        with pytest.raises(AppendOnlyError):
            obj.delete()


def test_every_refusal_trigger_exists():
    """A later migration that rebuilds one of these tables on SQLite drops its triggers."""
    if connection.vendor == "postgresql":
        sql = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'compliance_%%'"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    with connection.cursor() as cursor:
        cursor.execute(sql)
        names = {name for (name,) in cursor.fetchall()}
    operations = (
        ("update", "delete", "truncate")
        if connection.vendor == "postgresql"
        else (
            "update",
            "delete",
        )
    )
    wanted = {
        f"compliance_{table.removeprefix('compliance_')}_no_{operation}"
        for table in migration.APPEND_ONLY_TABLES
        for operation in operations
    }
    assert wanted <= names


# --------------------------------------------------------------------------------------
# Permissions and the console
# --------------------------------------------------------------------------------------


def test_reviewers_may_view_and_add_but_never_change_or_delete(reviewer):
    for model in ("matter", "mattersession", "note"):
        assert reviewer.has_perm(f"compliance.view_{model}")
        assert reviewer.has_perm(f"compliance.add_{model}")
        assert not reviewer.has_perm(f"compliance.change_{model}")
        assert not reviewer.has_perm(f"compliance.delete_{model}")


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_reviewer_opens_a_matter_tags_a_session_and_writes_notes(client_of, reviewer):
    session = session_sealed()
    response = client_of.post(
        reverse("admin:compliance_matter_add"), {"name": "Acme v. Beta", "description": "d"}
    )
    matter = Matter.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:compliance_matter_change", args=[matter.pk])

    session_page = reverse("admin:ingestion_session_change", args=[session.pk])
    client_of.post(
        reverse("admin:ingestion_session_matter_tag", args=[session.pk]), {"matter": "acme V. beta"}
    )
    client_of.post(reverse("admin:ingestion_session_note", args=[session.pk]), {"text": "Seen."})
    client_of.post(reverse("admin:compliance_matter_note", args=[matter.pk]), {"text": "Opened."})

    page = client_of.get(session_page).content.decode()
    assert "Matters and notes" in page
    assert "Acme v. Beta" in page and "Seen." in page
    assert "a note cannot be edited or deleted" in page

    page = client_of.get(reverse("admin:compliance_matter_change", args=[matter.pk])).content
    assert str(session.pk)[:8] in page.decode() and "Opened." in page.decode()
    assert Note.objects.filter(author=reviewer).count() == 2


def test_times_on_matter_pages_name_the_console_time_zone(client_of, reviewer, settings):
    settings.TIME_ZONE = "Asia/Tokyo"  # JST, no summer time
    session = session_sealed()
    matter = matters.matter_create(name="Tokyo matter", user=reviewer)
    matters.matter_session_tag(matter=matter, session=session, user=reviewer)
    matters.note_add(user=reviewer, text="Seen.", matter=matter)
    for url in (
        reverse("admin:compliance_matter_change", args=[matter.pk]),
        reverse("admin:ingestion_session_change", args=[session.pk]),
        reverse("admin:index"),
    ):
        page = client_of.get(url).content.decode()
        assert " JST" in page, url
    page = client_of.get(reverse("admin:compliance_matter_change", args=[matter.pk]))
    assert " UTC" not in page.content.decode()


def test_bad_input_on_the_forms_gives_a_message_never_an_error_page(client_of, reviewer):
    session = session_sealed()
    matter = matters.matter_create(name="Case", user=reviewer)
    attempts = [
        (reverse("admin:ingestion_session_matter_tag", args=[session.pk]), {"matter": "nope"}),
        (reverse("admin:ingestion_session_matter_tag", args=[session.pk]), {}),
        (reverse("admin:ingestion_session_matter_untag", args=[session.pk]), {"matter_id": "x"}),
        (reverse("admin:ingestion_session_note", args=[session.pk]), {"text": "  "}),
        (reverse("admin:compliance_matter_tag", args=[matter.pk]), {"session": "zzz"}),
        (reverse("admin:compliance_matter_untag", args=[matter.pk]), {"session": str(session.pk)}),
        (reverse("admin:compliance_matter_note", args=[matter.pk]), {"text": "x" * 10_001}),
        (reverse("admin:compliance_matter_export", args=[matter.pk]), {}),
    ]
    codes = []
    for url, data in attempts:
        response = client_of.post(url, data)
        assert response.status_code == 302, url
        message = _messages(response)[-1]
        codes.append(message.rsplit("(", 1)[-1].rstrip(")"))
    assert codes == [
        "MATTER_NOT_FOUND",
        "MATTER_NOT_FOUND",
        "MATTER_NOT_FOUND",
        "NOTE_INVALID",
        "SESSION_NOT_FOUND",
        "MATTER_NOT_TAGGED",
        "NOTE_INVALID",
        "MATTER_EMPTY",
    ]
    assert not MatterSession.objects.exists() and not Note.objects.exists()


def test_a_duplicate_matter_name_is_shown_on_the_form(client_of, reviewer):
    matters.matter_create(name="Case", user=reviewer)
    response = client_of.post(reverse("admin:compliance_matter_add"), {"name": "CASE"})
    assert response.status_code == 200
    assert "MATTER_EXISTS" in response.content.decode()
    assert Matter.objects.count() == 1


def test_no_one_edits_or_deletes_a_matter_through_the_console(client_of, reviewer):
    matter = matters.matter_create(name="Case", user=reviewer)
    change = reverse("admin:compliance_matter_change", args=[matter.pk])
    assert client_of.post(change, {"name": "Renamed"}).status_code == 403
    delete = reverse("admin:compliance_matter_delete", args=[matter.pk])
    assert client_of.post(delete, {"post": "yes"}).status_code == 403
    assert client_of.get(reverse("admin:compliance_matter_change", args=[999])).status_code == 404
    assert Matter.objects.get().name == "Case"


def test_a_staff_user_without_the_permissions_can_neither_tag_nor_write(reviewer):
    session = session_sealed()
    matter = matters.matter_create(name="Case", user=reviewer)
    reader = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    reader.user_permissions.add(
        *Group.objects.get(name=GROUP_NAME).permissions.filter(codename="view_session")
    )
    client = Client()
    client.force_login(reader)
    for url, data in [
        (reverse("admin:ingestion_session_matter_tag", args=[session.pk]), {"matter": "Case"}),
        (reverse("admin:ingestion_session_note", args=[session.pk]), {"text": "hi"}),
        (reverse("admin:compliance_matter_note", args=[matter.pk]), {"text": "hi"}),
        (reverse("admin:compliance_matter_export", args=[matter.pk]), {}),
    ]:
        assert client.post(url, data).status_code == 403, url
    page = client.get(reverse("admin:ingestion_session_change", args=[session.pk])).content
    assert b"You do not have the permission to see matters" in page
    assert b"You do not have the permission to read notes" in page
    assert b"Add a note" not in page
    assert not MatterSession.objects.exists() and not Note.objects.exists()


def test_the_forms_need_a_post_with_a_csrf_token(reviewer):
    session = session_sealed()
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    url = reverse("admin:ingestion_session_note", args=[session.pk])
    assert client.post(url, {"text": "hi"}).status_code == 403
    assert client.get(url).status_code == 405
    assert not Note.objects.exists()


# --------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------


def _matter_of_two(reviewer) -> tuple[Matter, list]:
    matter = matters.matter_create(name="Acme v. Beta", user=reviewer, description="A case")
    kept, taken_out = session_sealed(), session_sealed()
    other = session_sealed()
    for session in (kept, taken_out, other):
        matters.matter_session_tag(matter=matter, session=session, user=reviewer)
    matters.matter_session_untag(matter=matter, session=taken_out, user=reviewer)
    matters.note_add(user=reviewer, text="matter note", matter=matter)
    matters.note_add(user=reviewer, text="session note", session=kept)
    return matter, [kept, other]


def _check_zip(data: bytes, tmp_path: Path, sessions: list) -> dict:
    """Unzip; the manifest is RFC 8785; every hash it lists is the file's; every JSON verifies."""
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        names = set(zipped.namelist())
        raw = zipped.read("manifest.json")
        manifest = json.loads(raw)
        assert canonicalize(manifest) == raw
        files = [entry for session in manifest["sessions"] for entry in session["files"]]
        assert names == {"manifest.json"} | {entry["path"] for entry in files}
        for entry in files:
            content = zipped.read(entry["path"])
            assert hashlib.sha256(content).hexdigest() == entry["sha256"]
            path = tmp_path / entry["path"]
            path.write_bytes(content)
            report = verify_file(path, trusted_keys=keys.trusted_public_keys())
            assert report["status"] == "PASS", report
            assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert {s["session_id"] for s in manifest["sessions"]} == {str(s.pk) for s in sessions}
    assert {entry["format"] for entry in files} == {"json"}
    return manifest


def test_export_matter_command_writes_a_zip_that_verifies(reviewer, tmp_path):
    _, sessions = _matter_of_two(reviewer)
    out = io.StringIO()
    call_command("export_matter", "ACME V. BETA", "--out", str(tmp_path / "out"), stdout=out)
    (zipped,) = (tmp_path / "out").glob("*.zip")
    assert zipped.name.startswith("agentops-matter-acme-v-beta-")
    manifest = _check_zip(zipped.read_bytes(), tmp_path, sessions)
    assert manifest["matter"]["name"] == "Acme v. Beta"
    assert manifest["generated_by"].startswith("management command export_matter") or (
        "export_matter" in manifest["generated_by"]
    )
    assert [n["text"] for n in manifest["matter"]["notes"]] == ["matter note", "session note"]
    assert {s["tagged_by"] for s in manifest["matter"]["sessions"]} == {"rita"}
    records = ExportRecord.objects.filter(session__in=sessions, format="json")
    assert records.count() == 2 and {r.channel for r in records} == {"command"}
    assert not list((tmp_path / "out").glob(".*partial"))


def test_export_matter_command_refuses_an_unknown_matter(tmp_path):
    with pytest.raises(CommandError, match="MATTER_NOT_FOUND"):
        call_command("export_matter", "nope", "--out", str(tmp_path))


def test_the_console_export_is_recorded_under_the_reviewer(client_of, reviewer, tmp_path):
    matter, sessions = _matter_of_two(reviewer)
    before = timezone.now()
    response = client_of.post(reverse("admin:compliance_matter_export", args=[matter.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    manifest = _check_zip(b"".join(response.streaming_content), tmp_path, sessions)
    assert "rita" in manifest["generated_by"]
    records = ExportRecord.objects.filter(recorded_at__gte=before)
    assert {r.session_id for r in records} == {s.pk for s in sessions}
    assert {r.user for r in records} == {reviewer}
    # A reviewer without view_raw_payload receives masked copies, recorded as such.
    assert {r.redacted for r in records} == {True}


def test_a_console_export_above_the_bound_is_refused(client_of, reviewer, settings):
    matter, _ = _matter_of_two(reviewer)
    settings.AGENTOPS_EXPORT_INLINE_MAX_EVENTS = 5
    response = client_of.post(reverse("admin:compliance_matter_export", args=[matter.pk]))
    assert response.status_code == 302
    assert "MATTER_EXPORT_TOO_LARGE" in _messages(response)[0]
    assert not ExportRecord.objects.exists()
    # The command has no bound.
    manifest = matters.matter_export_write(
        matter=matter, actor=ACTOR, target=io.BytesIO(), bounded=False
    )
    assert manifest.manifest["summary"]["sessions"] == 2


# --------------------------------------------------------------------------------------
# The service's database role (PostgreSQL): adds rows, changes none
# --------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_service_role_adds_matters_tags_and_notes_and_changes_none(service_role):
    import psycopg

    user = get_user_model().objects.create_user("rita", password="pw", is_staff=True)
    session = session_sealed()
    with django_connected_as(*service_role):
        matter = matters.matter_create(name="Case", user=user)
        matters.matter_session_tag(matter=matter, session=session, user=user)
        matters.matter_session_untag(matter=matter, session=session, user=user)
        matters.note_add(user=user, text="kept", matter=matter)
    assert MatterSession.objects.count() == 2 and Note.objects.count() == 1

    refused = []
    with psycopg_connected_as(*service_role) as conn:
        for table, assignment in ASSIGNMENTS.items():
            for statement in (
                f"UPDATE {table} SET {assignment}",
                f"DELETE FROM {table}",
                f"TRUNCATE {table} CASCADE",
            ):
                try:
                    conn.execute(statement)
                except psycopg.errors.InsufficientPrivilege:
                    refused.append(statement)
    assert len(refused) == 9


# --------------------------------------------------------------------------------------
# Races (PostgreSQL: SQLite's in-memory test database shares one cache between threads,
# whose table locks do not wait; there IMMEDIATE transactions put writers in a row anyway)
# --------------------------------------------------------------------------------------


def _race(targets) -> tuple[list, list[BaseException]]:
    barrier = threading.Barrier(len(targets))
    results: list = []
    failures: list[BaseException] = []

    def run(target) -> None:
        try:
            barrier.wait()
            results.append(target())
        except BaseException as exc:  # reported to the main thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, failures


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reviewers_tagging_one_session_at_once_make_one_tag(evidence_transactional_db):
    user = get_user_model().objects.create_user("rita", password="pw", is_staff=True)
    session = session_sealed()
    matter = matters.matter_create(name="Case", user=user)

    def tag():
        return matters.matter_session_tag(matter=matter, session=session, user=user)

    results, failures = _race([tag] * 4)
    assert len(results) == 1
    assert [getattr(f, "code", f) for f in failures] == ["MATTER_ALREADY_TAGGED"] * 3
    assert MatterSession.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_matters_opened_at_once_under_one_name_make_one_matter(evidence_transactional_db):
    user = get_user_model().objects.create_user("rita", password="pw", is_staff=True)
    names = ["Acme", "ACME", "acme", "AcMe"]
    results, failures = _race(
        [lambda name=name: matters.matter_create(name=name, user=user) for name in names]
    )
    assert len(results) == 1
    assert [getattr(f, "code", f) for f in failures] == ["MATTER_EXISTS"] * 3
    assert Matter.objects.count() == 1
