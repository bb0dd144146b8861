"""Large JSONL files on several CPUs."""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from .. import reading
from .events import _event_checks
from .session import _SessionCheck

#: JSONL files from this size on are checked by worker processes when several CPUs are usable.
_PARALLEL_MIN_BYTES = 32 * 1024 * 1024
#: Lines are handed to workers in blocks of about this size (whole lines, so maybe more).
_BLOCK_BYTES = 1024 * 1024


def _worker_start() -> multiprocessing.context.BaseContext:
    """How worker processes start: forked when that is safe, else as fresh interpreters.

    Forking costs milliseconds where a fresh interpreter spends a few tenths of a second on
    its imports, but it copies a process as it is: with another thread running, a lock that
    thread holds would stay locked in the child forever. So only a Linux process with a
    single thread forks (the pool's own threads start after its workers).
    """
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _check_block(data: bytes, first_line: int, max_line_bytes: int | None) -> list[tuple]:
    """Parse and check a block of whole JSONL lines; runs in a worker process.

    Each ``_Checked`` goes back as a plain tuple, the cheapest to unpickle in the process
    that runs the chain checks, which is the one all events pass through.
    """
    lines = reading.iter_lines(io.BytesIO(data), first_line, max_line_bytes=max_line_bytes)
    return [tuple(_event_checks(event)) for event in lines]


def _check_jsonl_in_workers(
    path: Path, check: _SessionCheck, workers: int, max_line_bytes: int | None = None
) -> None:
    """Feed ``check`` the events of a JSONL file whose own checks run in worker processes.

    This process reads the file in blocks of whole lines and keeps at most two blocks per
    worker in flight, so memory stays bounded whatever the file size; results come back in
    file order and go through the same chain checks as in a single process.
    """
    pending: deque[Future[list[tuple]]] = deque()
    line = 1
    bound = (reading.MAX_LINE_BYTES if max_line_bytes is None else max_line_bytes) + 2
    with open(path, "rb") as handle, ProcessPoolExecutor(workers, _worker_start()) as pool:

        def submit() -> bool:
            nonlocal line
            block = handle.read(_BLOCK_BYTES)
            if not block:
                return False
            if not block.endswith(b"\n"):
                # Bounded: a longer line is refused by the worker that gets its start.
                block += handle.readline(bound)
            pending.append(pool.submit(_check_block, block, line, max_line_bytes))
            line += block.count(b"\n")
            return True

        more = True
        while more and len(pending) < 2 * workers:
            more = submit()
        try:
            while pending:
                checked = pending.popleft().result()
                if more:
                    more = submit()
                for event in checked:
                    check.add(event)
        finally:
            for future in pending:
                future.cancel()
