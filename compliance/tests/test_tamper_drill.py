"""The tamper drill (docs/tamper-drill.md): an attacker with the database owner's rights sets
the append-only triggers aside, rewrites one payload and deletes one event, and re-signs
nothing. Re-verification from the database and offline verification of a fresh export must
each name the session and exactly the events affected."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from compliance.exports.context import Actor
from compliance.services import export_render
from ingestion import keys, services
from ingestion.models import Event, VerificationTrigger

from .factories import session_sealed, triggers_disabled

pytestmark = pytest.mark.django_db

ALTERED = 3  # the TOOL_CALL: its order id is rewritten
DELETED = 5  # the ERROR: removed from the chain


@pytest.fixture
def tampered():
    session = session_sealed()
    events = {e.sequence_number: e for e in Event.objects.filter(session=session)}
    altered, deleted = events[ALTERED], events[DELETED]
    payload = json.loads(altered.payload_jcs)
    payload["args"]["order_id"] = "ORD-9999"
    forged = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    with triggers_disabled("ingestion_event"), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ingestion_event SET payload_jcs = %s WHERE id = %s", [forged, altered.pk]
        )
        cursor.execute("DELETE FROM ingestion_event WHERE id = %s", [deleted.pk])
    return session, altered


def test_verify_sessions_names_the_session_and_each_affected_event(tampered):
    session, altered = tampered
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("verify_sessions", "--session", str(session.pk), stdout=out, stderr=out)
    assert failure.value.returncode == 1
    text = out.getvalue()
    assert str(session.pk) in text
    assert "PAYLOAD_HASH_MISMATCH" in text and altered.event_id in text
    # The hole is reported where the chain resumes: the sequence gap and the broken link.
    assert "SEQUENCE_GAP" in text
    assert f"from {DELETED - 1} to {DELETED + 1}: 1 event missing" in text


def test_offline_verifier_names_the_affected_events_in_a_fresh_export(tampered, tmp_path):
    session, _ = tampered
    rendered = export_render(
        session=session, fmt="json", actor=Actor.for_command("tamper-drill", operator="test")
    )
    path = tmp_path / rendered.file_name
    with rendered.file:
        path.write_bytes(rendered.file.read())
    current = next(k for k in keys.public_keys() if k["status"] == "current")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentops_sdk.verify",
            str(path),
            "--format",
            "json",
            "--trusted-key",
            current["public_key"],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["session_id"] == str(session.pk)
    by_type: dict[str, set[int]] = {}
    for violation in report["violations"]:
        by_type.setdefault(violation["type"], set()).add(violation["sequence_number"])
    assert by_type["PAYLOAD_HASH_MISMATCH"] == {ALTERED}
    # The deleted event leaves a gap right after the event before it.
    assert DELETED + 1 in by_type["SEQUENCE_GAP"]


def test_a_stored_payload_that_is_not_json_is_reported_not_raised():
    session = session_sealed()
    target = Event.objects.get(session=session, sequence_number=2)
    with triggers_disabled("ingestion_event"), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ingestion_event SET payload_jcs = %s WHERE id = %s", ["{oops", target.pk]
        )
    report = services.session_verify(session=session, trigger=VerificationTrigger.API)
    assert report["status"] == "FAIL"
    assert {v["sequence_number"] for v in report["violations"]} == {2}


# --- an owner who erases without the ledger ------------------------------------------------


def test_an_owner_who_erases_without_the_ledger_is_told_apart_from_a_recorded_erasure(tmp_path):
    from compliance import erasure

    session = session_sealed()
    plan = erasure.erasure_plan(session=session, sequence_numbers=[2])
    erasure.erasure_execute(
        plan=plan,
        request_ref="DSR-1",
        reason="Art. 17",
        caller=services.Caller.for_command("drill", operator="dpo"),
    )
    call_command("erasure_audit", stdout=StringIO())  # the recorded erasure is in order
    event = Event.objects.get(session=session, sequence_number=ALTERED)
    with triggers_disabled("ingestion_event"), connection.cursor() as cursor:
        cursor.execute("UPDATE ingestion_event SET payload_jcs = NULL WHERE id = %s", [event.pk])

    # The chain itself still verifies: a payload may be withheld (spec §3).
    report = services.session_verify(session=session, trigger=VerificationTrigger.COMMAND)
    assert report["status"] == "PASS" and report["redacted_events"] == [2, ALTERED]
    # The ledger tells the two apart.
    out = StringIO()
    with pytest.raises(CommandError, match="1 session"):
        call_command("erasure_audit", stdout=out)
    assert f"payload of event(s) {ALTERED} missing" in out.getvalue()
    rendered = export_render(
        session=session, fmt="json", actor=Actor.for_command("drill", operator="auditor")
    )
    with rendered.file:
        document = json.loads(rendered.file.read())
    assert [e["sequence_number"] for e in document["erasures"]] == [2]
    assert any(
        f"events {ALTERED} are missing" in notice and "records no erasure" in notice
        for notice in document["notices"]
    )
