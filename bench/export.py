"""Benchmark: exports of long sessions, end to end through ``compliance.services.export_render``.

Seeds a database with realistic sealed sessions (model requests, responses, tool calls and
results, built by the SDK's own chain rules and signed with the service's key), inserted
directly with ``bulk_create`` to save time, and evaluated under the default policy as the
seal hook would. Then each export runs in a subprocess of its own, so that its peak RSS is
its alone: verification, findings, rendering and the ledger row included.

Targets: the PDF of a 10,000-event session in at most 20 s and 600 MB; the compliance JSON of
a 100,000-event session in at most 10 s and 200 MB, with a peak RSS that does not grow with the
session (compared with the same export of a 10,000-event session).

Long sessions (exports of any size, made by export jobs in production): ``--large-pdf-events``
(a PDF of 100,000 events in at most 150 s and 500 MB), ``--large-json-events`` (a compliance
JSON of 1,000,000 events in at most 100 s and 300 MB), ``--single-too`` (the 10,000-event PDF
also rendered as one WeasyPrint document, as before chunking), and ``--ingest-during N``:
``bench/ingest.py`` with N events while the machine is idle of exports, then again while
three large PDF export jobs run in ``export_worker`` processes, the batch p99 of both
compared (at most 2x).

Runs on a temporary SQLite database by default. With ``DATABASE_URL=postgres://...`` it
creates (and drops afterwards) the database ``<name>_bench_export`` on that server.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, bench/ is first on sys.path and bench/policy.py would shadow the policy
# package: the repository goes first, bench/ last (for _common).
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
sys.path.append(str(HERE))

from _common import (  # noqa: E402
    postgres_admin,
    postgres_bench_url,
    session_events,
    summary_print,
    table_print,
)

PDF_EVENTS = 10_000
JSON_EVENTS = 100_000
TARGET_PDF_SECONDS = 20.0
TARGET_PDF_RSS_MB = 600.0
TARGET_JSON_SECONDS = 10.0
TARGET_JSON_RSS_MB = 200.0
# "Does not grow with the session": ten times the events may cost at most this much more.
TARGET_JSON_RSS_GROWTH_MB = 40.0
SERVICE_ID = "bench-ingest-01"
_BATCH = 5000
LARGE_PDF_EVENTS = 100_000
LARGE_JSON_EVENTS = 1_000_000
TARGET_LARGE_PDF_SECONDS = 150.0
TARGET_LARGE_PDF_RSS_MB = 500.0
TARGET_LARGE_JSON_SECONDS = 100.0
TARGET_LARGE_JSON_RSS_MB = 300.0
TARGET_P99_RATIO = 2.0


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    import django

    django.setup()


def _peak_rss_mb() -> float:
    """This process's peak resident memory, in MB.

    Linux copies ``ru_maxrss`` from the parent at fork, and exec keeps it, so a child of the
    seeding process would report the parent's peak; VmHWM belongs to the new address space.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# --------------------------------------------------------------------------------------
# Seeding (parent process)
# --------------------------------------------------------------------------------------


def seed(count: int, *, seed_value: int) -> str:
    """A sealed session of ``count`` events (seal included) with its policy findings."""
    from agentops_sdk import chain
    from django.utils import timezone

    from ingestion import keys
    from ingestion.models import Event, EvidenceClass, Project, Session
    from policy.services import session_findings_evaluate

    project, _ = Project.objects.get_or_create(name="bench")
    events = session_events(count, private_key=keys.signing_key(), seed=seed_value)
    first = next(events)
    now = timezone.now()
    session = Session.objects.create(
        id=first["session_id"], project=project, agent_id="support-bot", created_at=now
    )

    def row(envelope: dict) -> Event:
        payload_jcs = chain.canonicalize(envelope["payload"]).decode("utf-8")
        return Event.from_envelope(
            envelope, session=session, payload_jcs=payload_jcs, received_at=now
        )

    batch = [row(first)]
    last = first
    for envelope in events:
        batch.append(row(envelope))
        last = envelope
        if len(batch) == _BATCH:
            Event.objects.bulk_create(batch)
            batch = []
    Event.objects.bulk_create(batch)
    # Sealed only now: the triggers refuse events in a sealed session.
    Session.objects.filter(pk=session.pk).update(
        head_sequence=last["sequence_number"],
        head_hash=last["event_hash"],
        event_count=count - 1,
        has_session_end=True,
        last_event_at=now,
        sealed_at=now,
        evidence_class=EvidenceClass.AUTHORITATIVE,
    )
    session_findings_evaluate(session=Session.objects.get(pk=session.pk))
    return str(session.pk)


# --------------------------------------------------------------------------------------
# One measured export (child process)
# --------------------------------------------------------------------------------------


def child(fmt: str, session_id: str) -> None:
    _django_setup()
    from compliance.exports.context import Actor
    from compliance.services import export_render
    from ingestion.models import Session

    session = Session.objects.get(pk=session_id)
    actor = Actor.for_command("bench/export.py", operator="bench")
    began = time.perf_counter()
    rendered = export_render(session=session, fmt=fmt, actor=actor)
    seconds = time.perf_counter() - began
    rendered.file.close()
    record = rendered.record
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": _peak_rss_mb(),
                "size_bytes": record.size_bytes,
                "status": record.verification_status,
                "evidence_class": record.evidence_class,
            }
        )
    )


def measure(fmt: str, session_id: str, env: dict[str, str], **extra: str) -> dict:
    env = {**env, **extra}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", fmt, session_id],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"the {fmt} export of {session_id} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------
# The database
# --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdf-events", type=int, default=PDF_EVENTS)
    parser.add_argument("--json-events", type=int, default=JSON_EVENTS)
    parser.add_argument("--large-pdf-events", type=int, default=0, help="e.g. 100000")
    parser.add_argument("--large-json-events", type=int, default=0, help="e.g. 1000000")
    parser.add_argument("--single-too", action="store_true", help="also one-document PDF")
    parser.add_argument("--ingest-during", type=int, default=0, help="ingest.py events")
    parser.add_argument("--child", nargs=2, metavar=("FORMAT", "SESSION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0

    with tempfile.TemporaryDirectory(prefix="agentops-bench-export-") as tmp:
        env = dict(os.environ)
        given = os.environ.get("DATABASE_URL", "")
        postgres = given.startswith(("postgres://", "postgresql://"))
        if postgres:
            url, name = postgres_bench_url(given, "_bench_export")
            postgres_admin(given, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        else:
            url = f"sqlite:///{tmp}/bench.sqlite3"
        env.update(
            DATABASE_URL=url,
            DJANGO_SETTINGS_MODULE="agentops.settings",
            AGENTOPS_INGESTION_SERVICE_ID=SERVICE_ID,
            AGENTOPS_DEV_SEAL_KEY_FILE=f"{tmp}/seal-key.pem",
            AGENTOPS_SEAL_KEY_FILE="",
        )
        os.environ.update(env)
        try:
            return run(args, env, "PostgreSQL" if postgres else "SQLite")
        finally:
            if postgres:
                from django.db import connections

                connections.close_all()
                postgres_admin(given, f'DROP DATABASE IF EXISTS "{name}"')


def run(args: argparse.Namespace, env: dict[str, str], database: str) -> int:
    _django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"database: {database}")
    sessions = {}
    for label, count, seed_value in (
        ("pdf", args.pdf_events, 1),
        ("json-small", args.json_events // 10, 2),
        ("json", args.json_events, 3),
    ):
        began = time.perf_counter()
        sessions[label] = seed(count, seed_value=seed_value)
        print(f"seeded {count:,} events ({label}) in {time.perf_counter() - began:.1f} s")

    results = {
        "pdf-session": sessions["pdf"],
        "pdf": measure("pdf", sessions["pdf"], env),
        "json-small": measure("json", sessions["json-small"], env),
        "json": measure("json", sessions["json"], env),
        "jsonl": measure("jsonl", sessions["json"], env),
    }
    for label, result in results.items():
        if label == "pdf-session":
            continue
        if result["evidence_class"] != "AUTHORITATIVE_EVIDENCE":
            print(f"unexpected verdict for {label}: {result}")
            return 1

    table_print(
        ["export", "events", "seconds", "peak RSS MB", "size MB"],
        [
            [
                label,
                count,
                f"{r['seconds']:.2f}",
                f"{r['peak_rss_mb']:.0f}",
                f"{r['size_bytes'] / 1e6:.1f}",
            ]
            for label, count, r in (
                ("PDF", args.pdf_events, results["pdf"]),
                ("compliance JSON", args.json_events // 10, results["json-small"]),
                ("compliance JSON", args.json_events, results["json"]),
                ("JSONL", args.json_events, results["jsonl"]),
            )
        ],
    )
    pdf, json_big, json_small = results["pdf"], results["json"], results["json-small"]
    growth = json_big["peak_rss_mb"] - json_small["peak_rss_mb"]
    figures = [
        [
            f"PDF, {args.pdf_events:,} events (s)",
            round(pdf["seconds"], 2),
            TARGET_PDF_SECONDS,
            pdf["seconds"] <= TARGET_PDF_SECONDS,
        ],
        [
            f"PDF, {args.pdf_events:,} events, peak RSS (MB)",
            round(pdf["peak_rss_mb"]),
            TARGET_PDF_RSS_MB,
            pdf["peak_rss_mb"] <= TARGET_PDF_RSS_MB,
        ],
        [
            f"compliance JSON, {args.json_events:,} events (s)",
            round(json_big["seconds"], 2),
            TARGET_JSON_SECONDS,
            json_big["seconds"] <= TARGET_JSON_SECONDS,
        ],
        [
            f"compliance JSON, {args.json_events:,} events, peak RSS (MB)",
            round(json_big["peak_rss_mb"]),
            TARGET_JSON_RSS_MB,
            json_big["peak_rss_mb"] <= TARGET_JSON_RSS_MB,
        ],
        [
            "compliance JSON peak RSS growth for 10x the events (MB)",
            round(growth),
            TARGET_JSON_RSS_GROWTH_MB,
            growth <= TARGET_JSON_RSS_GROWTH_MB,
        ],
        [
            f"JSONL, {args.json_events:,} events (s)",
            round(results["jsonl"]["seconds"], 2),
            TARGET_JSON_SECONDS,
            results["jsonl"]["seconds"] <= TARGET_JSON_SECONDS,
        ],
    ]
    figures += large(args, env, results)
    summary_print("export", figures)
    return 0


def _load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def large(args: argparse.Namespace, env: dict[str, str], results: dict) -> list[list]:
    """The long sessions, the one-document comparison and ingestion during exports."""
    figures: list[list] = []
    pdf = results["pdf"]
    if args.single_too:
        print(f"PDF, {args.pdf_events:,} events, as one document ({_load()})")
        single = measure("pdf", results["pdf-session"], env, AGENTOPS_PDF_CHUNK_EVENTS="1000000000")
        print(
            f"  one document {single['seconds']:.2f} s, {single['peak_rss_mb']:.0f} MB; "
            f"in chunks {pdf['seconds']:.2f} s, {pdf['peak_rss_mb']:.0f} MB; "
            f"ratio {pdf['seconds'] / single['seconds']:.2f}"
        )
        figures.append(
            [
                f"PDF, {args.pdf_events:,} events: in chunks / one document (time)",
                round(pdf["seconds"] / single["seconds"], 2),
                1.0,
                pdf["seconds"] <= single["seconds"],
            ]
        )
    for label, count, fmt, seconds_max, rss_max in (
        ("PDF", args.large_pdf_events, "pdf", TARGET_LARGE_PDF_SECONDS, TARGET_LARGE_PDF_RSS_MB),
        (
            "compliance JSON",
            args.large_json_events,
            "json",
            TARGET_LARGE_JSON_SECONDS,
            TARGET_LARGE_JSON_RSS_MB,
        ),
    ):
        if not count:
            continue
        began = time.perf_counter()
        session_id = seed(count, seed_value=10 + len(figures))
        print(f"seeded {count:,} events ({label}) in {time.perf_counter() - began:.1f} s")
        print(f"{label}, {count:,} events: starting ({_load()})")
        result = measure(fmt, session_id, env)
        print(
            f"  {result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB, "
            f"{result['size_bytes'] / 1e6:.1f} MB ({_load()})"
        )
        results[f"large-{fmt}"] = {**result, "session": session_id}
        figures += [
            [
                f"{label}, {count:,} events (s)",
                round(result["seconds"], 1),
                seconds_max,
                result["seconds"] <= seconds_max,
            ],
            [
                f"{label}, {count:,} events, peak RSS (MB)",
                round(result["peak_rss_mb"]),
                rss_max,
                result["peak_rss_mb"] <= rss_max,
            ],
        ]
    if args.ingest_during:
        figures += ingest_during(args, env, results)
    return figures


def _ingest_p99(events: int) -> float:
    proc = subprocess.run(
        [sys.executable, str(HERE / "ingest.py"), "--events", str(events), "--rounds", "1"],
        capture_output=True,
        text=True,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
            "BENCH_DB_NAME": os.environ.get("BENCH_DB_NAME", "agentops_bench_during_export"),
        },
    )
    for line in proc.stdout.splitlines():
        if line.startswith('{"bench": "ingest"'):
            figures = json.loads(line)["figures"]
            return float(next(f[1] for f in figures if f[0] == "batch p99 ms"))
    sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:])
    raise SystemExit("bench/ingest.py did not report its p99")


def ingest_during(args: argparse.Namespace, env: dict[str, str], results: dict) -> list[list]:
    """POST /events p99 with no export running, then while three large PDF export jobs run,
    each in an ``export_worker`` process as production runs them (at its lower priority)."""
    from compliance import jobs
    from compliance.exports.context import Actor
    from compliance.models import ExportJob
    from ingestion.models import Session

    session = Session.objects.get(
        pk=results.get("large-pdf", {}).get("session") or results["pdf-session"]
    )
    print(f"ingest.py, {args.ingest_during:,} events, no export running ({_load()})")
    idle = _ingest_p99(args.ingest_during)
    print(f"  batch p99 {idle:.0f} ms")
    actor = Actor.for_command("bench/export.py", operator="bench")
    queued = [jobs.export_job_create(session=session, fmt="pdf", actor=actor) for _ in range(3)]
    job_dir = tempfile.mkdtemp(prefix="agentops-bench-export-jobs-")
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "export_worker",
                "--batch",
                "--max-tasks",
                "1",
            ],
            env={**env, "AGENTOPS_EXPORT_JOB_DIR": job_dir},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in queued
    ]
    ids = [job.pk for job in queued]
    try:
        deadline = time.monotonic() + 600
        while ExportJob.objects.filter(pk__in=ids, stage="rendering").count() < len(ids):
            if time.monotonic() > deadline:
                raise SystemExit("the three export jobs did not all reach their rendering")
            time.sleep(0.2)
        print(f"ingest.py, {args.ingest_during:,} events, 3 PDF export jobs running ({_load()})")
        busy = _ingest_p99(args.ingest_during)
        still = ExportJob.objects.filter(pk__in=ids, state="running").count()
        print(f"  batch p99 {busy:.0f} ms; ratio {busy / idle:.2f}; jobs still running: {still}")
    finally:
        for proc in workers:
            proc.wait()
        shutil.rmtree(job_dir, ignore_errors=True)
    states = sorted(ExportJob.objects.filter(pk__in=ids).values_list("state", flat=True))
    if states != ["done"] * len(ids):
        raise SystemExit(f"export jobs ended {states}")
    return [
        [
            "POST events p99 during 3 PDF export jobs / idle",
            round(busy / idle, 2),
            TARGET_P99_RATIO,
            busy / idle <= TARGET_P99_RATIO,
        ]
    ]


if __name__ == "__main__":
    sys.exit(main())
