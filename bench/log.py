"""Benchmark: the transparency log at 1,000,000 leaves (PostgreSQL).

Builds a log of 1,000,000 leaves in a fresh database (sessions, leaves and complete subtrees
written with COPY, the subtrees computed by ``agentops_sdk.merkle``: the same rows the seal
writes one by one), then measures, at that size:

- inclusion and consistency proof generation (``ingestion.transparency.services``), against
  a ceiling: the same proof computed in memory from the subtrees fetched beforehand;
  target: at most 10 ms per proof (median and p95 printed);
- signing a tree head (size, root, Ed25519, insert), against the bare Ed25519 signature;
- seal latency with and without the log, seals alternating so both see the same load;
- a monitor catching up 100,000 leaves (``agentops-verify log-monitor --leaves`` in its own
  process, over HTTP to the service served by wsgiref on a loopback port), against the
  ceiling of hashing the same leaves into a frontier in memory.

Uses the database named by ``BENCH_PG_URL`` (default
``postgres://postgres@127.0.0.1:5432/agentops_tlog``), dropped and created again.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/agentops_tlog"
PROOF_TARGET_MS = 10.0


def database_fresh(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    os.environ["AGENTOPS_API_RATE"] = "1000000/min"
    os.environ["AGENTOPS_LOG_STH_INTERVAL"] = "3600"
    os.environ["AGENTOPS_DEV_SEAL_KEY_FILE"] = str(Path(tempfile.mkdtemp()) / "bench-key.pem")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def log_build(start: int, count: int, frontier, project_id: int) -> None:
    """Append ``count`` leaves from ``start`` with COPY: sessions, leaves, complete subtrees."""
    from agentops_sdk import merkle
    from django.db import connection, transaction

    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(start)
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        sessions, leaves, nodes = [], [], []
        for index in range(start, start + count):
            session_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            leaf = merkle.seal_leaf(
                session_id=str(session_id),
                seal_payload={
                    "session_digest": "sha256:" + rng.randbytes(32).hex(),
                    "event_count": rng.randrange(2, 500),
                    "complete": True,
                    "total_drops": 0,
                    "seal_timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "ingestion_service_id": "bench-ingest-01",
                    "signature": {
                        "key_id": "0123456789abcdef",
                        "value": base64.b64encode(rng.randbytes(64)).decode(),
                    },
                },
            )
            digest = merkle.leaf_hash(leaf)
            sessions.append((session_id, project_id, "bench", "{}", stamp, stamp, 0, 0, True))
            leaves.append((index, session_id, leaf.decode(), digest.hex(), stamp))
            nodes.append((0, index, digest.hex()))
            # The subtrees this leaf completes, as log_leaf_append writes them: the
            # frontier's last hashes are the left siblings, smallest first.
            level, position, carry, left = 0, index, digest, len(frontier.hashes)
            while position & 1:
                left -= 1
                carry = merkle.node_hash(frontier.hashes[left], carry)
                level, position = level + 1, position >> 1
                nodes.append((level, position, carry.hex()))
            frontier.append(digest)
        with raw.copy(
            "COPY ingestion_session (id, project_id, agent_id, metadata, created_at, sealed_at,"
            " event_count, total_drops, has_session_end) FROM STDIN"
        ) as copy:
            for row in sessions:
                copy.write_row(row)
        with raw.copy(
            "COPY ingestion_logleaf (leaf_index, session_id, leaf, leaf_hash, appended_at)"
            " FROM STDIN"
        ) as copy:
            for row in leaves:
                copy.write_row(row)
        with raw.copy("COPY ingestion_lognode (level, position, hash) FROM STDIN") as copy:
            for row in nodes:
                copy.write_row(row)


def timed(run, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return times


def p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


def proofs_measure(size: int, repeat: int) -> list[tuple]:
    from agentops_sdk import merkle

    from ingestion.transparency import services as log

    rng = random.Random(7)
    indices = [rng.randrange(size) for _ in range(repeat)]
    firsts = [rng.randrange(1, size) for _ in range(repeat)]
    db_inc, db_con, mem_inc, mem_con = [], [], [], []
    for index, first in zip(indices, firsts, strict=True):
        began = time.perf_counter()
        log.log_inclusion_proof(leaf_index=index, tree_size=size)
        db_inc.append(time.perf_counter() - began)
        began = time.perf_counter()
        log.log_consistency_proof(first=first, second=size)
        db_con.append(time.perf_counter() - began)
        # Ceiling: the same proofs from subtrees already in memory.
        wanted: set = set()

        def record(a: int, b: int, wanted: set = wanted) -> bytes:
            wanted.update(merkle.perfect_pieces(a, b))
            return b""

        merkle.inclusion_path(index, size, record)
        merkle.consistency_path(first, size, record)
        found = log._nodes_fetch(wanted)

        def subtree(a: int, b: int, found: dict = found) -> bytes:
            return merkle.subtree_hash_from_pieces(a, b, lambda lv, pos: found[(lv, pos)])

        began = time.perf_counter()
        merkle.inclusion_path(index, size, subtree)
        mem_inc.append(time.perf_counter() - began)
        began = time.perf_counter()
        merkle.consistency_path(first, size, subtree)
        mem_con.append(time.perf_counter() - began)
    rows = []
    for name, db, mem in (("inclusion", db_inc, mem_inc), ("consistency", db_con, mem_con)):
        rows.append(
            (
                f"{name} proof at {size:,}",
                ms(statistics.median(db)),
                ms(p95(db)),
                ms(statistics.median(mem)),
                f"{statistics.median(mem) / statistics.median(db):.2f}",
                "yes" if p95(db) * 1000 <= PROOF_TARGET_MS else "NO",
            )
        )
    return rows


def signing_measure(repeat: int) -> tuple:
    from agentops_sdk import merkle

    from ingestion import keys
    from ingestion.transparency import services as log

    key = keys.signing_key()
    head = {"tree_size": 1, "root_hash": "00" * 32, "timestamp": "t", "key_id": "k"}
    full = timed(log.tree_head_sign, repeat)
    bare = timed(lambda: key.sign(merkle.tree_head_message(head)), repeat)
    return (
        "sign a tree head",
        ms(statistics.median(full)),
        ms(p95(full)),
        ms(statistics.median(bare)),
        f"{statistics.median(bare) / statistics.median(full):.3f}",
        "-",
    )


def seal_measure(count: int) -> list[tuple]:
    from ingestion import services
    from ingestion.services import seal as seal_module
    from ingestion.tests.factories import session_with_events

    with_log, without_log = [], []
    real = seal_module.log_leaf_append
    for number in range(count * 2):
        session = session_with_events(5, end=True)
        use_log = number % 2 == 0
        seal_module.log_leaf_append = real if use_log else (lambda **kwargs: None)
        try:
            began = time.perf_counter()
            services.session_seal(session=session)
            (with_log if use_log else without_log).append(time.perf_counter() - began)
        finally:
            seal_module.log_leaf_append = real
    return [
        (
            "seal, with the log",
            ms(statistics.median(with_log)),
            ms(p95(with_log)),
            ms(statistics.median(without_log)),
            f"{statistics.median(without_log) / statistics.median(with_log):.2f}",
            "-",
        ),
    ]


def monitor_measure(head_before: dict, frontier_before, caught_up: int) -> tuple:
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from agentops_sdk import merkle, seal
    from django.core.wsgi import get_wsgi_application

    from ingestion import keys
    from ingestion.models import LogLeaf

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    state = Path(tempfile.mkdtemp()) / "monitor.json"
    public = seal.public_key_b64(keys.signing_key().public_key())
    state.write_text(
        json.dumps(
            {
                "server": url,
                "keys": [public],
                "tree_head": head_before,
                "frontier": frontier_before.to_json(),
            }
        )
    )
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "agentops_sdk.verify", "log-monitor", "--server", url,
         "--state", str(state), "--leaves"],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    elapsed = time.perf_counter() - began
    server.shutdown()
    if result.returncode != 0:
        raise SystemExit(f"the monitor failed: {result.stdout}{result.stderr}")
    start = head_before["tree_size"]
    leaves = [
        x.encode()
        for x in LogLeaf.objects.filter(leaf_index__gte=start, leaf_index__lt=start + caught_up)
        .order_by("leaf_index")
        .values_list("leaf", flat=True)
    ]
    frontier = merkle.Frontier.from_json(frontier_before.to_json())
    ceiling_began = time.perf_counter()
    for leaf in leaves:
        frontier.append(merkle.leaf_hash(leaf))
    ceiling = time.perf_counter() - ceiling_began
    return (
        f"monitor catches up {caught_up:,} leaves",
        f"{elapsed:.2f} s ({caught_up / elapsed:,.0f} leaves/s)",
        "-",
        f"{ceiling:.2f} s",
        f"{ceiling / elapsed:.3f}",
        "-",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--catch-up", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--seals", type=int, default=50)
    args = parser.parse_args()
    url = os.environ.get("BENCH_PG_URL", DEFAULT_URL)
    database_fresh(url)
    django_setup(url)

    from agentops_sdk import merkle

    from ingestion.models import Project
    from ingestion.transparency import services as log

    project = Project.objects.create(name="bench")
    frontier = merkle.Frontier()
    before = args.leaves - args.catch_up
    began = time.perf_counter()
    for start in range(0, before, 50_000):
        log_build(start, min(50_000, before - start), frontier, project.pk)
    head_before = log.tree_head_json(log.tree_head_sign())
    frontier_before = merkle.Frontier.from_json(frontier.to_json())
    for start in range(before, args.leaves, 50_000):
        log_build(start, min(50_000, args.leaves - start), frontier, project.pk)
    built = time.perf_counter() - began
    assert log.log_root(tree_size=args.leaves) == frontier.root(), "the stored tree is wrong"
    print(f"log of {args.leaves:,} leaves built in {built:.1f} s (COPY)")
    rows = proofs_measure(args.leaves, args.repeat)
    rows.append(signing_measure(args.repeat // 4))
    rows.append(monitor_measure(head_before, frontier_before, args.catch_up))
    rows += seal_measure(args.seals)
    headers = ("measure", "median ms", "p95 ms", "ceiling median", "ratio", "<= 10 ms")
    body = [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in [list(headers), *body]) for i in range(len(headers))]
    for row in [list(headers), *body]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs (shared with other work)")  # fmt: skip
    from _common import summary_print

    summary_print(
        "log",
        [
            [row[0] + " (p95 ms)", row[2], f"<= {PROOF_TARGET_MS:g} ms", row[5] == "yes"]
            for row in rows[:2]
        ]
        + [[row[0], row[1], "-", True] for row in rows[2:]],
    )


if __name__ == "__main__":
    main()
