"""Export jobs: a PDF, or a long JSON/JSONL export, is queued (202), run by the export
worker (django-tasks' database queue, run here in-process with ``export_worker --batch``),
then fetched, each fetch entered in the ledger."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from compliance import jobs
from compliance.models import ExportJob, ExportRecord
from ingestion import services as ingestion_services

from .factories import session_sealed
from .jobs_support import run_export_jobs
from .pdf_attachments import pdf_attachments

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _job_dir(settings, tmp_path):
    settings.AGENTOPS_EXPORT_JOB_DIR = str(tmp_path / "export-jobs")


@pytest.fixture
def api_key():
    return ingestion_services.api_key_create(project_name="acme", name="exporter")


@pytest.fixture
def client(api_key):
    _, plaintext = api_key
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


@pytest.fixture
def session(api_key):
    key, _ = api_key
    return session_sealed(project=key.project)


def other_client() -> Client:
    _, plaintext = ingestion_services.api_key_create(project_name="other", name="them")
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def export(client, session_id, fmt):
    return client.get(f"/api/v1/sessions/{session_id}/export", {"format": fmt})


def run_worker() -> None:
    run_export_jobs()


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_pdf_is_a_job_whose_file_is_recorded_in_the_ledger_each_time_it_is_fetched(
    client, session, tmp_path
):
    accepted = export(client, session.pk, "pdf")
    assert accepted.status_code == 202
    job = accepted.json()
    assert accepted["Location"] == job["url"]
    assert (job["state"], job["format"], job["download_url"]) == ("queued", "pdf", None)
    assert not ExportRecord.objects.filter(format="pdf").exists()

    run_worker()

    status = client.get(job["url"]).json()
    assert status["state"] == "done"
    assert status["progress"]["fraction"] == 1.0
    first = client.get(status["download_url"])
    assert first.status_code == 200
    assert first["Content-Type"] == "application/pdf"
    data = body(first)
    record = ExportRecord.objects.get(pk=first["X-AgentOps-Export-Id"])
    assert record.format == "pdf"
    assert record.sha256 == hashlib.sha256(data).hexdigest() == status["sha256"]
    assert record.api_key is not None
    # The PDF carries the compliance JSON it cites, recorded when the PDF was made.
    cited = record.json_export
    assert cited.attached_to_pdf
    assert first["X-AgentOps-Cites-JSON-SHA256"] == cited.sha256
    (attachment,) = pdf_attachments(data, tmp_path).values()
    assert hashlib.sha256(attachment).hexdigest() == cited.sha256

    second = client.get(status["download_url"])
    assert body(second) == data
    assert ExportRecord.objects.filter(format="pdf", sha256=record.sha256).count() == 2


def test_json_is_answered_at_once_up_to_the_threshold_and_queued_beyond(client, session, settings):
    settings.AGENTOPS_EXPORT_INLINE_MAX_EVENTS = session.event_count
    assert export(client, session.pk, "json").status_code == 200
    settings.AGENTOPS_EXPORT_INLINE_MAX_EVENTS = session.event_count - 1
    for fmt in ("json", "jsonl"):
        accepted = export(client, session.pk, fmt)
        assert accepted.status_code == 202, fmt
    run_worker()
    for job in ExportJob.objects.all():
        fetched = client.get(f"/api/v1/exports/{job.pk}/download")
        assert fetched.status_code == 200
        assert hashlib.sha256(body(fetched)).hexdigest() == job.sha256


def test_another_projects_job_and_a_malformed_id_are_not_found(client, session):
    job = export(client, session.pk, "pdf").json()
    stranger = other_client()
    for url in (job["url"], job["url"] + "/download", "/api/v1/exports/not-a-uuid"):
        answer = stranger.get(url)
        assert answer.status_code == 404, url
        assert answer.json()["error"]["code"] == "EXPORT_JOB_NOT_FOUND"


def test_a_file_is_not_served_before_the_job_is_done(client, session):
    job = export(client, session.pk, "pdf").json()
    answer = client.get(job["url"] + "/download")
    assert answer.status_code == 409
    assert answer.json()["error"] == {
        "code": "EXPORT_NOT_READY",
        "message": "the export job has not finished",
        "details": {"state": "queued"},
    }


def test_a_project_has_a_limit_of_jobs_at_once_that_does_not_touch_another(
    client, session, settings
):
    settings.AGENTOPS_EXPORT_JOBS_PER_PROJECT = 1
    assert export(client, session.pk, "pdf").status_code == 202
    refused = export(client, session.pk, "pdf")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "EXPORT_JOBS_LIMIT"
    assert refused["Retry-After"]
    # Another project's session is queued all the same.
    key, plaintext = ingestion_services.api_key_create(project_name="other", name="them")
    other = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    theirs = session_sealed(project=key.project)
    assert export(other, theirs.pk, "pdf").status_code == 202
    run_worker()
    assert export(client, session.pk, "pdf").status_code == 202


def test_a_job_whose_worker_stopped_answering_is_run_again_and_the_old_attempt_stops(
    session, settings
):
    from compliance.exports.context import Actor

    job = jobs.export_job_create(session=session, fmt="json", actor=Actor("tester"))
    claimed = jobs._claim(str(job.pk), 1)
    assert claimed is not None and claimed.state == "running"
    # Not stale yet: nothing happens.
    assert jobs.export_jobs_recover() == []
    ExportJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now()
        - timedelta(seconds=settings.AGENTOPS_EXPORT_JOB_STALE_SECONDS + 1)
    )
    (recovered,) = jobs.export_jobs_recover()
    assert (recovered.attempt, recovered.state) == (2, "queued")
    # The first attempt, were it still alive, may not finish the job.
    assert jobs.export_job_run(job_id=str(job.pk), attempt=1).startswith("not claimed")
    run_worker()  # runs both queued tasks: attempt 1 is refused, attempt 2 does the job
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("done", 2)


def test_a_job_out_of_attempts_fails_and_says_why(client, session, settings):
    settings.AGENTOPS_EXPORT_JOB_ATTEMPTS = 1
    job = export(client, session.pk, "pdf").json()
    jobs._claim(job["id"], 1)
    ExportJob.objects.filter(pk=job["id"]).update(heartbeat_at=timezone.now() - timedelta(days=1))
    status = client.get(job["url"]).json()
    assert status["state"] == "failed"
    assert "stopped answering" in status["error"]
    answer = client.get(job["url"] + "/download")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "EXPORT_FAILED"
