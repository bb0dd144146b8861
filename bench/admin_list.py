"""Benchmark: the compliance console's session list over 100,000 sessions.

Seeds 100,000 sessions (``bulk_create``) spread over a year, across projects, agents and
evidence classes, seven in ten of them sealed with a stored policy evaluation, with the keyed
fingerprints of the people found in them (one person in one session of a thousand, others in
every third sealed session); then renders, through Django's test client as a signed-in
superuser, the session list: the first page, a filtered page (personal data found), a search
by session-id prefix and the last page; the console's landing page; and a person search (the
e-mail address posted, then the list of that person's sessions).

Target: each page in under 1 s, with a number of queries that does not depend on the rows.

Runs on a temporary SQLite file by default. With ``DATABASE_URL=postgres://...`` it creates
(and drops afterwards) the database ``<name>_bench_admin`` on that server.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Run as a script, bench/ is first on sys.path and bench/policy.py would shadow the policy
# package: the repository goes first, bench/ last (for _common).
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
sys.path.append(str(HERE))

from _common import postgres_admin, postgres_bench_url, summary_print, table_print  # noqa: E402

SESSIONS = 100_000
TARGET_SECONDS = 1.0
REPEATS = 5
_BATCH = 5000
_SEED = 20260125
#: The person searched for, found in one session of ``_PERSON_EVERY``.
PERSON = "Jane.Doe@Example.com"
_PERSON_EVERY = 1000


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    import django

    django.setup()


def seed(count: int) -> None:
    from ingestion.models import EvidenceClass, Project, Session
    from policy.models import Findings, SubjectFingerprint
    from policy.subjects import fingerprint_compute, subject_fingerprints, subject_key

    rng = random.Random(_SEED)
    projects = [Project.objects.create(name=f"bench-{n}") for n in range(5)]
    agents = [f"agent-{n:02d}" for n in range(20)]
    classes = [
        EvidenceClass.AUTHORITATIVE,
        EvidenceClass.AUTHORITATIVE,
        EvidenceClass.PARTIAL_AUTHORITATIVE,
        EvidenceClass.NON_AUTHORITATIVE,
        EvidenceClass.FAILED,
    ]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    sessions: list[Session] = []
    findings: list[Findings] = []
    fingerprints: list[SubjectFingerprint] = []
    key = subject_key()
    (_, person), *_ = subject_fingerprints(value=PERSON)

    def flush() -> None:
        Session.objects.bulk_create(sessions)
        Findings.objects.bulk_create(findings)
        SubjectFingerprint.objects.bulk_create(fingerprints)
        sessions.clear()
        findings.clear()
        fingerprints.clear()

    for n in range(count):
        created = start + timedelta(seconds=rng.randrange(365 * 24 * 3600))
        events = rng.randrange(4, 400)
        sealed = rng.random() < 0.7
        session = Session(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            project=rng.choice(projects),
            agent_id=rng.choice(agents),
            created_at=created,
            last_event_at=created + timedelta(milliseconds=events * rng.randrange(50, 900)),
            sealed_at=created + timedelta(minutes=5) if sealed else None,
            head_sequence=events if sealed else events - 1,
            head_hash="0" * 64,
            event_count=events,
            has_session_end=sealed,
            evidence_class=rng.choice(classes) if sealed else None,
        )
        sessions.append(session)
        if n % _PERSON_EVERY == 0:
            fingerprints.append(
                SubjectFingerprint(
                    session=session, sequence_number=1, kind="email", fingerprint=person
                )
            )
        if sealed and n % 3 == 0:
            other = fingerprint_compute(
                kind="email", normalized=f"someone-{rng.randrange(20000)}@example.com", key=key
            )
            fingerprints.append(
                SubjectFingerprint(
                    session=session, sequence_number=2, kind="email", fingerprint=other
                )
            )
        if sealed:
            pii = rng.choice([0, 0, 0, 1, 3])
            failed = rng.choice([0, 0, 0, 1])
            findings.append(
                Findings(
                    session=session,
                    policy_name="default",
                    policy_sha256="f" * 64,
                    evaluated_at=session.sealed_at,
                    passed=failed == 0,
                    event_count=events,
                    pii_count=pii,
                    rules_failed=failed,
                    summary={"pii_findings": pii, "rules_failed": failed},
                )
            )
        if len(sessions) == _BATCH:
            flush()
    flush()


def timed_get(client, url: str, params: dict) -> tuple[float, int, int]:
    """(seconds, status, queries) of one GET."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        began = time.perf_counter()
        response = client.get(url, params)
        seconds = time.perf_counter() - began
    return seconds, response.status_code, len(queries)


def person_search(client, list_url: str) -> tuple[float, int, int]:
    """(seconds, queries, sessions listed) of a person search: the POST, then the list."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    with CaptureQueriesContext(connection) as queries:
        began = time.perf_counter()
        posted = client.post(
            reverse("admin:ingestion_session_find_person"), {"subject": PERSON, "query": ""}
        )
        listed = client.get(posted["Location"])
        seconds = time.perf_counter() - began
    if posted.status_code != 302 or listed.status_code != 200:
        return seconds, len(queries), -1
    return seconds, len(queries), listed.context_data["cl"].result_count


def run(count: int, database: str) -> int:
    _django_setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from ingestion.models import Session

    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    seed(count)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"database: {database}; seeded {count:,} sessions in {time.perf_counter() - began:.1f} s")

    user = get_user_model().objects.create_superuser("bench", password="bench-password-123")
    client = Client()
    client.force_login(user)
    url = reverse("admin:ingestion_session_changelist")
    some_id = Session.objects.values_list("pk", flat=True)[count // 2]
    last_page = (count - 1) // 100
    expected_person = len(range(0, count, _PERSON_EVERY))
    pages = [
        ("first page", {}),
        ("personal data found", {"pii": "found"}),
        ("authoritative evidence", {"evidence_class": "AUTHORITATIVE_EVIDENCE"}),
        ("search: session id prefix", {"q": str(some_id)[:6]}),
        ("last page", {"p": last_page}),
    ]
    cold, status, _ = timed_get(client, url, {})
    if status != 200:
        print(f"the session list answered {status}")
        return 1
    rows = []
    figures = [["session list, cold first request (s)", round(cold, 3), TARGET_SECONDS]]
    for label, params in pages:
        runs = [timed_get(client, url, params) for _ in range(REPEATS)]
        if any(status != 200 for _, status, _ in runs):
            print(f"{label}: the session list answered {[status for _, status, _ in runs]}")
            return 1
        seconds = statistics.median(s for s, _, _ in runs)
        queries = runs[0][2]
        rows.append([label, f"{seconds:.3f}", queries])
        figures.append([f"session list, {label} (s)", round(seconds, 3), TARGET_SECONDS])
    # The landing page: sessions needing attention, recent seals, the glossary.
    index = reverse("admin:index")
    landing_runs = [timed_get(client, index, {}) for _ in range(REPEATS)]
    if any(status != 200 for _, status, _ in landing_runs):
        print(f"the landing page answered {[status for _, status, _ in landing_runs]}")
        return 1
    seconds = statistics.median(s for s, _, _ in landing_runs)
    rows.append(["landing page", f"{seconds:.3f}", landing_runs[0][2]])
    figures.append(["landing page (s)", round(seconds, 3), TARGET_SECONDS])

    # A person search: the address posted (fingerprinted, kept in the signed-in session),
    # then the list of that person's sessions.
    searches = [person_search(client, url) for _ in range(REPEATS)]
    if any(found != expected_person for _, _, found in searches):
        print(f"the person search listed {[f for _, _, f in searches]}, not {expected_person}")
        return 1
    seconds = statistics.median(s for s, _, _ in searches)
    rows.append([f"person search ({expected_person} sessions)", f"{seconds:.3f}", searches[0][1]])
    figures.append(["person search, post and list (s)", round(seconds, 3), TARGET_SECONDS])

    table_print(["page", "median seconds", "queries"], rows)
    print(f"cold first request: {cold:.3f} s")
    summary_print(
        "admin_list",
        [[label, value, target, value < target] for label, value, target in figures],
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentops-bench-admin-") as tmp:
        given = os.environ.get("DATABASE_URL", "")
        postgres = given.startswith(("postgres://", "postgresql://"))
        if postgres:
            url, name = postgres_bench_url(given, "_bench_admin")
            postgres_admin(given, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        else:
            url = f"sqlite:///{tmp}/bench.sqlite3"
        os.environ.update(
            DATABASE_URL=url,
            DJANGO_SETTINGS_MODULE="agentops.settings",
            AGENTOPS_DEV_SEAL_KEY_FILE=f"{tmp}/seal-key.pem",
            AGENTOPS_SEAL_KEY_FILE="",
        )
        try:
            return run(args.sessions, "PostgreSQL" if postgres else "SQLite")
        finally:
            if postgres:
                from django.db import connections

                connections.close_all()
                postgres_admin(given, f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    sys.exit(main())
