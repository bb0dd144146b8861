"""``manage.py export_worker``: runs export jobs (compliance.jobs).

Django-tasks' ``db_worker`` on the ``exports`` queue, plus a watchdog thread that queues
again the jobs whose worker died (no heartbeat for ``AGENTOPS_EXPORT_JOB_STALE_SECONDS``)
and deletes finished files past ``AGENTOPS_EXPORT_JOB_KEEP_HOURS``. Start one or more; each
runs one job at a time, at the lower CPU priority of ``AGENTOPS_EXPORT_WORKER_NICE``, so that
a long PDF never slows the web workers that answer ingestion.
"""

from __future__ import annotations

import logging
import os
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection

from compliance import jobs
from compliance.tasks import EXPORT_QUEUE

logger = logging.getLogger(__name__)


def _watch(stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        try:
            close_old_connections()
            jobs.export_jobs_recover()
            jobs.export_jobs_expire()
        except Exception:  # the watchdog must outlive a database hiccup
            logger.exception("export job watchdog")
        finally:
            connection.close()


def worker_priority_lower(nice: int) -> int:
    """Raise this process's niceness to ``nice`` (never lower it: that needs privileges and
    is not what a setting of 0 asks for). Returns the niceness now in force."""
    if not 0 <= nice <= 19:
        raise CommandError(f"AGENTOPS_EXPORT_WORKER_NICE must be 0 to 19, not {nice}")
    current = os.nice(0)
    return os.nice(nice - current) if nice > current else current


class Command(BaseCommand):
    help = "Run background export jobs (PDF reports, long JSON/JSONL exports)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
        parser.add_argument("--batch", action="store_true", help="exit when the queue is empty")
        parser.add_argument("--max-tasks", type=int, default=None)

    def handle(self, *args, interval, batch, max_tasks, **options):
        niceness = worker_priority_lower(settings.AGENTOPS_EXPORT_WORKER_NICE)
        self.stdout.write(f"export worker: niceness {niceness}")
        recovered = jobs.export_jobs_recover()
        if recovered:
            self.stdout.write(f"queued again: {len(recovered)} job(s) whose worker died")
        stop = threading.Event()
        every = max(1.0, settings.AGENTOPS_EXPORT_JOB_STALE_SECONDS / 4)
        watchdog = threading.Thread(target=_watch, args=(stop, every), daemon=True)
        watchdog.start()
        extra = ["--batch"] if batch else []
        if max_tasks is not None:
            extra += ["--max-tasks", str(max_tasks)]
        try:
            call_command(
                "db_worker",
                "--queue-name",
                EXPORT_QUEUE,
                "--interval",
                str(interval),
                "--no-startup-delay",
                *extra,
            )
        finally:
            stop.set()
