"""Benchmark: ingesting 200,000 events over HTTP into PostgreSQL, end to end.

Creates a fresh PostgreSQL database (``agentops_bench``), migrates it, starts the real service
under gunicorn (with the project's ``gunicorn.conf.py``) and drives it from separate client
processes: 8 concurrent sessions, batches of 500 proposed events with realistic payloads
(model requests with messages, responses, tool calls and results; about 300 bytes each), as
the SDK sends them. Request bodies are encoded
before the clock starts. Afterwards every session is sealed and re-verified through the API
(``POST /api/v1/verify``); a run whose chains do not all verify as AUTHORITATIVE_EVIDENCE
reports failure, not a speed.

In the same run it measures two ceilings over the same events:

- the hash-only ceiling: payload hash and event hash of every event in one process, no I/O;
- the storage ceiling: PostgreSQL ``COPY`` (psycopg 3 ``cursor.copy``) of the same rows into a
  scratch table with the events table's shape (columns, defaults, unique indexes; no
  triggers), one COPY and one commit per batch of 500, no hashing.

The run is made of rounds (``--rounds``, 3 by default): each round measures both ceilings,
ingests its own sessions end to end, and measures both ceilings again. A round's ceiling is
the one of both sides together (all their events over all their time), so that it brackets
the end-to-end phase: on a shared machine whose speed drifts within seconds, a ceiling taken
on one side only compares the phase with another moment. Every round is printed; the figures
judged are the medians of the rounds' rates and ratios.

Targets on the reference 2-core machine: at least 10,000 events/s end to end, at least
40 % of the lower ceiling and at least 50 % of the storage ceiling. Refuses to run when
PostgreSQL is not reachable (``BENCH_PG_URL``, default ``postgres://postgres@127.0.0.1:5432``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import session_events, summary_print, table_print, usable_cpus
from agentops_sdk import chain, seal

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET_RATE = 10_000
TARGET_RATIO = 0.40
TARGET_COPY_RATIO = 0.50  # end to end against the storage (COPY) ceiling alone
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432"
DB_NAME = os.environ.get("BENCH_DB_NAME", "agentops_bench")  # another name: a run of its own
SERVICE_ID = "bench-ingest-01"
SCRATCH_TABLE = "bench_copy_scratch"
# The proposal fields the SDK sends in server-authority mode (it leaves payload_hash out).
SENT_FIELDS = tuple(name for name in chain.PRODUCER_FIELDS if name != "payload_hash")


# --------------------------------------------------------------------------------------
# Workload
# --------------------------------------------------------------------------------------


def session_proposals(events: int, seed: int, ids: str = "sdk") -> list[dict[str, Any]]:
    """``events`` proposals of one session (SESSION_START ... SESSION_END), as sent; event ids
    made as ``ids`` says (``_common.session_events``)."""
    generated = session_events(events + 1, seed=seed, ids=ids)  # the last, the seal, dropped
    return [
        {name: event[name] for name in SENT_FIELDS}
        for _, event in zip(range(events), generated, strict=False)
    ]


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# --------------------------------------------------------------------------------------
# PostgreSQL and the service
# --------------------------------------------------------------------------------------


def pg_connect(base_url: str, dbname: str, **kwargs: Any):
    import psycopg

    return psycopg.connect(f"{base_url.rstrip('/')}/{dbname}", connect_timeout=5, **kwargs)


def database_recreate(base_url: str) -> None:
    with pg_connect(base_url, "postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(base_url: str, key_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"{base_url.rstrip('/')}/{DB_NAME}",
            "DJANGO_SETTINGS_MODULE": "agentops.settings",
            "AGENTOPS_INGESTION_SERVICE_ID": SERVICE_ID,
            "AGENTOPS_SEAL_KEY_FILE": str(key_file),
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


def service_start(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "agentops.wsgi",
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        try:
            status, _ = request(port, "GET", "/healthz", None, None)
            if status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the service did not answer /healthz within 30 s")


def request(
    port: int, method: str, path: str, body: bytes | None, api_key: str | None, conn=None
) -> tuple[int, Any]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        if own:
            conn.close()
    return response.status, json.loads(data) if data else None


# --------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------


def client_run(port, api_key, events, seed, batch, ready, start, results, seal=False) -> None:
    """One producer: start its session, wait for the signal, then send every batch in turn
    (and, with ``seal``, seal the session as its last request)."""
    proposals = session_proposals(events, seed)
    session_id = proposals[0]["session_id"]
    status, body = request(
        port,
        "POST",
        "/api/v1/sessions",
        json.dumps({"agent_id": "support-bot", "session_id": session_id}).encode(),
        api_key,
    )
    if status not in (200, 201):
        results.put(("error", session_id, f"session start: {status} {body}"))
        return
    bodies = [
        json.dumps(
            {"events": proposals[i : i + batch]}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        for i in range(0, len(proposals), batch)
    ]
    del proposals
    path = f"/api/v1/sessions/{session_id}/events"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    latencies = []
    ready.wait()
    start.wait()
    for data in bodies:
        began = time.perf_counter()
        status, answer = request(port, "POST", path, data, api_key, conn)
        latencies.append(time.perf_counter() - began)
        if status != 200:
            results.put(("error", session_id, f"append: {status} {answer}"))
            return
    if seal:
        seal_path = f"/api/v1/sessions/{session_id}/seal"
        status, answer = request(port, "POST", seal_path, b"", api_key, conn)
        if status != 200:
            results.put(("error", session_id, f"seal: {status} {answer}"))
            return
    conn.close()
    results.put(("ok", session_id, latencies))


def end_to_end(
    port: int,
    api_key: str,
    per_session: list[int],
    batch: int,
    seal: bool = False,
    first_seed: int = 1000,
) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    ready = ctx.Barrier(len(per_session) + 1)
    start = ctx.Barrier(len(per_session) + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=client_run,
            args=(port, api_key, events, first_seed + i, batch, ready, start, results, seal),
        )
        for i, events in enumerate(per_session)
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
    latencies = [x for kind, _, lat in outcomes if kind == "ok" for x in lat]
    return {
        "elapsed": elapsed,
        "errors": errors,
        "latencies": sorted(latencies),
        "sessions": [sid for _, sid, _ in outcomes],
    }


def seal_and_verify(port: int, api_key: str, sessions: list[str], expected: dict[str, int]):
    failures = []
    for session_id in sessions:
        status, body = request(port, "POST", f"/api/v1/sessions/{session_id}/seal", b"", api_key)
        if status != 200:
            failures.append(f"{session_id}: seal answered {status} {body}")
            continue
        status, report = request(
            port,
            "POST",
            "/api/v1/verify",
            json.dumps({"session_id": session_id}).encode(),
            api_key,
        )
        if status != 200:
            failures.append(f"{session_id}: verify answered {status} {report}")
        elif (
            report.get("status") != "PASS"
            or report.get("evidence_class") != "AUTHORITATIVE_EVIDENCE"
            or report.get("event_count") != expected[session_id]
        ):
            failures.append(
                f"{session_id}: {report.get('status')} {report.get('evidence_class')} "
                f"{report.get('event_count')} events, {report.get('violations')}"
            )
    return failures


# --------------------------------------------------------------------------------------
# Ceilings
# --------------------------------------------------------------------------------------


def hash_ceiling(sessions: list[list[dict[str, Any]]]) -> tuple[int, float]:
    """Events and seconds of payload hash + event hash over the same events, one process, no
    I/O."""
    count = sum(len(events) for events in sessions)
    began = time.perf_counter()
    for events in sessions:
        prev = None
        for proposal in events:
            envelope = chain.chain_event(
                proposal,
                prev_event_hash=prev,
                chain_authority=chain.AUTHORITY_SERVER,
                authority_id=SERVICE_ID,
            )
            prev = envelope["event_hash"]
    return count, time.perf_counter() - began


def storage_rows(sessions: list[list[dict[str, Any]]]) -> list[list[tuple]]:
    """The rows the events table stores for the same events, hashed beforehand."""
    now = datetime.now(UTC)
    rows = []
    for events in sessions:
        prev = None
        session_rows = []
        for proposal in events:
            env = chain.chain_event(
                proposal,
                prev_event_hash=prev,
                chain_authority=chain.AUTHORITY_SERVER,
                authority_id=SERVICE_ID,
            )
            prev = env["event_hash"]
            session_rows.append(
                (
                    env["session_id"],
                    env["sequence_number"],
                    env["event_id"],
                    env["timestamp_wall"],
                    env["timestamp_monotonic"],
                    env["event_type"],
                    env["source_sdk_ver"],
                    env["schema_ver"],
                    chain.canonicalize(env["payload"]).decode(),
                    env["payload_hash"],
                    env["prev_event_hash"],
                    env["event_hash"],
                    env["chain_authority"],
                    env["authority_id"],
                    now,
                    None,
                )
            )
        rows.append(session_rows)
    return rows


def storage_ceiling(base_url: str, rows: list[list[tuple]], batch: int) -> tuple[int, float]:
    """Events and seconds of COPY into a table shaped like the events table, one commit per
    batch."""
    columns = (
        "session_id, sequence_number, event_id, timestamp_wall, timestamp_monotonic, "
        "event_type, source_sdk_ver, schema_ver, payload_jcs, payload_hash, prev_event_hash, "
        "event_hash, chain_authority, authority_id, received_at, api_key_id"
    )
    batches = [
        session_rows[i : i + batch]
        for session_rows in rows
        for i in range(0, len(session_rows), batch)
    ]
    count = sum(len(b) for b in batches)
    with pg_connect(base_url, DB_NAME) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}")
        conn.execute(f"CREATE TABLE {SCRATCH_TABLE} (LIKE ingestion_event INCLUDING ALL)")
        conn.commit()
        began = time.perf_counter()
        for chunk in batches:
            copy_sql = f"COPY {SCRATCH_TABLE} ({columns}) FROM STDIN"
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for row in chunk:
                    copy.write_row(row)
            conn.commit()
        elapsed = time.perf_counter() - began
        conn.execute(f"DROP TABLE {SCRATCH_TABLE}")
        conn.commit()
    return count, elapsed


def rate_of(*measures: tuple[int, float]) -> float:
    """Events/s of several measurements together: all their events over all their time."""
    return sum(count for count, _ in measures) / sum(seconds for _, seconds in measures)


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events in total")
    parser.add_argument("--sessions", type=int, default=8, help="concurrent sessions")
    parser.add_argument("--batch", type=int, default=500, help="events per request")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument(
        "--ceiling-sample",
        type=int,
        default=50_000,
        help="events the ceilings are measured on (at most --events)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of end to end and ceilings, in turn"
    )
    args = parser.parse_args()
    base_url = os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL)
    try:
        with pg_connect(base_url, "postgres") as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure: there is nothing to measure against
        print(
            f"PostgreSQL is not reachable at {base_url} ({exc.__class__.__name__}: {exc}); "
            "this benchmark needs a PostgreSQL server (set BENCH_PG_URL). Not run.",
            file=sys.stderr,
        )
        return 2

    per_session = split(args.events, args.sessions)
    if min(per_session) < 2:
        raise SystemExit("each session needs at least 2 events")
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    sample = split(min(args.ceiling_sample, args.events), args.sessions)
    sessions = [session_proposals(n, 1000 + i) for i, n in enumerate(sample)]
    rows = storage_rows(sessions)
    payload_bytes = statistics.mean(
        len(chain.canonicalize(p["payload"])) for events in sessions for p in events
    )
    database_recreate(base_url)
    rounds: list[dict[str, Any]] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="agentops-bench-") as tmp:
        key_file = Path(tmp) / "seal-key.pem"
        seal.private_key_generate(key_file)
        env = service_env(base_url, key_file)
        manage(env, "migrate", "--noinput")
        api_key = manage(env, "create_api_key", "--project", "bench").strip()
        port = free_port()
        service = service_start(env, port, args.workers)
        try:
            for r in range(args.rounds):
                first_seed = 1000 + r * args.sessions
                load = os.getloadavg()[0]
                hash_before = hash_ceiling(sessions)
                copy_before = storage_ceiling(base_url, rows, args.batch)
                run = end_to_end(port, api_key, per_session, args.batch, first_seed=first_seed)
                copy_after = storage_ceiling(base_url, rows, args.batch)
                hash_after = hash_ceiling(sessions)
                expected = {
                    session_proposals(2, first_seed + i)[0]["session_id"]: n
                    for i, n in enumerate(per_session)
                }
                failures = run["errors"] or seal_and_verify(
                    port, api_key, run["sessions"], expected
                )
                if failures:
                    break
                rounds.append(
                    {
                        "rate": args.events / run["elapsed"],
                        "elapsed": run["elapsed"],
                        "latencies": run["latencies"],
                        "hash": rate_of(hash_before, hash_after),
                        "copy": rate_of(copy_before, copy_after),
                        "copy_sides": (rate_of(copy_before), rate_of(copy_after)),
                        "load": (load, os.getloadavg()[0]),
                    }
                )
        finally:
            service.terminate()
            service.wait(timeout=30)
    if failures:
        print("FAILED: the run did not store verifiable chains:")
        for failure in failures:
            print("  " + failure)
        return 1

    def median(name: str) -> float:
        return statistics.median(x[name] for x in rounds)

    rate, hash_rate, copy_rate = median("rate"), median("hash"), median("copy")
    copy_ratio = statistics.median(x["rate"] / x["copy"] for x in rounds)
    ratio = statistics.median(x["rate"] / min(x["hash"], x["copy"]) for x in rounds)
    latencies = sorted(t for x in rounds for t in x["latencies"])
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    loads = [f"{a:.2f}-{b:.2f}" for x in rounds for a, b in [x["load"]]]
    print(
        f"{args.events:,} events in {args.sessions} sessions per round, {len(rounds)} rounds, "
        f"batches of {args.batch}, payloads {payload_bytes:.0f} canonical bytes on average; "
        f"gunicorn -w {args.workers}; {usable_cpus()} usable CPUs; 1-minute load average per "
        f"round (start-end) {', '.join(loads)}"
    )
    print(f"all {len(rounds) * args.sessions} sessions sealed and verified: AUTHORITATIVE_EVIDENCE")
    table_print(
        [
            "round",
            "end to end events/s",
            "hash ceiling",
            "storage ceiling (before, after)",
            "e2e / storage",
        ],
        [
            [
                str(i + 1),
                f"{x['rate']:,.0f} ({x['elapsed']:.1f} s)",
                f"{x['hash']:,.0f}",
                f"{x['copy']:,.0f} ({x['copy_sides'][0]:,.0f}, {x['copy_sides'][1]:,.0f})",
                f"{x['rate'] / x['copy']:.0%}",
            ]
            for i, x in enumerate(rounds)
        ],
    )
    table_print(
        ["measure (median of the rounds)", "value"],
        [
            ["end to end", f"{rate:,.0f} events/s"],
            ["batch latency p50", f"{p50 * 1000:.0f} ms"],
            ["batch latency p99", f"{p99 * 1000:.0f} ms"],
            ["hash-only ceiling", f"{hash_rate:,.0f} events/s (one process)"],
            ["storage ceiling", f"{copy_rate:,.0f} events/s (COPY, commit per batch)"],
            ["end to end / storage ceiling", f"{copy_ratio:.0%}"],
            ["end to end / lower ceiling", f"{ratio:.0%}"],
        ],
    )
    summary_print(
        "ingest",
        [
            ["events/s end to end", round(rate), TARGET_RATE, rate >= TARGET_RATE],
            ["batch p50 ms", round(p50 * 1000), None, True],
            ["batch p99 ms", round(p99 * 1000), None, True],
            ["hash-only ceiling events/s", round(hash_rate), None, True],
            ["storage ceiling events/s", round(copy_rate), None, True],
            [
                "ratio to storage ceiling",
                round(copy_ratio, 3),
                TARGET_COPY_RATIO,
                copy_ratio >= TARGET_COPY_RATIO,
            ],
            ["ratio to lower ceiling", round(ratio, 3), TARGET_RATIO, ratio >= TARGET_RATIO],
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
