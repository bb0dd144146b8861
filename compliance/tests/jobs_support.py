"""Export jobs in tests: the queued tasks run as the worker runs them, and a 202 followed."""

from __future__ import annotations

from compliance.tasks import EXPORT_QUEUE


def run_export_jobs() -> int:
    """Every queued export task, run as ``db_worker`` runs one (its ``Worker.run_task``),
    inside the test's transaction (the worker's own loop closes connections between tasks;
    test_export_worker_killed runs the real command in processes of its own)."""
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    worker = Worker(
        queue_names=[EXPORT_QUEUE],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test",
        excluded_queue_names=[],
    )
    count = 0
    while task := DBTaskResult.objects.ready().filter(queue_name=EXPORT_QUEUE).first():
        task.claim("test")
        worker.run_task(task)
        count += 1
    return count


def followed(client, response):
    """The export itself: a 202 job is run, then its file fetched with ``client``."""
    if response.status_code != 202:
        return response
    run_export_jobs()
    status = client.get(response["Location"]).json()
    assert status["state"] == "done", status
    return client.get(status["download_url"])


def console_followed(client, response):
    """A console download: a redirect to an export job's page is followed, the job run, and
    its file fetched as the page's button does."""
    if response.status_code != 302 or "/export-job/" not in response["Location"]:
        return response
    run_export_jobs()
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"Ready:" in page.content, page.content.decode()[-2000:]
    return client.post(response["Location"] + "file/")
