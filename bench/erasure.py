"""Benchmark: erasing one data subject found in 1,000 of 100,000 stored sessions.

Seeds 100,000 sealed sessions (``bulk_create``) of three events each, every TOOL_CALL naming
a customer by e-mail, with its subject fingerprint and a stored policy evaluation; one
subject's address is in 1,000 of them, and 200 of those sessions were exported before. Then
times the three steps of ``manage.py erase_personal_data``: finding the subject's events
(fingerprint lookup), the dry run (the plan, with the exports that handed the payloads out)
and the erasure itself (ledger rows, payloads withheld, findings previews withdrawn, one
transaction). A same-run ceiling puts the erasure beside the least any erasure must do:
locking and reading the same 1,000 events and their findings.

Target: the three steps together in under 10 s.

Runs on a temporary SQLite file by default. With ``DATABASE_URL=postgres://...`` it creates
(and drops afterwards) the database ``<name>_bench_erasure`` on that server.
"""

from __future__ import annotations

import argparse
import os
import random
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
WITH_SUBJECT = 1_000
EXPORTED = 200
TARGET_SECONDS = 10.0
SUBJECT = "jane.doe@example.org"
_BATCH = 5000
_SEED = 20260125


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    import django

    django.setup()


def seed(count: int, with_subject: int) -> None:
    from agentops_sdk import chain
    from django.utils import timezone

    from compliance.models import ExportRecord
    from ingestion.models import Event, Project, Session
    from policy.models import Findings, SubjectFingerprint
    from policy.subjects import subject_fingerprint

    rng = random.Random(_SEED)
    project = Project.objects.create(name="acme")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    chosen = set(rng.sample(range(count), with_subject))
    exported = set(rng.sample(sorted(chosen), min(EXPORTED, with_subject)))
    subject_fp = subject_fingerprint(kind="email", value=SUBJECT)
    rows: dict[str, list] = {"sessions": [], "events": [], "fps": [], "findings": []}
    sealed_ids: list[uuid.UUID] = []

    def flush() -> None:
        Session.objects.bulk_create(rows["sessions"])
        Event.objects.bulk_create(rows["events"])
        SubjectFingerprint.objects.bulk_create(rows["fps"])
        Findings.objects.bulk_create(rows["findings"])
        for values in rows.values():
            values.clear()

    for n in range(count):
        created = start + timedelta(seconds=rng.randrange(365 * 24 * 3600))
        session = Session(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            project=project,
            agent_id="support-bot",
            created_at=created,
            head_sequence=2,
            head_hash="0" * 64,
            event_count=3,
            has_session_end=True,
        )
        sealed_ids.append(session.id)
        rows["sessions"].append(session)
        email = SUBJECT if n in chosen else f"customer{n}@example.com"
        payloads = [
            ("SESSION_START", {"agent_id": "support-bot"}),
            ("TOOL_CALL", {"tool_name": "mail.send", "args": {"to": email, "body": "shipped"}}),
            ("SESSION_END", {"status": "success", "duration_ms": 900}),
        ]
        previous = None
        for seq, (event_type, payload) in enumerate(payloads):
            text = chain.canonicalize(payload).decode()
            event_hash = chain.sha256_hex(f"{session.id}:{seq}".encode())
            rows["events"].append(
                Event(
                    session=session,
                    sequence_number=seq,
                    event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    timestamp_wall=f"2026-01-25T10:00:0{seq}.000000Z",
                    timestamp_monotonic=seq,
                    event_type=event_type,
                    source_sdk_ver="agentops-sdk/1.0.0",
                    schema_ver=chain.SPEC_VERSION,
                    payload_jcs=text,
                    payload_hash=chain.sha256_hex(text.encode()),
                    prev_event_hash=previous,
                    event_hash=event_hash,
                    chain_authority="server",
                    authority_id="bench-ingest-01",
                )
            )
            previous = event_hash
        fingerprint = subject_fp if n in chosen else chain.sha256_hex(email.encode())
        rows["fps"].append(
            SubjectFingerprint(
                session=session, sequence_number=1, kind="email", fingerprint=fingerprint
            )
        )
        preview = "j***@example.org" if n in chosen else "c***@example.com"
        rows["findings"].append(
            Findings(
                session=session,
                policy_name="default",
                policy_sha256="f" * 64,
                passed=True,
                event_count=3,
                pii_count=1,
                rules_failed=0,
                summary={"pii_findings": 1, "rules_failed": 0},
                pii_findings=[
                    {
                        "sequence_number": 1,
                        "event_id": None,
                        "path": "$.args.to",
                        "kind": "email",
                        "preview": preview,
                    }
                ],
                tool_audit={
                    "calls": [
                        {
                            "tool_name": "mail.send",
                            "call_sequence_number": 1,
                            "args": [{"key": "to", "type": "string", "preview": preview}],
                        }
                    ],
                    "totals": [],
                    "unmatched_results": [],
                },
            )
        )
        if len(rows["sessions"]) >= _BATCH:
            flush()
    flush()
    now = timezone.now()
    Session.objects.filter(pk__in=sealed_ids).update(sealed_at=now)  # sealed, then frozen
    ExportRecord.objects.bulk_create(
        [
            ExportRecord(
                session_id=sealed_ids[n],
                format="json",
                file_name=f"session-{n}.json",
                sha256="a" * 64,
                size_bytes=1000,
                exported_at=now,
                channel="command",
                actor="bench",
                sealed=True,
                verification_status="PASS",
                evidence_class="AUTHORITATIVE_EVIDENCE",
                last_sequence_number=2,
            )
            for n in sorted(exported)
        ]
    )


def run(count: int, with_subject: int, database: str) -> int:
    _django_setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from compliance import erasure
    from ingestion.erasure_models import Erasure
    from ingestion.models import Event, Project
    from ingestion.services import Caller
    from policy.models import Findings

    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    seed(count, with_subject)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"database: {database}; seeded {count:,} sessions in {time.perf_counter() - began:.1f} s")
    project = Project.objects.get(name="acme")
    caller = Caller.for_command("bench", operator="bench")

    began = time.perf_counter()
    _, found = erasure.subject_events_find(project=project, subject=SUBJECT)
    finding = time.perf_counter() - began

    began = time.perf_counter()
    plan = erasure.erasure_plan(project=project, subject=SUBJECT)
    erasure.erasure_report(
        plan=plan,
        executed=False,
        request_ref="DSR",
        reason="r",
        caller=caller,
        at=datetime.now(UTC),
    )
    dry_run = time.perf_counter() - began

    # The same-run ceiling: lock and read the same events and findings, change nothing.
    sessions = list(found)
    began = time.perf_counter()
    with transaction.atomic():
        list(
            Event.objects.select_for_update()
            .filter(session_id__in=sessions, sequence_number=1)
            .values_list("payload_jcs", flat=True)
        )
        list(Findings.objects.filter(session_id__in=sessions).values_list("pii_findings"))
    floor = time.perf_counter() - began

    began = time.perf_counter()
    report = erasure.erasure_execute(plan=plan, request_ref="DSR-1", reason="r", caller=caller)
    execute = time.perf_counter() - began

    erased = Erasure.objects.count()
    withheld = Event.objects.filter(payload_jcs__isnull=True).count()
    if len(found) != with_subject or erased != with_subject or withheld != with_subject:
        print(f"found {len(found)}, ledger rows {erased}, withheld {withheld}: wrong")
        return 1
    total = finding + dry_run + execute
    load = os.getloadavg()
    table_print(
        ["step", "seconds", "ratio to target"],
        [
            ["finding (fingerprint lookup)", f"{finding:.3f}", f"{finding / TARGET_SECONDS:.3f}"],
            [
                f"dry run ({plan.event_count} events, {len(report['exports_already_handed_out'])}"
                " exports listed)",
                f"{dry_run:.3f}",
                f"{dry_run / TARGET_SECONDS:.3f}",
            ],
            ["execute (one transaction)", f"{execute:.3f}", f"{execute / TARGET_SECONDS:.3f}"],
            ["total", f"{total:.3f}", f"{total / TARGET_SECONDS:.3f}"],
        ],
    )
    print(
        f"same-run floor (lock and read the same events and findings): {floor:.3f} s;"
        f" execute / floor = {execute / max(floor, 1e-9):.1f}"
    )
    print(f"load average (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    summary_print(
        "erasure",
        [
            ["finding (s)", round(finding, 3), TARGET_SECONDS, finding < TARGET_SECONDS],
            ["dry run (s)", round(dry_run, 3), TARGET_SECONDS, dry_run < TARGET_SECONDS],
            ["execute (s)", round(execute, 3), TARGET_SECONDS, execute < TARGET_SECONDS],
            ["total (s)", round(total, 3), TARGET_SECONDS, total < TARGET_SECONDS],
        ],
    )
    return 0 if total < TARGET_SECONDS else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--with-subject", type=int, default=WITH_SUBJECT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentops-bench-erasure-") as tmp:
        given = os.environ.get("DATABASE_URL", "")
        postgres = given.startswith(("postgres://", "postgresql://"))
        if postgres:
            url, name = postgres_bench_url(given, "_bench_erasure")
            postgres_admin(given, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        else:
            url = f"sqlite:///{tmp}/bench.sqlite3"
        os.environ.update(
            DATABASE_URL=url,
            DJANGO_SETTINGS_MODULE="agentops.settings",
            AGENTOPS_DEV_SEAL_KEY_FILE=f"{tmp}/seal-key.pem",
            AGENTOPS_SEAL_KEY_FILE="",
            AGENTOPS_SUBJECT_KEY="bench-subject-key",
        )
        try:
            return run(args.sessions, args.with_subject, "PostgreSQL" if postgres else "SQLite")
        finally:
            if postgres:
                from django.db import connections

                connections.close_all()
                postgres_admin(given, f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    sys.exit(main())
