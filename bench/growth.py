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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432"
DB_NAME = os.environ.get("BENCH_GROWTH_DB", "agentops_growth")
SERVICE_ID = "bench-growth-01"
KEY_FILE = ROOT / "var" / "bench" / "growth_seal_key.pem"
TARGET_RATIO = 0.9
SESSIONS = 200_000
EVENTS_PER_SESSION = 100
CHUNK = 1000
DAYS = 200


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
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
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
    sys.path.insert(0, str(ROOT))
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
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument("--measure-only", action="store_true")
    parser.add_argument("--database", default=DB_NAME)
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--events-per-session", type=int, default=EVENTS_PER_SESSION)
    parser.add_argument("--chunk", type=int, default=CHUNK)
    args = parser.parse_args()
    if args.fill_only:
        progress = fill_run(args)
        log(f"filled: {json.dumps(progress, sort_keys=True)}")
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
