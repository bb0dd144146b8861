"""Filling the growth benchmark's database: sealed sessions written with COPY, chunk by chunk.

Every chunk is one transaction: its sessions (open), their events in one COPY into
``ingestion_event`` (the append-only triggers and the statement check of migration 0004 fire
as for the service's own COPY), then the sessions sealed with the report of their chain, the
seal's row in the history of verifications, the policy findings and the subject fingerprints.
The triggers stay enabled throughout: the events go in while their session is open, and the
session row is sealed after them, exactly in the service's order.

Chains are real: every event hash is computed with the SDK's rules, every seal is signed
with the service key the measuring runs use. For speed, payloads of the agent loop come from
a pool canonicalized once; the first model request of each session carries a person of its
own (name and e-mail address), so that every session has its own subject fingerprint. The
first session of each chunk is evaluated by the policy engine and verified for real; the
others take the same report and findings with their own identifiers, which is checked once
per chunk against a real verification of the second session.

The database's comment records the progress (chunks done, seconds spent): a later run
resumes where the last one stopped, and a complete fill is reused as it is.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import _payloads  # the agent loop every benchmark uses

START = datetime(2026, 1, 1, tzinfo=UTC)
AGENT_ID = "support-bot"
SOURCE_SDK_VER = "agentops-sdk/0.1.0"
POOL_SIZE = 4096  # payloads of the agent loop, canonicalized once (a multiple of 4)
FIRST_NAMES = ["Alice", "Bruno", "Chiara", "Dmitri", "Emma", "Farid", "Greta", "Hugo"]
LAST_NAMES = ["Martin", "Rossi", "Novak", "Schmidt", "Garcia", "Larsen", "Dubois", "Kowalski"]


def copy_text(value: str) -> str:
    """``value`` as a field of PostgreSQL's COPY text format."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def wall(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Filler:
    """Writes chunk after chunk of sealed sessions into the configured database."""

    def __init__(self, *, sessions: int, events_per_session: int, chunk: int, days: int) -> None:
        from agentops_sdk import chain

        from ingestion import keys
        from ingestion.models import ApiKey, Project
        from policy.services import policy_for_project
        from policy.subjects import subject_key

        if events_per_session < 4:
            raise ValueError("a filled session has at least 4 events")
        self.sessions = sessions
        self.events_per_session = events_per_session
        self.chunk = chunk
        self.spacing = timedelta(seconds=days * 86400 / sessions)
        self.project, _ = Project.objects.get_or_create(name="growth")
        key_id = (
            ApiKey.objects.filter(project=self.project, name="growth-fill")
            .values_list("pk", flat=True)
            .first()
        )
        if key_id is None:
            created, _ = ApiKey.objects.create_key(project=self.project, name="growth-fill")
            key_id = created.pk
        self.api_key_id: str = key_id
        self.signing_key = keys.signing_key()
        self.service_id = keys.service_id()
        self.policy = policy_for_project(project=self.project)
        self.subject_key = subject_key()
        self.pool = self._pool_build(chain)

    def _pool_build(self, chain: Any) -> list[tuple[str, str, str, str, set[tuple[str, str]]]]:
        """(event type, payload JCS, COPY text of it, payload hash, subjects) of the loop."""
        loop = _payloads(random.Random(7))
        pool: list[tuple[str, str, str, str, set[tuple[str, str]]]] = []
        for _ in range(POOL_SIZE):
            event_type, payload = next(loop)
            jcs = chain.canonicalize(payload).decode()
            pool.append((event_type, jcs, copy_text(jcs), chain.sha256_hex(jcs.encode()), set()))
        for entry in pool:
            entry[4].update(self._subjects(json.loads(entry[1])))
        return pool

    def _subjects(self, payload: Any) -> set[tuple[str, str]]:
        from policy.subjects import event_fingerprints

        found = event_fingerprints(
            scanner=self.policy.scanner,
            event={"payload": payload, "sequence_number": 0},
            key=self.subject_key,
        )
        return {(kind, fp) for _, kind, fp in found}

    # -- one session ------------------------------------------------------------------

    def session(self, index: int, rng: random.Random) -> dict[str, Any]:
        """The rows of session ``index``: its events as COPY lines, its seal, its subjects."""
        from agentops_sdk import chain, seal

        from ingestion.services.seal import SERVICE_SOURCE_VER

        session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        created = START + self.spacing * index
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first.lower()}.{last.lower()}.{index}@example.org"
        order = f"ORD-2026-{rng.randrange(10**6):06d}"
        opening = {
            "model": "gpt-4o-2024-08-06",
            "messages": [
                {"role": "system", "content": "You are a support agent for an online shop."},
                {
                    "role": "user",
                    "content": f"Hi, this is {first} {last} ({email}). Where is my order {order}?",
                },
            ],
            "temperature": 0.2,
        }
        count = self.events_per_session
        offset = rng.randrange(POOL_SIZE // 4) * 4
        api_key = self.api_key_id
        key_text = copy_text(api_key)
        sid_text = session_id
        lines: list[str] = []
        subjects: set[tuple[int, str, str]] = set()
        prev: str | None = None
        envelopes: list[dict[str, Any]] = []
        event_hash = chain.event_hash_from_parts
        getrandbits = rng.getrandbits
        seal_at = created + timedelta(milliseconds=250 * count + 1000)
        for sequence in range(count):
            moment = created + timedelta(milliseconds=250 * sequence)
            source = SOURCE_SDK_VER
            key_field = key_text
            if sequence == 0:
                event_type = "SESSION_START"
                jcs = '{"agent_id":"support-bot","environment":"prod","tags":["growth"]}'
                text = jcs
                payload_hash = chain.sha256_hex(jcs.encode())
            elif sequence == 1:
                event_type = "MODEL_REQUEST"
                jcs = chain.canonicalize(opening).decode()
                text = copy_text(jcs)
                payload_hash = chain.sha256_hex(jcs.encode())
                subjects.update((1, k, fp) for k, fp in self._subjects(opening))
            elif sequence == count - 2:
                event_type = "SESSION_END"
                jcs = f'{{"duration_ms":{250 * sequence},"status":"success"}}'
                text = jcs
                payload_hash = chain.sha256_hex(jcs.encode())
            elif sequence == count - 1:
                moment = seal_at
                event_type = chain.SEAL_EVENT_TYPE
                source = SERVICE_SOURCE_VER
                key_field = "\\N"
                assert prev is not None
                payload = seal.seal_payload_build(
                    private_key=self.signing_key,
                    session_id=session_id,
                    ingestion_service_id=self.service_id,
                    seal_timestamp=wall(moment),
                    final_event_hash=prev,
                    event_count=count - 1,
                    complete=True,
                    total_drops=0,
                )
                jcs = chain.canonicalize(payload).decode()
                text = copy_text(jcs)
                payload_hash = chain.sha256_hex(jcs.encode())
            else:
                event_type, jcs, text, payload_hash, found = self.pool[
                    (offset + sequence - 2) % POOL_SIZE
                ]
                subjects.update((sequence, k, fp) for k, fp in found)
            event_id = str(uuid.UUID(int=getrandbits(128), version=4))
            stamp = wall(moment)
            digest = event_hash(
                event_id=event_id,
                session_id=session_id,
                sequence_number=sequence,
                timestamp_wall=stamp,
                event_type=event_type,
                payload_hash=payload_hash,
                prev_event_hash=prev,
            )
            lines.append(
                f"{sid_text}\t{event_id}\t{sequence}\t{stamp}\t{250 * sequence}\t{event_type}\t"
                f"{source}\t{chain.SPEC_VERSION}\t{text}\t{payload_hash}\t{prev or chr(92) + 'N'}"
                f"\t{digest}\t{chain.AUTHORITY_SERVER}\t{self.service_id}\t"
                f"{moment.isoformat()}\t{key_field}\n"
            )
            envelopes.append(
                {
                    "event_id": event_id,
                    "session_id": session_id,
                    "sequence_number": sequence,
                    "timestamp_wall": stamp,
                    "timestamp_monotonic": 250 * sequence,
                    "event_type": event_type,
                    "source_sdk_ver": source,
                    "schema_ver": chain.SPEC_VERSION,
                    "payload_jcs": jcs,
                    "payload_hash": payload_hash,
                    "prev_event_hash": prev,
                    "event_hash": digest,
                    "chain_authority": chain.AUTHORITY_SERVER,
                    "authority_id": self.service_id,
                }
            )
            prev = digest
        return {
            "id": session_id,
            "created": created,
            "last_event": created + timedelta(milliseconds=250 * (count - 2)),
            "sealed": seal_at,
            "end_hash": envelopes[-2]["event_hash"],
            "seal_hash": prev,
            "lines": lines,
            "subjects": subjects,
            "envelopes": envelopes,
        }

    # -- one chunk ----------------------------------------------------------------------

    def chunk_write(self, number: int) -> int:
        """Write chunk ``number`` in one transaction; returns the events written."""
        from django.db import connection, transaction

        rng = random.Random(20260101 + number)
        first = number * self.chunk
        indexes = range(first, min(first + self.chunk, self.sessions))
        rows = [self.session(i, rng) for i in indexes]
        with transaction.atomic(), connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(
                "COPY ingestion_session (id, project_id, agent_id, metadata, created_at,"
                " last_event_at, head_sequence, head_hash, event_count, total_drops,"
                " has_session_end) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write(
                        f"{row['id']}\t{self.project.pk}\t{AGENT_ID}\t"
                        f'{{"environment": "prod"}}\t{row["created"].isoformat()}\t'
                        f"{row['last_event'].isoformat()}\t{self.events_per_session - 2}\t"
                        f"{row['end_hash']}\t{self.events_per_session - 1}\t0\tt\n"
                    )
            with raw.copy(
                "COPY ingestion_event (session_id, event_id, sequence_number, timestamp_wall,"
                " timestamp_monotonic, event_type, source_sdk_ver, schema_ver, payload_jcs,"
                " payload_hash, prev_event_hash, event_hash, chain_authority, authority_id,"
                " received_at, api_key_id) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write("".join(row["lines"]))
            reports = self._reports(rows)
            self._seal(raw, rows, reports)
            self._findings(raw, rows)
            events = sum(len(row["lines"]) for row in rows)
        return events

    def _reports(self, rows: list[dict[str, Any]]) -> list[str]:
        """The §7 report of each chain as JSON text: the first two verified for real, the
        others derived from the first by their identifiers (checked on the second)."""
        from ingestion.models import envelopes_from_rows
        from ingestion.services.verification import verify_with_service_keys

        def real(row: dict[str, Any]) -> dict[str, Any]:
            columns = [
                [e[k] for k in ("event_id", "sequence_number", "timestamp_wall")]
                + [e[k] for k in ("timestamp_monotonic", "event_type", "source_sdk_ver")]
                + [e[k] for k in ("schema_ver", "payload_jcs", "payload_hash")]
                + [e[k] for k in ("prev_event_hash", "event_hash", "chain_authority")]
                + [e["authority_id"]]
                for e in row["envelopes"]
            ]
            envelopes = (env for env, _ in envelopes_from_rows(columns, session_id=row["id"]))
            return verify_with_service_keys(envelopes)

        template = real(rows[0])
        if template.get("status") != "PASS":
            raise SystemExit(f"a filled chain does not verify: {template}")
        text = json.dumps(template, separators=(",", ":"))
        derived = [text]
        for row in rows[1:]:
            derived.append(_substituted(text, rows[0], row))
        if len(rows) > 1:
            check = json.dumps(real(rows[1]), separators=(",", ":"))
            if check != derived[1]:
                raise SystemExit("a derived report differs from the real one:\n" + check)
        return derived

    def _seal(self, raw: Any, rows: list[dict[str, Any]], reports: list[str]) -> None:
        raw.execute(
            "CREATE TEMPORARY TABLE growth_sealed (id uuid, head_hash text, sealed_at"
            " timestamptz, report jsonb) ON COMMIT DROP"
        )
        with raw.copy("COPY growth_sealed FROM STDIN") as copy:
            for row, report in zip(rows, reports, strict=True):
                copy.write(
                    f"{row['id']}\t{row['seal_hash']}\t{row['sealed'].isoformat()}\t"
                    f"{copy_text(report)}\n"
                )
        raw.execute(
            "UPDATE ingestion_session s SET head_sequence = %s, head_hash = g.head_hash,"
            " sealed_at = g.sealed_at, evidence_class = g.report ->> 'evidence_class',"
            " verification = g.report FROM growth_sealed g WHERE s.id = g.id",
            [self.events_per_session - 1],
        )
        raw.execute(
            "INSERT INTO ingestion_verification (session_id, verified_at, trigger, actor,"
            " status, evidence_class, report, event_count, last_sequence_number,"
            " last_event_hash) SELECT id, sealed_at, 'seal', %s, report ->> 'status',"
            " report ->> 'evidence_class', report, %s, %s, head_hash FROM growth_sealed",
            [
                f"ingestion service {self.service_id}",
                self.events_per_session - 1,
                self.events_per_session - 1,
            ],
        )

    def _findings(self, raw: Any, rows: list[dict[str, Any]]) -> None:
        """The first session evaluated by the policy engine, the others given its findings
        (their chains have the same shape) and their own fingerprints."""
        from ingestion.models import Session
        from policy.models import SubjectFingerprint
        from policy.services import session_findings_evaluate

        first = Session.objects.get(pk=rows[0]["id"])
        findings = session_findings_evaluate(session=first)
        recorded = set(
            SubjectFingerprint.objects.filter(session=first).values_list(
                "sequence_number", "kind", "fingerprint"
            )
        )
        if recorded != rows[0]["subjects"]:
            raise SystemExit(f"the fill's fingerprints differ from the policy engine's: {recorded}")
        others = [row["id"] for row in rows[1:]]
        raw.execute(
            "INSERT INTO policy_findings (session_id, policy_name, policy_sha256, evaluated_at,"
            " passed, event_count, pii_count, rules_failed, summary, pii_findings,"
            " rule_results, tool_audit) SELECT s.id, f.policy_name, f.policy_sha256,"
            " s.sealed_at, f.passed, f.event_count, f.pii_count, f.rules_failed, f.summary,"
            " f.pii_findings, f.rule_results, f.tool_audit FROM policy_findings f,"
            " ingestion_session s WHERE f.id = %s AND s.id = ANY(%s::uuid[])",
            [findings.pk, others],
        )
        with raw.copy(
            "COPY policy_subjectfingerprint (session_id, sequence_number, kind, fingerprint,"
            " recorded_at) FROM STDIN"
        ) as copy:
            for row in rows[1:]:
                for sequence, kind, fingerprint in sorted(row["subjects"]):
                    copy.write(
                        f"{row['id']}\t{sequence}\t{kind}\t{fingerprint}\t"
                        f"{row['sealed'].isoformat()}\n"
                    )


_QUOTED = re.compile(r'"([^"\\]*)"')


def _substituted(text: str, source: dict[str, Any], target: dict[str, Any]) -> str:
    """``text`` with every string naming ``source`` (its id, event ids and hashes, times)
    replaced by the same of ``target``."""
    mapping: dict[str, str] = {source["id"]: target["id"]}
    for a, b in zip(source["envelopes"], target["envelopes"], strict=True):
        for name in ("event_id", "event_hash", "payload_hash", "timestamp_wall"):
            mapping[a[name]] = b[name]
        mapping[f"sha256:{a['event_hash']}"] = f"sha256:{b['event_hash']}"
    return _QUOTED.sub(lambda m: '"' + mapping.get(m[1], m[1]) + '"', text)


def progress_read(cursor: Any, database: str) -> dict[str, Any]:
    cursor.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        [database],
    )
    row = cursor.fetchone()
    try:
        return json.loads(row[0]) if row and row[0] else {}
    except ValueError:
        return {}


def progress_write(cursor: Any, database: str, progress: dict[str, Any]) -> None:
    text = json.dumps(progress, sort_keys=True).replace("'", "''")
    cursor.execute(f"COMMENT ON DATABASE {database} IS '{text}'")


def chunks_done(cursor: Any, *, project_id: int, spacing: timedelta, chunk: int) -> set[int]:
    """The chunks already in the database, read from the sessions themselves (a chunk is one
    transaction: its sessions are all there, sealed, or none is)."""
    cursor.execute(
        "SELECT DISTINCT (round(extract(epoch FROM created_at - %s) / %s))::bigint / %s"
        " FROM ingestion_session WHERE project_id = %s AND sealed_at IS NOT NULL"
        " AND created_at >= %s",
        [START, spacing.total_seconds(), chunk, project_id, START],
    )
    return {row[0] for row in cursor.fetchall()}


def _worker(settings: dict[str, Any], tasks: Any, results: Any) -> None:
    """A fill process: chunk numbers from ``tasks``, (number, events, seconds) to ``results``."""
    from django.db import connection, transaction

    connection.close()  # never the parent's connection: this process opens its own
    filler = Filler(**settings)
    while (number := tasks.get()) is not None:
        began = time.perf_counter()
        with transaction.atomic():
            written = filler.chunk_write(number)
        results.put((number, written, time.perf_counter() - began))
    connection.close()


def fill(
    *,
    database: str,
    sessions: int,
    events_per_session: int,
    chunk: int,
    days: int,
    log: Any,
    workers: int = 1,
) -> dict[str, Any]:
    """Fill (or finish filling) the configured database with ``workers`` processes, each
    writing whole chunks; returns the progress record (``seconds``: wall-clock time of the
    fill, summed over the runs that made it)."""
    import multiprocessing as mp

    from django.db import connection

    with connection.cursor() as cursor:
        progress = progress_read(cursor, database)
    shape = {"sessions": sessions, "events_per_session": events_per_session, "chunk": chunk}
    if progress and progress.get("shape") != shape:
        raise SystemExit(
            f"{database} was filled with {progress.get('shape')}, not {shape}: drop it first"
        )
    progress.setdefault("shape", shape)
    progress.setdefault("seconds", 0.0)
    settings = {
        "sessions": sessions,
        "events_per_session": events_per_session,
        "chunk": chunk,
        "days": days,
    }
    filler = Filler(**settings)  # creates the project and key once, before the workers
    total = -(-sessions // chunk)
    with connection.cursor() as cursor:
        done = chunks_done(
            cursor, project_id=filler.project.pk, spacing=filler.spacing, chunk=chunk
        )
    pending = [number for number in range(total) if number not in done]
    progress["chunks_done"] = len(done)
    progress["events"] = len(done) * chunk * events_per_session
    if pending:
        log(f"{len(done)} of {total} chunks in the database; {workers} fill processes")
        connection.close()
        ctx = mp.get_context("fork")
        tasks, results = ctx.Queue(), ctx.Queue()
        for number in pending:
            tasks.put(number)
        for _ in range(workers):
            tasks.put(None)
        procs = [
            ctx.Process(target=_worker, args=(settings, tasks, results)) for _ in range(workers)
        ]
        for proc in procs:
            proc.start()
        base, began = progress["seconds"], time.perf_counter()
        for _ in pending:
            try:
                number, written, elapsed = results.get(timeout=3600)
            except Exception:
                raise SystemExit("a fill process stopped; run again to resume") from None
            progress["chunks_done"] += 1
            progress["events"] += written
            progress["seconds"] = round(base + time.perf_counter() - began, 1)
            with connection.cursor() as cursor:
                progress_write(cursor, database, progress)
            log(
                f"chunk {number + 1}/{total}: {progress['events']:,} events in the database, "
                f"{written / elapsed:,.0f} events/s in its process, "
                f"{progress['seconds']:,.0f} s so far"
            )
        for proc in procs:
            proc.join()
    if not progress.get("vacuumed"):
        began = time.perf_counter()
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
            progress["vacuum_seconds"] = round(time.perf_counter() - began, 1)
            progress["vacuumed"] = True
            progress_write(cursor, database, progress)
        log(f"vacuum and analyze: {progress['vacuum_seconds']} s")
    return progress
