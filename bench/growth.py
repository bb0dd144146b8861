"""Benchmark: does the service stay as fast with 20 million stored events as on an empty database?

Fills PostgreSQL with 20,000,000 events in 200,000 sealed sessions (``bench/_growth_fill.py``:
COPY into the real tables, triggers enabled, real chains and signed seals, findings, subject
fingerprints and the history of verifications), and keeps it between runs in a database of its
own (``agentops_growth``; ``BENCH_GROWTH_DB`` names another). The fill records its progress in
the database's comment: an interrupted fill resumes, a complete one is reused as it is.

Then measures, in the same run, the same figures on that database and on an empty one migrated
from scratch (``<name>_empty``): ingestion end to end over HTTP, seal latency, ``POST
/api/v1/verify`` of a 10,000-event session, the console's session list and a session page, a
person search (erasure's subject fingerprints), and ``export_sessions`` of one day. Target:
each at least 0.9 of its empty-database figure. Table and index sizes per million events are
reported too.

``--fill-only`` fills and stops; ``--measure-only`` refuses to fill (the database must be
complete). ``--sessions``/``--events-per-session`` give a smaller database for a trial.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, bench/ is first on sys.path and bench/policy.py would shadow the policy
# package: the repository goes first, bench/ last (for _common and ingest).
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
sys.path.append(str(HERE))
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432"
DB_NAME = os.environ.get("BENCH_GROWTH_DB", "agentops_growth")
SERVICE_ID = "bench-growth-01"
KEY_FILE = ROOT / "var" / "bench" / "growth_seal_key.pem"
TARGET_RATIO = 0.9
SESSIONS = 200_000
EVENTS_PER_SESSION = 100
CHUNK = 1000
DAYS = 200
FILL_START = datetime(2026, 1, 1, tzinfo=UTC)  # _growth_fill.START


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", flush=True)


def pg_url() -> str:
    return os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL).rstrip("/")


def pg_admin(*statements: str) -> list[Any]:
    import psycopg

    results = []
    with psycopg.connect(f"{pg_url()}/postgres", autocommit=True) as conn:
        for statement in statements:
            cursor = conn.execute(statement)
            results.append(cursor.fetchall() if cursor.description else None)
    return results


def database_exists(name: str) -> bool:
    rows = pg_admin(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")[0]
    return bool(rows)


def service_env(database: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"{pg_url()}/{database}",
            "DJANGO_SETTINGS_MODULE": "agentops.settings",
            "AGENTOPS_INGESTION_SERVICE_ID": SERVICE_ID,
            "AGENTOPS_SEAL_KEY_FILE": str(KEY_FILE),
            "AGENTOPS_SUBJECT_KEY": "growth-benchmark-subject-key",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def key_file_ensure() -> None:
    from agentops_sdk import seal

    KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    seal.private_key_load_or_generate(str(KEY_FILE))


def manage(database: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=service_env(database),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


def database_migrated(name: str) -> None:
    if not database_exists(name):
        pg_admin(f"CREATE DATABASE {name}")
    manage(name, "migrate", "--noinput")


def django_setup(database: str) -> None:
    os.environ.update(service_env(database))
    import django

    django.setup()


# --------------------------------------------------------------------------------------
# Fill
# --------------------------------------------------------------------------------------


def fill_run(args: argparse.Namespace) -> dict[str, Any]:
    """In this process: fill ``args.database`` (migrated first) and return its progress."""
    key_file_ensure()
    database_migrated(args.database)
    django_setup(args.database)
    from _growth_fill import fill

    return fill(
        database=args.database,
        sessions=args.sessions,
        events_per_session=args.events_per_session,
        chunk=args.chunk,
        days=DAYS,
        log=log,
        workers=args.fill_workers,
    )


# --------------------------------------------------------------------------------------
# Measure: the service on each database, then in-process probes in a child per database
# --------------------------------------------------------------------------------------

ROUNDS = 2
CLIENTS = 4  # concurrent producer sessions per round
SESSION_EVENTS = 10_000  # events of each measured session (the verified one included)
BATCH = 500
PROBE_REPEATS = 5
SESSION_EVENTS_RUN = [SESSION_EVENTS]  # --session-events, read by the forked producers


def person_email(seed: int) -> str:
    return f"growth.measure.{seed}@example.org"


def proposals_with_person(events: int, seed: int, ids: str) -> list[dict[str, Any]]:
    """The proposals of one measured session; its first model request names a person."""
    from ingest import session_proposals

    proposals = session_proposals(events, seed, ids)
    request = proposals[1]
    assert request["event_type"] == "MODEL_REQUEST"
    request["payload"]["messages"][-1]["content"] += f" My e-mail is {person_email(seed)}."
    return proposals


def client_run(
    port: int, api_key: str, seed: int, ids: str, ready: Any, start: Any, results: Any
) -> None:
    """One producer: start its session, wait for the signal, send every batch in turn."""
    import http.client

    from ingest import request

    proposals = proposals_with_person(SESSION_EVENTS_RUN[0], seed, ids)
    session_id = proposals[0]["session_id"]
    body = json.dumps({"agent_id": "support-bot", "session_id": session_id}).encode()
    status, answer = request(port, "POST", "/api/v1/sessions", body, api_key)
    if status not in (200, 201):
        results.put(("error", session_id, f"session start: {status} {answer}"))
        return
    bodies = [
        json.dumps({"events": proposals[i : i + BATCH]}, separators=(",", ":")).encode()
        for i in range(0, len(proposals), BATCH)
    ]
    path = f"/api/v1/sessions/{session_id}/events"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    ready.wait()
    start.wait()
    for data in bodies:
        status, answer = request(port, "POST", path, data, api_key, conn)
        if status != 200:
            results.put(("error", session_id, f"append: {status} {answer}"))
            return
    conn.close()
    results.put(("ok", session_id, seed))


def ingest_round(port: int, api_key: str, seeds: list[int], ids: str) -> dict[str, Any]:
    """Events/s of ``len(seeds)`` concurrent producers whose event ids are made as ``ids``
    says (``_common.session_events``), then each session sealed (latency) and verified
    through ``POST /api/v1/verify`` (latency)."""
    import multiprocessing as mp

    from ingest import request

    ctx = mp.get_context("fork")
    ready = ctx.Barrier(len(seeds) + 1)
    start = ctx.Barrier(len(seeds) + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=client_run, args=(port, api_key, seed, ids, ready, start, results))
        for seed in seeds
    ]
    for proc in procs:
        proc.start()
    ready.wait(timeout=600)
    start.wait()
    began = time.perf_counter()
    outcomes = [results.get(timeout=3600) for _ in procs]
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.join()
    errors = [f"{sid}: {what}" for kind, sid, what in outcomes if kind == "error"]
    if errors:
        raise SystemExit("ingestion failed: " + "; ".join(errors))
    seals, verifies = [], []
    sessions = []
    for _, session_id, seed in outcomes:
        began = time.perf_counter()
        status, body = request(port, "POST", f"/api/v1/sessions/{session_id}/seal", b"", api_key)
        seals.append(time.perf_counter() - began)
        if status != 200:
            raise SystemExit(f"seal of {session_id}: {status} {body}")
        payload = json.dumps({"session_id": session_id}).encode()
        began = time.perf_counter()
        status, report = request(port, "POST", "/api/v1/verify", payload, api_key)
        verifies.append(time.perf_counter() - began)
        if status != 200 or report.get("evidence_class") != "AUTHORITATIVE_EVIDENCE":
            raise SystemExit(f"verify of {session_id}: {status} {report}")
        sessions.append((session_id, seed))
    return {
        "rate": len(seeds) * SESSION_EVENTS_RUN[0] / elapsed,
        "seal": sorted(seals)[len(seals) // 2],
        "verify": sorted(verifies)[len(verifies) // 2],
        "sessions": sessions,
    }


def probe(database: str, session_id: str, seed: int, day: str) -> dict[str, float]:
    """In this process (Django on ``database``): the console's session list and the page of
    ``session_id``, a person search for the person of ``seed``, ``export_sessions`` of
    ``day``; seconds, median of a few runs (the export: one run)."""
    import io
    import statistics
    import tempfile

    django_setup(database)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from compliance.erasure import erasure_plan
    from ingestion.models import Project

    user = get_user_model().objects.filter(username="growth").first()
    if user is None:
        user = get_user_model().objects.create_superuser("growth", password="growth-bench-1")
    client = Client()
    client.force_login(user)
    project = Project.objects.get(name="growth")

    def timed(call: Any) -> float:
        runs = []
        call()  # first request: templates and caches warmed
        for _ in range(PROBE_REPEATS):
            began = time.perf_counter()
            call()
            runs.append(time.perf_counter() - began)
        return statistics.median(runs)

    def get(url: str) -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code}")

    def search() -> None:
        plan = erasure_plan(project=project, subject=person_email(seed))
        if plan.event_count != 1:
            raise SystemExit(f"person search found {plan.event_count} events, not 1")

    figures = {
        "list": timed(lambda: get(reverse("admin:ingestion_session_changelist"))),
        "page": timed(lambda: get(reverse("admin:ingestion_session_change", args=[session_id]))),
        "person": timed(search),
    }
    with tempfile.TemporaryDirectory(prefix="agentops-growth-") as out:
        output = io.StringIO()
        began = time.perf_counter()
        call_command(
            "export_sessions",
            "--out",
            out,
            "--no-progress",
            "--format",
            "jsonl",
            "--project",
            "growth",
            "--since",
            day,
            "--until",
            day,
            stdout=output,
        )
        figures["export"] = time.perf_counter() - began
        figures["export_sessions"] = float(output.getvalue().split(" session(s)")[0].split()[-1])
    return figures


def probe_in_child(database: str, session_id: str, seed: int, day: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--probe", database, session_id, str(seed), day],
        cwd=ROOT,
        env=service_env(database),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"probe of {database} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def index_reads(database: str) -> dict[str, int]:
    """Blocks of each ingestion_event index read from outside shared buffers so far (the
    database's own counters, unaffected by other databases on the server)."""
    import psycopg

    with psycopg.connect(f"{pg_url()}/{database}") as conn:
        rows = conn.execute(
            "SELECT indexrelname, idx_blks_read FROM pg_statio_user_indexes"
            " WHERE relname = 'ingestion_event'"
        ).fetchall()
    return {name: blocks for name, blocks in rows}


def event_id_index_set(database: str, kind: str) -> None:
    """An experiment (``--event-id-index``): the console's index on ``event_id`` alone made a
    b-tree, a hash index or dropped, in this database (built concurrently: minutes at 20
    million events). The migrations' own index is a b-tree (ingestion/0015; a hash index
    between 0014 and 0015)."""
    import psycopg

    with psycopg.connect(f"{pg_url()}/{database}", autocommit=True) as conn:
        found = conn.execute(
            "SELECT am.amname, i.indisvalid FROM pg_class c JOIN pg_am am ON am.oid = c.relam"
            " JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = 'event_event_id_idx'"
        ).fetchone()
        if found is not None and found[0] == kind and found[1]:
            return  # (an interrupted concurrent build leaves an invalid index: built again)
        log(f"{database}: event_event_id_idx {found[0] if found else 'absent'} -> {kind}")
        conn.execute("DROP INDEX CONCURRENTLY IF EXISTS event_event_id_idx")
        if kind != "none":
            conn.execute(
                f"CREATE INDEX CONCURRENTLY event_event_id_idx ON ingestion_event"
                f" USING {kind} (event_id)"
            )


def sizes(database: str) -> dict[str, Any]:
    """Events stored and the bytes of each evidence table: heap (with TOAST) and indexes."""
    import psycopg

    with psycopg.connect(f"{pg_url()}/{database}") as conn:
        row = conn.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = 'ingestion_event'"
        ).fetchone()
        events = row[0] if row else 0
        rows = conn.execute(
            "SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid),"
            " coalesce(pg_total_relation_size(c.reltoastrelid), 0)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'"
            " ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 8"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index"
            " WHERE indrelid = 'ingestion_event'::regclass ORDER BY 2 DESC"
        ).fetchall()
    return {"events": events, "tables": rows, "event_indexes": indexes}


def measure(args: argparse.Namespace) -> int:
    from _common import summary_print, table_print
    from ingest import free_port, service_start

    full = args.database
    empty = f"{full}_empty"
    import psycopg

    with psycopg.connect(f"{pg_url()}/{full}") as conn:
        cursor = conn.cursor()
        from _growth_fill import progress_read

        progress = progress_read(cursor, full)
    shape = progress.get("shape", {})
    total = -(-shape.get("sessions", 1) // shape.get("chunk", 1))
    if not progress.get("vacuumed") or progress.get("chunks_done") != total:
        raise SystemExit(f"{full} is not completely filled ({progress}); run --fill-only first")
    day_chunk = total // 2
    # With the default shape a chunk is exactly one day of sessions.
    spacing = timedelta(seconds=DAYS * 86400 / shape["sessions"])
    day = (FILL_START + spacing * day_chunk * shape["chunk"]).date().isoformat()

    log(f"empty database {empty}: created, migrated, given the exported day ({day})")
    pg_admin(f"DROP DATABASE IF EXISTS {empty} WITH (FORCE)")
    database_migrated(empty)
    manage(full, "migrate", "--noinput")
    day_fill = subprocess.run(
        [
            sys.executable,
            __file__,
            "--fill-chunk",
            str(day_chunk),
            "--database",
            empty,
            "--sessions",
            str(shape["sessions"]),
            "--events-per-session",
            str(shape["events_per_session"]),
            "--chunk",
            str(shape["chunk"]),
        ],
        cwd=ROOT,
        env=service_env(empty),
        check=False,
    )
    if day_fill.returncode != 0:
        raise SystemExit("the exported day could not be written into the empty database")
    for database in (empty, full):
        event_id_index_set(database, args.event_id_index)
    for database in (empty, full):
        manage(
            database,
            "shell",
            "-c",
            "import django.db; django.db.connection.cursor().execute('ANALYZE')",
        )

    keys = {db: manage(db, "create_api_key", "--project", "growth").strip() for db in (empty, full)}
    ports = {db: free_port() for db in (empty, full)}
    services = {db: service_start(service_env(db), ports[db], args.workers) for db in (empty, full)}
    base_seed = int(time.time()) % 10**7 * 100
    results: dict[str, list[dict[str, Any]]] = {empty: [], full: []}
    loads = [os.getloadavg()[0]]
    try:
        for round_ in range(args.rounds):
            for offset, database in enumerate((empty, full) if round_ % 2 == 0 else (full, empty)):
                seeds = [base_seed + round_ * 20 + offset * 10 + i for i in range(args.clients)]
                reads_before = index_reads(database)
                result = ingest_round(ports[database], keys[database], seeds, args.event_ids)
                reads_after = index_reads(database)
                events = args.clients * args.session_events
                result["index_reads"] = {
                    name: (reads_after[name] - reads_before.get(name, 0)) * 1000 / events
                    for name in reads_after
                }
                session_id, seed = result["sessions"][0]
                if not args.skip_probes:
                    result.update(probe_in_child(database, session_id, seed, day))
                results[database].append(result)
                loads.append(os.getloadavg()[0])
                log(
                    f"round {round_ + 1} {database}: "
                    + ", ".join(
                        f"{name} {value:,.3f}"
                        for name, value in result.items()
                        if isinstance(value, float)
                    )
                )
    finally:
        for service in services.values():
            service.terminate()
            service.wait(timeout=30)

    def best(database: str, name: str, higher: bool) -> float:
        values = [r[name] for r in results[database]]
        return max(values) if higher else min(values)

    rows, figures = [], []
    for label, name, unit, higher in (
        ("ingestion end to end", "rate", "events/s", True),
        ("seal latency", "seal", "s", False),
        ("POST /verify of a measured session", "verify", "s", False),
        ("console session list", "list", "s", False),
        ("console session page", "page", "s", False),
        ("person search", "person", "s", False),
        ("export_sessions of one day", "export", "s", False),
    ):
        if name not in results[full][0]:
            continue
        on_empty, on_full = best(empty, name, higher), best(full, name, higher)
        ratio = on_full / on_empty if higher else on_empty / on_full
        rows.append([label, f"{on_empty:,.4g} {unit}", f"{on_full:,.4g} {unit}", f"{ratio:.2f}"])
        figures.append(
            [f"{label}: full/empty", round(ratio, 3), TARGET_RATIO, ratio >= TARGET_RATIO]
        )
    size = sizes(full)
    millions = size["events"] / 1e6
    print(
        f"{full}: {size['events']:,} events in {shape['sessions']:,} sessions, filled in "
        f"{progress['seconds']:,.0f} s (+ vacuum {progress.get('vacuum_seconds', 0):,.0f} s); "
        f"empty: {empty} (plus the exported day, {shape['chunk']:,} sessions); "
        f"best of {args.rounds} rounds, {args.clients} producers x {args.session_events:,} events "
        f"with {args.event_ids} event ids, a {args.event_id_index} index on event_id; "
        f"load average {min(loads):.2f}-{max(loads):.2f}"
    )
    table_print(["figure", "empty", "full", "ratio"], rows)
    print("ingestion_event index blocks read from outside shared buffers per 1,000 events")
    print("ingested (ingestion, seal and verification of the measured sessions; mean of rounds)")
    names = sorted(results[full][0]["index_reads"])

    def mean_reads(database: str, name: str) -> str:
        rounds = results[database]
        return f"{sum(r['index_reads'].get(name, 0) for r in rounds) / len(rounds):,.1f}"

    table_print(
        ["index", "empty", "full"],
        [[name, mean_reads(empty, name), mean_reads(full, name)] for name in names],
    )
    print("sizes per million events (MB): table (with TOAST) / its indexes")
    table_print(
        ["table", "table MB/M", "indexes MB/M", "TOAST MB/M"],
        [
            [
                name,
                f"{heap / 1e6 / millions:,.1f}",
                f"{idx / 1e6 / millions:,.1f}",
                f"{toast / 1e6 / millions:,.1f}",
            ]
            for name, heap, idx, toast in size["tables"]
        ],
    )
    table_print(
        ["ingestion_event index", "MB/M"],
        [[name, f"{b / 1e6 / millions:,.1f}"] for name, b in size["event_indexes"]],
    )
    event_row = next(r for r in size["tables"] if r[0] == "ingestion_event")
    figures += [
        ["fill seconds", round(progress["seconds"]), None, True],
        ["ingestion_event MB per M events", round(event_row[1] / 1e6 / millions), None, True],
        ["its indexes MB per M events", round(event_row[2] / 1e6 / millions), None, True],
    ]
    summary_print("growth", figures)
    return 0


def fill_chunk(args: argparse.Namespace, number: int) -> None:
    key_file_ensure()
    django_setup(args.database)
    from _growth_fill import Filler

    filler = Filler(
        sessions=args.sessions,
        events_per_session=args.events_per_session,
        chunk=args.chunk,
        days=DAYS,
    )
    filler.chunk_write(number)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument("--measure-only", action="store_true")
    parser.add_argument("--database", default=DB_NAME)
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--events-per-session", type=int, default=EVENTS_PER_SESSION)
    parser.add_argument("--chunk", type=int, default=CHUNK)
    parser.add_argument(
        "--fill-workers", type=int, default=3, help="fill processes (chunks written at once)"
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--session-events", type=int, default=SESSION_EVENTS)
    parser.add_argument(
        "--skip-probes", action="store_true", help="ingestion, seal and verify figures only"
    )
    parser.add_argument(
        "--event-id-index",
        choices=["btree", "hash", "none"],
        default="btree",
        help="experiment: make the index on event_id alone this kind in both databases (the "
        "migrations' b-tree by default: a run after an experiment measures it again)",
    )
    parser.add_argument(
        "--event-ids",
        choices=["sdk", "random"],
        default="sdk",
        help="the measured producers' event ids: time-ordered as the SDK makes them (default) "
        "or random UUIDs, as another producer may send",
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--probe", nargs=4, metavar=("DB", "SESSION", "SEED", "DAY"))
    parser.add_argument("--fill-chunk", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    SESSION_EVENTS_RUN[0] = args.session_events
    if args.probe:
        database, session_id, seed, day = args.probe
        print(json.dumps(probe(database, session_id, int(seed), day)))
        return 0
    if args.fill_chunk is not None:
        fill_chunk(args, args.fill_chunk)
        return 0
    if args.fill_only:
        progress = fill_run(args)
        log(f"filled: {json.dumps(progress, sort_keys=True)}")
        return 0
    if not args.measure_only:
        progress = fill_run(args)
        log(f"filled: {json.dumps(progress, sort_keys=True)}")
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
