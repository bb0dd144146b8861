"""A real ``manage.py export_worker`` process is killed (SIGKILL) in the middle of a PDF job:
no file appears under the job's name, the job is queued again when its heartbeat goes stale,
a second worker finishes it, and the file served over HTTP is the whole, verifiable PDF.

The workers are processes of their own on the test database, so this needs PostgreSQL (the
SQLite test database lives in the test process's memory)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from compliance import jobs
from compliance.exports.context import Actor
from compliance.models import ExportJob
from ingestion import services as ingestion_services

from .factories import session_sealed
from .pdf_attachments import pdf_attachments

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]


def worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / "manage.py"), "export_worker", "--interval", "0.1"],
        cwd=REPO,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def niceness(pid: int) -> int:
    """The niceness of a running process, from /proc (field 19 of its stat line)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_job_survives_its_worker_being_killed(
    evidence_transactional_db, live_server, tmp_path, settings
):
    job_dir = tmp_path / "export-jobs"
    settings.AGENTOPS_EXPORT_JOB_DIR = str(job_dir)
    settings.AGENTOPS_EXPORT_JOB_STALE_SECONDS = 2
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{connection.settings_dict['NAME']}",
        "AGENTOPS_EXPORT_JOB_DIR": str(job_dir),
        "AGENTOPS_EXPORT_JOB_STALE_SECONDS": "2",
        "AGENTOPS_PDF_CHUNK_EVENTS": "400",
        "AGENTOPS_DEV_SEAL_KEY_FILE": settings.AGENTOPS_DEV_SEAL_KEY_FILE,
        "AGENTOPS_INGESTION_SERVICE_ID": settings.AGENTOPS_INGESTION_SERVICE_ID,
        "DB_CONN_MAX_AGE": "0",
        "AGENTOPS_EXPORT_WORKER_NICE": "7",
    }
    key, plaintext = ingestion_services.api_key_create(project_name="acme", name="exporter")
    session = session_sealed(project=key.project, extra=2500)
    job = jobs.export_job_create(session=session, fmt="pdf", actor=Actor("tester"))
    log = tmp_path / "workers.log"

    first = worker(env, log)
    try:

        def rendering():
            job.refresh_from_db()
            return job.state == "running" and job.stage == "rendering"

        wait_for(rendering, 120, "the first worker to render")
        # The worker yields the CPU to the web workers: it runs at the configured niceness.
        assert niceness(first.pid) == 7
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("running", 1)
    # Killed mid-job: nothing under a final name, and nothing to download.
    assert [p.name for p in job_dir.iterdir() if not p.name.endswith(".partial")] == []
    headers = {"Authorization": f"Bearer {plaintext}"}
    url = f"{live_server.url}/api/v1/exports/{job.pk}"
    refused = requests.get(url + "/download", headers=headers, timeout=30)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "EXPORT_NOT_READY"

    second = worker(env, log)
    try:

        def finished():
            job.refresh_from_db()
            return job.state in ("done", "failed")

        wait_for(finished, 300, "the second worker to finish the job")
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(20)
        except subprocess.TimeoutExpired:
            second.kill()
    assert (job.state, job.attempt) == ("done", 2), (job.error, log.read_text()[-3000:])
    # Only the finished file is left: the killed attempt's partial file was cleared away.
    assert [p.name for p in job_dir.iterdir()] == [Path(job.file_path).name]

    status = requests.get(url, headers=headers, timeout=30).json()
    assert status["state"] == "done"
    fetched = requests.get(status["download_url"], headers=headers, timeout=60)
    assert fetched.status_code == 200
    data = fetched.content
    assert (
        hashlib.sha256(data).hexdigest()
        == job.sha256
        == fetched.headers["X-AgentOps-Export-SHA256"]
    )
    (attached,) = pdf_attachments(data, tmp_path / "attached").values()
    assert hashlib.sha256(attached).hexdigest() == fetched.headers["X-AgentOps-Cites-JSON-SHA256"]
    assert ExportJob.objects.get(pk=job.pk).size_bytes == len(data)


def test_a_worker_refuses_a_niceness_out_of_range(settings):
    settings.AGENTOPS_EXPORT_WORKER_NICE = 20
    with pytest.raises(CommandError, match="0 to 19"):
        call_command("export_worker", "--batch")
