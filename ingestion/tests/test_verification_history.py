"""The history of verifications: written by the seal and by every later verification, kept
append-only by the database, and read by the API as the session's current verdict."""

from __future__ import annotations

import importlib
import json

import pytest
from agentops_sdk import seal
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from ingestion import keys, selectors, services
from ingestion.errors import AppendOnlyError
from ingestion.models import Session, Verification, VerificationTrigger

from .factories import api_key_create, project_create, session_with_events

pytestmark = pytest.mark.django_db

history_migration = importlib.import_module("ingestion.migrations.0006_verification_history")


def _execute(sql: str, params: list | None = None) -> None:
    # A savepoint per statement: on PostgreSQL a refused statement aborts the transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _sealed(project=None) -> Session:
    session = session_with_events(3, end=True, project=project)
    services.session_seal(session=session)
    return session


def _rows(session: Session) -> list[dict]:
    return list(Verification.objects.filter(session=session).order_by("pk").values())


def _key_replaced(settings, tmp_path) -> None:
    """The service signs with a new key and no longer trusts the one that signed the seals."""
    seal.private_key_generate(tmp_path / "new.pem")
    settings.AGENTOPS_SEAL_KEY_FILE = str(tmp_path / "new.pem")
    keys.cache_clear()


# --- what the seal and a verification record ---------------------------------------------


def test_the_seal_writes_the_first_verification_of_the_session():
    session = _sealed()
    [row] = Verification.objects.filter(session=session)
    assert (row.trigger, row.status, row.evidence_class) == (
        "seal",
        "PASS",
        "AUTHORITATIVE_EVIDENCE",
    )
    assert row.report == session.verification
    assert row.verified_at == session.sealed_at
    assert (row.event_count, row.last_sequence_number, row.last_event_hash) == (
        3,
        session.head_sequence,
        session.head_hash,
    )
    assert row.actor == "ingestion service test-ingest"


def test_a_seal_that_fails_writes_nothing_to_the_history():
    session = session_with_events(0)
    with pytest.raises(Exception, match="cannot be sealed"):
        services.session_seal(session=session)
    assert not Verification.objects.filter(session=session).exists()


def test_repeating_a_seal_adds_no_verification():
    session = _sealed()
    services.session_seal(session=session)
    assert Verification.objects.filter(session=session).count() == 1


def test_each_verification_appends_a_row_naming_what_ran_it_and_who():
    session = _sealed()
    api_key, _ = api_key_create(session.project, "auditor")
    services.session_verify(
        session=session,
        trigger=VerificationTrigger.API,
        actor=services.Caller.for_api_key(api_key),
    )
    latest = selectors.session_latest_verification(session=session)
    assert (latest.trigger, latest.status, latest.api_key_id) == ("api", "PASS", api_key.pk)
    assert "'auditor'" in latest.actor and api_key.prefix in latest.actor
    assert Verification.objects.filter(session=session).count() == 2


def test_an_unknown_trigger_is_refused_before_anything_is_written():
    session = _sealed()
    with pytest.raises(ValueError):
        services.session_verify(session=session, trigger="cron")
    assert Verification.objects.filter(session=session).count() == 1


# --- append-only, in the database itself ----------------------------------------------------


@pytest.mark.parametrize(
    "assignment", ["status = 'PASS'", "evidence_class = 'AUTHORITATIVE_EVIDENCE'", "report = '{}'"]
)
def test_update_of_a_verification_is_refused(assignment):
    session = _sealed()
    before = _rows(session)
    with pytest.raises(IntegrityError, match="append-only: verifications cannot be updated"):
        _execute(f"UPDATE ingestion_verification SET {assignment}")
    assert _rows(session) == before


def test_delete_of_a_verification_is_refused():
    session = _sealed()
    row = Verification.objects.get(session=session)
    with pytest.raises(IntegrityError, match="append-only: verifications cannot be deleted"):
        _execute("DELETE FROM ingestion_verification WHERE id = %s", [row.pk])
    with pytest.raises(IntegrityError, match="append-only: verifications cannot be deleted"):
        _execute("DELETE FROM ingestion_verification")
    assert Verification.objects.filter(pk=row.pk).exists()


@pytest.mark.postgres
def test_truncate_of_the_history_is_refused():
    session = _sealed()
    _execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(IntegrityError, match="append-only: verifications cannot be truncated"):
        _execute("TRUNCATE ingestion_verification")
    assert Verification.objects.filter(session=session).exists()


@pytest.mark.postgres
def test_the_trigger_function_runs_with_a_fixed_search_path():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proconfig, n.nspname = current_schema() FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE p.proname = 'ingestion_verification_refuse'"
        )
        [(config, in_schema)] = cursor.fetchall()
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
    assert in_schema
    assert config == [f"search_path={schema}, pg_temp"]


def test_the_model_refuses_to_change_or_delete_a_verification():
    row = Verification.objects.get(session=_sealed())
    row.status = "FAIL"
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()


class _Editor:
    """What the migration functions use of a schema editor, on the test's own transaction."""

    connection = connection

    def execute(self, sql: str, params=None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def test_the_triggers_reverse_and_reapply_cleanly():
    session = _sealed()
    history_migration.drop_triggers(None, _Editor())
    _execute("UPDATE ingestion_verification SET actor = 'changed'")
    history_migration.create_triggers(None, _Editor())
    with pytest.raises(IntegrityError, match="append-only"):
        _execute("DELETE FROM ingestion_verification")
    assert Verification.objects.get(session=session).actor == "changed"


def test_sessions_sealed_before_the_history_get_their_seal_verification():
    from django.apps import apps

    session = _sealed()
    seal_row = Verification.objects.get(session=session)
    open_session = session_with_events(2)
    history_migration.seal_verifications_record(apps, _Editor())
    backfilled = Verification.objects.filter(session=session).exclude(pk=seal_row.pk).get()
    for field in ("trigger", "status", "evidence_class", "report", "verified_at", "event_count"):
        assert getattr(backfilled, field) == getattr(seal_row, field), field
    assert (backfilled.last_sequence_number, backfilled.last_event_hash) == (
        session.head_sequence,
        session.head_hash,
    )
    assert not Verification.objects.filter(session=open_session).exists()


# --- the API shows the latest verification --------------------------------------------------


@pytest.fixture
def project_api():
    project = project_create()
    _, plaintext = api_key_create(project)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return project, client


def test_get_session_shows_a_later_verification_that_no_longer_accepts_the_seal(
    project_api, settings, tmp_path
):
    project, client = project_api
    session = _sealed(project)
    url = f"/api/v1/sessions/{session.pk}"
    before = client.get(url).json()
    assert before["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    assert before["latest_verification"]["trigger"] == "seal"

    _key_replaced(settings, tmp_path)
    verified = client.post(
        "/api/v1/verify", {"session_id": str(session.pk)}, content_type="application/json"
    )
    assert verified.json()["status"] == "FAIL"  # SEAL_SIGNATURE_INVALID under the new key
    body = client.get(url).json()
    assert body["evidence_class"] == "FAILED"
    assert body["evidence_class_at_seal"] == "AUTHORITATIVE_EVIDENCE"
    latest = body["latest_verification"]
    assert (latest["status"], latest["evidence_class"], latest["trigger"]) == (
        "FAIL",
        "FAILED",
        "api",
    )
    assert latest["verified_at"] > before["latest_verification"]["verified_at"]


def test_an_open_session_has_no_evidence_class_yet_whatever_a_check_said(project_api):
    project, client = project_api
    session = session_with_events(2, project=project)
    client.post("/api/v1/verify", {"session_id": str(session.pk)}, content_type="application/json")
    body = client.get(f"/api/v1/sessions/{session.pk}").json()
    assert body["evidence_class"] is None
    assert body["latest_verification"]["trigger"] == "api"


def test_a_session_just_started_answers_with_the_same_fields(project_api):
    _, client = project_api
    response = client.post(
        "/api/v1/sessions", {"agent_id": "support-bot"}, content_type="application/json"
    )
    body = response.json()
    assert response.status_code == 201
    assert (body["evidence_class"], body["latest_verification"]) == (None, None)


def test_the_list_and_its_evidence_class_filter_follow_the_latest_verification(
    project_api, settings, tmp_path
):
    project, client = project_api
    checked_again, untouched = _sealed(project), _sealed(project)
    _key_replaced(settings, tmp_path)
    services.session_verify(session=checked_again, trigger=VerificationTrigger.COMMAND)

    listed = {s["session_id"]: s for s in client.get("/api/v1/sessions").json()["results"]}
    assert listed[str(checked_again.pk)]["evidence_class"] == "FAILED"
    assert listed[str(checked_again.pk)]["latest_verification"]["trigger"] == "command"
    assert listed[str(untouched.pk)]["evidence_class"] == "AUTHORITATIVE_EVIDENCE"

    def ids(evidence_class: str) -> set[str]:
        page = client.get("/api/v1/sessions", {"evidence_class": evidence_class}).json()
        assert page["count"] == len(page["results"])
        return {s["session_id"] for s in page["results"]}

    assert ids("AUTHORITATIVE_EVIDENCE") == {str(untouched.pk)}
    assert ids("FAILED") == {str(checked_again.pk)}


def test_the_api_list_costs_the_same_queries_for_2_or_8_sessions(project_api):
    project, client = project_api

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/api/v1/sessions")
        assert all(s["latest_verification"] for s in response.json()["results"])
        # The throttle's cache may also prune expired entries now and then: not the list's.
        return len([q for q in captured.captured_queries if "agentops_cache" not in q["sql"]])

    for _ in range(2):
        session = _sealed(project)
        services.session_verify(session=session, trigger=VerificationTrigger.API)
    with_2 = queries_for_list()
    for _ in range(6):
        session = _sealed(project)
        services.session_verify(session=session, trigger=VerificationTrigger.API)
    assert queries_for_list() == with_2


def test_the_schema_documents_the_latest_verification():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    session = components["Session"]["properties"]
    assert {"evidence_class", "evidence_class_at_seal", "latest_verification"} <= set(session)
    text = json.dumps(session["latest_verification"])
    assert "LatestVerification" in text and '"nullable": true' in text
    latest = components["LatestVerification"]["properties"]
    assert set(latest) == {"status", "evidence_class", "verified_at", "trigger"}
    assert "FAILED" in json.dumps(components)
