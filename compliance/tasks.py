"""The tasks of the compliance app, run by ``manage.py export_worker`` (see compliance.jobs)."""

from __future__ import annotations

from django_tasks import task

EXPORT_QUEUE = "exports"


@task(queue_name=EXPORT_QUEUE)
def export_job_task(job_id: str, attempt: int) -> str:
    """Render one attempt of an export job."""
    from .jobs import export_job_run

    return export_job_run(job_id=job_id, attempt=attempt)
